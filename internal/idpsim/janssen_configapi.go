package idpsim

import (
	"net/http"
	"slices"
	"strconv"
)

// The Janssen config-api per-user session delete (§1.5), the call behind the
// Terraform jans_session_revocation resource. It answers in the config-api's
// own error format, {"code":"404","message":…}.

func writeConfigAPIError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"code": strconv.Itoa(status), "message": msg})
}

// handleConfigAPIDeleteUserSessions: DELETE …/session/user/{userDn}. The mux
// hands over the DN unescaped, so raw and URL-escaped DNs both work.
func (s *Server) handleConfigAPIDeleteUserSessions(w http.ResponseWriter, r *http.Request) {
	if s.revoke500(w) {
		return
	}
	tok, ok := bearer(r)
	if !ok {
		writeConfigAPIError(w, http.StatusUnauthorized, "A Bearer token is required.")
		return
	}
	info, found := s.lookupAccess(tok)
	if !found || !info.alive {
		writeConfigAPIError(w, http.StatusUnauthorized, "The Bearer token is not valid.")
		return
	}
	// The Terraform provider asks for both scopes ("requires both scopes"); the
	// simulator insists on both, the stricter reading.
	if !slices.Contains(info.scopes, "revoke_session") || !slices.Contains(info.scopes, scopeSessionDelete) {
		writeConfigAPIError(w, http.StatusForbidden, "The token lacks the scopes revoke_session and "+scopeSessionDelete+".")
		return
	}
	dn := r.PathValue("dn")
	u, ok := s.userByDN(dn)
	if !ok || s.liveSessions(u.Inum, "authenticated") == 0 {
		writeConfigAPIError(w, http.StatusNotFound, "No authenticated session exists for user "+dn)
		return
	}
	// The sessions and their grants' access and id tokens; refresh tokens
	// survive, and ROPC grants (no session) are not touched.
	s.revokeSessions(r, u.Inum, func(ss *session) bool {
		return ss.state == "authenticated"
	}, kill{access: true, sessions: true})
	w.WriteHeader(http.StatusOK) // 200, although the API documents 204
}
