package idpsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Auth0 emulation, under /auth0 (docs/wire-facts.md §3). Every Management API
// revocation answers 202 at once and takes effect asynchronously, the
// configured delay (default 300 ms) after the request: the kill is written
// with a future effective time, so the engine measures the delay.
//
//	POST   /auth0/oauth/token                               client_credentials; "audience" required
//	DELETE /auth0/api/v2/users/{user_id}/sessions           202; ends the user's sessions
//	DELETE /auth0/api/v2/users/{user_id}/refresh-tokens     202; kills the user's refresh tokens
//	POST   /auth0/api/v2/users/{user_id}/revoke-access      {"preserve_refresh_tokens":false} → 202; sessions and refresh tokens
//	GET|PUT /auth0/_sim                                     the emulation's switches (vendorSim)
//
// Access tokens are JWTs Auth0 cannot recall: none of these calls kills
// them. A user_id is "auth0|<inum>" or the bare inum.

const (
	auth0Prefix       = "/auth0"
	auth0DefaultDelay = 300 * time.Millisecond
)

func (s *Server) routeAuth0(mux *http.ServeMux) {
	v := &vendorSim{delay: auth0DefaultDelay}
	s.routeVendorSim(mux, auth0Prefix, v)
	mux.HandleFunc("POST "+auth0Prefix+"/oauth/token", s.handleAuth0Token)
	users := auth0Prefix + "/api/v2/users/{id}"
	mux.HandleFunc("DELETE "+users+"/sessions", func(w http.ResponseWriter, r *http.Request) {
		s.handleAuth0Revoke(w, r, v, "delete:sessions", kill{sessions: true}, "Session deletion request accepted.")
	})
	mux.HandleFunc("DELETE "+users+"/refresh-tokens", func(w http.ResponseWriter, r *http.Request) {
		s.handleAuth0Revoke(w, r, v, "delete:refresh_tokens", kill{refresh: true}, "Refresh token deletion request accepted.")
	})
	mux.HandleFunc("POST "+users+"/revoke-access", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			SessionID             string `json:"session_id"`
			PreserveRefreshTokens bool   `json:"preserve_refresh_tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeAuth0Error(w, http.StatusBadRequest, "Bad Request", "Payload validation error: 'Invalid JSON'.", "invalid_body")
			return
		}
		k := kill{sessions: true, refresh: !body.PreserveRefreshTokens}
		s.handleAuth0Revoke(w, r, v, "update:users", k, "")
	})
}

func writeAuth0Error(w http.ResponseWriter, status int, errName, msg, code string) {
	body := map[string]any{"statusCode": status, "error": errName, "message": msg}
	if code != "" {
		body["errorCode"] = code
	}
	writeJSON(w, status, body)
}

// handleAuth0Token is /oauth/token: Auth0 refuses a client-credentials
// request without an audience (which API the token is for).
func (s *Server) handleAuth0Token(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	if r.PostForm.Get("grant_type") == "client_credentials" && !strings.HasSuffix(r.PostForm.Get("audience"), "/api/v2/") {
		writeError(w, http.StatusForbidden, "access_denied", "No audience parameter was provided, and no default audience has been configured")
		return
	}
	s.handleToken(w, r)
}

func (s *Server) handleAuth0Revoke(w http.ResponseWriter, r *http.Request, v *vendorSim, scope string, k kill, msg string) {
	if s.revoke500(w) {
		return
	}
	switch s.vendorBearer(r, scope) {
	case http.StatusUnauthorized:
		writeAuth0Error(w, http.StatusUnauthorized, "Unauthorized", "Invalid token", "")
		return
	case http.StatusForbidden:
		writeAuth0Error(w, http.StatusForbidden, "Forbidden", "Insufficient scope, expected any of: "+scope, "insufficient_scope")
		return
	}
	id := strings.TrimPrefix(r.PathValue("id"), "auth0|")
	u, ok := s.userBy("inum", id)
	if !ok {
		writeAuth0Error(w, http.StatusNotFound, "Not Found", "The user does not exist.", "inexistent_user")
		return
	}
	delay, all := v.get()
	if all {
		k = killAll
	}
	s.revokeWhere(r, u.Inum, k, delay, anySession, anyGrant)
	if msg == "" {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"message": msg})
}
