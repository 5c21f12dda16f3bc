package idpsim

import (
	"net/http"
	"time"
)

// Microsoft Entra ID (Graph) emulation, under /entra (docs/wire-facts.md §3):
//
//	POST /entra/{tenant}/oauth2/v2.0/token                      the admin's client_credentials token
//	POST /entra/v1.0/users/{id|upn}/revokeSignInSessions        200 {"@odata.context":…,"value":true}
//	GET|PUT /entra/_sim                                         the emulation's switches (vendorSim)
//
// The call answers at once; the user's refresh tokens and sessions die the
// configured delay (default 500 ms; minutes in the real service) after the
// request. Access tokens live until they expire. A user id is the inum; a
// UPN is the mail (or the uid).

const (
	entraPrefix       = "/entra"
	entraDefaultDelay = 500 * time.Millisecond
	scopeEntraRevoke  = "User.RevokeSessions.All"
)

func (s *Server) routeEntra(mux *http.ServeMux) {
	v := &vendorSim{delay: entraDefaultDelay}
	s.routeVendorSim(mux, entraPrefix, v)
	mux.HandleFunc("POST "+entraPrefix+"/{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("POST "+entraPrefix+"/v1.0/users/{id}/revokeSignInSessions", func(w http.ResponseWriter, r *http.Request) {
		s.handleEntraRevoke(w, r, v)
	})
}

func writeGraphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]string{"request-id": randomToken()[:36]}}})
}

func (s *Server) handleEntraRevoke(w http.ResponseWriter, r *http.Request, v *vendorSim) {
	if s.revoke500(w) {
		return
	}
	switch s.vendorBearer(r, scopeEntraRevoke) {
	case http.StatusUnauthorized:
		writeGraphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	case http.StatusForbidden:
		writeGraphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}
	id := r.PathValue("id")
	u, ok := s.userByID(id)
	if !ok {
		writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
		return
	}
	delay, all := v.get()
	k := kill{refresh: true, sessions: true}
	if all {
		k = killAll
	}
	s.revokeWhere(r, u.Inum, k, delay, anySession, anyGrant)
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": true})
}
