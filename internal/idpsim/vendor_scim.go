package idpsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// A SCIM 2.0 (RFC 7643/7644) Users endpoint, enough for revprober's
// scim-deactivate driver:
//
//	GET   /scim/v2/Users/{id}
//	PATCH /scim/v2/Users/{id}   {"schemas":[PatchOp],"Operations":[{"op":"replace","path":"active","value":false}]}
//
// The SCIM id is the user's inum, as in Janssen. Deactivating a user kills
// every session and token (revokeUser killAll, faults applied) and refuses
// its logins until it is reactivated; reactivating revives nothing. The
// caller needs a live Bearer token of a client-credentials grant whose
// client has the SCIM write scope or the simulator's admin scope.

const (
	scimPrefix     = "/scim/v2"
	scimPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimErrorURN   = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimUserURN    = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimWriteScope = "https://jans.io/scim/users.write"
)

func (s *Server) routeSCIM(mux *http.ServeMux) {
	mux.HandleFunc("GET "+scimPrefix+"/Users/{id}", s.handleSCIMGetUser)
	mux.HandleFunc("PATCH "+scimPrefix+"/Users/{id}", s.handleSCIMPatchUser)
}

// scimDisabled reports whether the user was deactivated through SCIM;
// checkPassword refuses such a user.
func (s *Server) scimDisabled(inum string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scimInactive[inum]
}

func (s *Server) setSCIMActive(inum string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scimInactive == nil {
		s.scimInactive = map[string]bool{}
	}
	if active {
		delete(s.scimInactive, inum)
	} else {
		s.scimInactive[inum] = true
	}
}

func writeSCIM(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeSCIMError is RFC 7644 §3.12.
func writeSCIMError(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{"schemas": []string{scimErrorURN}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	writeSCIM(w, status, body)
}

// scimAuth accepts a live client-credentials Bearer token of an admin client.
func (s *Server) scimAuth(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
		writeSCIMError(w, http.StatusUnauthorized, "", "A Bearer token is required.")
		return false
	}
	info, found := s.lookupAccess(tok)
	if !found || !info.alive {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scim", error="invalid_token"`)
		writeSCIMError(w, http.StatusUnauthorized, "", "The Bearer token is not valid.")
		return false
	}
	c, ok := s.clients[info.client]
	if info.user != "" || !ok || !(c.hasScope(scimWriteScope) || c.hasScope(webhookAdminScope)) {
		writeSCIMError(w, http.StatusForbidden, "", "The token may not manage users.")
		return false
	}
	return true
}

func (s *Server) scimUser(w http.ResponseWriter, r *http.Request) (User, bool) {
	u, ok := s.userBy("inum", r.PathValue("id"))
	if !ok {
		writeSCIMError(w, http.StatusNotFound, "", "Resource "+r.PathValue("id")+" not found")
	}
	return u, ok
}

func (s *Server) scimResource(r *http.Request, u User) map[string]any {
	return map[string]any{
		"schemas":  []string{scimUserURN},
		"id":       u.Inum,
		"userName": u.UID,
		"active":   !s.scimDisabled(u.Inum),
		"emails":   []map[string]any{{"value": u.Mail, "primary": true}},
		"meta":     map[string]string{"resourceType": "User", "location": "http://" + r.Host + scimPrefix + "/Users/" + u.Inum},
	}
}

func (s *Server) handleSCIMGetUser(w http.ResponseWriter, r *http.Request) {
	if !s.scimAuth(w, r) {
		return
	}
	if u, ok := s.scimUser(w, r); ok {
		writeSCIM(w, http.StatusOK, s.scimResource(r, u))
	}
}

// handleSCIMPatchUser understands the replace of "active", with the path
// form ({"path":"active","value":false}) or the value-object form
// ({"value":{"active":false}}); Entra sends the value as the string "False".
func (s *Server) handleSCIMPatchUser(w http.ResponseWriter, r *http.Request) {
	if !s.scimAuth(w, r) {
		return
	}
	u, ok := s.scimUser(w, r)
	if !ok {
		return
	}
	var req struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !slices.Contains(req.Schemas, scimPatchOp) || len(req.Operations) == 0 {
		writeSCIMError(w, http.StatusBadRequest, "invalidSyntax", "The body is not a SCIM PatchOp.")
		return
	}
	var active *bool
	for _, op := range req.Operations {
		if !strings.EqualFold(op.Op, "replace") && !strings.EqualFold(op.Op, "add") {
			writeSCIMError(w, http.StatusBadRequest, "invalidValue", "Only replace of active is supported.")
			return
		}
		v, ok := activeValue(op.Path, op.Value)
		if !ok {
			writeSCIMError(w, http.StatusBadRequest, "noTarget", "Only replace of active is supported.")
			return
		}
		active = &v
	}
	if !*active {
		// The deactivation is a revocation: the revoke-500 fault refuses it.
		if s.revoke500(w) {
			return
		}
		s.setSCIMActive(u.Inum, false)
		s.revokeUser(r, u.Inum, killAll)
	} else {
		s.setSCIMActive(u.Inum, true)
	}
	writeSCIM(w, http.StatusOK, s.scimResource(r, u))
}

// activeValue reads a boolean "active" from a patch operation.
func activeValue(path string, raw json.RawMessage) (bool, bool) {
	if path == "" {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil || len(obj) != 1 || obj["active"] == nil {
			return false, false
		}
		return activeValue("active", obj["active"])
	}
	if !strings.EqualFold(path, "active") {
		return false, false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		switch strings.ToLower(str) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}
