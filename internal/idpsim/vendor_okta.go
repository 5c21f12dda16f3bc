package idpsim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Okta emulation, under /okta (docs/wire-facts.md §3):
//
//	POST   /okta/oauth2/v1/token                               the admin's client_credentials token (org AS)
//	DELETE /okta/api/v1/users/{id}/sessions?oauthTokens=true   204; 404 E0000007; 403 E0000006; 401 E0000011
//	POST   /okta/oauth2/v1/global-token-revocation             {"sub_id":{"format":"opaque","id":…}} → 204
//	                                                           {"sub_id":{"format":"email","email":…}} → 204
//	GET|PUT /okta/_sim                                         the emulation's switches (vendorSim)
//
// The session delete authenticates with "SSWS <api token>" (the simulator's
// API tokens are the admin clients' secrets) or a Bearer token of a client
// holding okta.users.manage. It ends every session of the user, and the
// user's tokens only with oauthTokens=true (default false, as Okta).
// Global token revocation (Bearer, okta.universalLogout.manage) ends every
// session and token of the user. Its sub_id is an RFC 9493 subject
// identifier: "opaque" carries the Okta user id in "id", "email" the address
// in "email"; any other member set is a 400 (E0000001). Okta documents
// opaque (and iss_sub for third-party IdP users, not emulated); the email
// format is RFC 9493's, and whether Okta accepts it is unconfirmed. An Okta
// user id is the simulator's inum; the session delete also accepts the
// login (uid or mail).

const (
	oktaPrefix            = "/okta"
	scopeOktaUsersManage  = "okta.users.manage"
	scopeOktaLogoutManage = "okta.universalLogout.manage"
)

func (s *Server) routeOkta(mux *http.ServeMux) {
	v := &vendorSim{}
	s.routeVendorSim(mux, oktaPrefix, v)
	mux.HandleFunc("POST "+oktaPrefix+"/oauth2/v1/token", s.handleToken)
	mux.HandleFunc("DELETE "+oktaPrefix+"/api/v1/users/{id}/sessions", func(w http.ResponseWriter, r *http.Request) {
		s.handleOktaSessions(w, r, v)
	})
	mux.HandleFunc("POST "+oktaPrefix+"/oauth2/v1/global-token-revocation", func(w http.ResponseWriter, r *http.Request) {
		s.handleOktaGTR(w, r, v)
	})
}

func writeOktaError(w http.ResponseWriter, status int, code, summary string) {
	writeJSON(w, status, map[string]any{"errorCode": code, "errorSummary": summary,
		"errorLink": code, "errorId": "oae" + randomToken()[:19], "errorCauses": []any{}})
}

// oktaAuth accepts SSWS API tokens and OAuth bearer tokens.
func (s *Server) oktaAuth(w http.ResponseWriter, r *http.Request, scope string, allowSSWS bool) bool {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	status := 0
	if strings.EqualFold(scheme, "SSWS") && allowSSWS {
		status = http.StatusUnauthorized
		for _, c := range s.clients {
			if tok != "" && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(tok)) == 1 {
				status = http.StatusForbidden
				if s.vendorAdmin(c, scope) {
					status = 0
				}
				break
			}
		}
	} else {
		status = s.vendorBearer(r, scope)
	}
	switch status {
	case http.StatusUnauthorized:
		writeOktaError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return false
	case http.StatusForbidden:
		writeOktaError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return false
	}
	return true
}

func (s *Server) handleOktaSessions(w http.ResponseWriter, r *http.Request, v *vendorSim) {
	if s.revoke500(w) || !s.oktaAuth(w, r, scopeOktaUsersManage, true) {
		return
	}
	id := r.PathValue("id")
	u, ok := s.userByID(id)
	if !ok {
		writeOktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (User)")
		return
	}
	delay, all := v.get()
	k := kill{sessions: true}
	if all || r.URL.Query().Get("oauthTokens") == "true" {
		k = killAll
	}
	s.revokeWhere(r, u.Inum, k, delay, anySession, anyGrant)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleOktaGTR(w http.ResponseWriter, r *http.Request, v *vendorSim) {
	if s.revoke500(w) || !s.oktaAuth(w, r, scopeOktaLogoutManage, false) {
		return
	}
	u, ok, problem := s.oktaSubject(r)
	if problem != "" {
		writeOktaError(w, http.StatusBadRequest, "E0000001", "Api validation failed: "+problem)
		return
	}
	if !ok {
		writeOktaError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found (User)")
		return
	}
	delay, _ := v.get()
	s.revokeWhere(r, u.Inum, killAll, delay, anySession, anyGrant)
	w.WriteHeader(http.StatusNoContent)
}

// oktaSubject reads the RFC 9493 sub_id of a global token revocation: the
// member set must be exactly what the format defines (RFC 9493 §3.2.4
// opaque = format + id, §3.2.2 email = format + email), each a non-empty
// string.
// problem is the validation failure; ok says whether the user exists.
func (s *Server) oktaSubject(r *http.Request) (u User, ok bool, problem string) {
	var req struct {
		SubID map[string]json.RawMessage `json:"sub_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.SubID == nil {
		return User{}, false, "sub_id"
	}
	str := func(name string) string {
		var v string
		if raw, found := req.SubID[name]; !found || json.Unmarshal(raw, &v) != nil {
			return ""
		}
		return v
	}
	format := str("format")
	members := map[string]string{"opaque": "id", "email": "email"}
	member, known := members[format]
	if !known {
		return User{}, false, "sub_id.format: " + strconv.Quote(format) + " is not supported (opaque, email)"
	}
	value := str(member)
	if value == "" || len(req.SubID) != 2 {
		return User{}, false, "sub_id: format " + format + " takes exactly the members format and " + member
	}
	if format == "opaque" {
		u, ok = s.userBy("inum", value)
	} else {
		u, ok = s.userBy("mail", value)
	}
	return u, ok, ""
}
