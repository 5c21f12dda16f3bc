package idpsim

import (
	"net/http"
)

// Ory Hydra admin API emulation, under /hydra (docs/wire-facts.md §3). Hydra's
// admin port has no authentication of its own.
//
//	DELETE /hydra/admin/oauth2/auth/sessions/consent?subject=S&all=true (or &client=C)  204
//	DELETE /hydra/admin/oauth2/auth/sessions/login?subject=S (or ?sid=…)                204
//	GET|PUT /hydra/_sim                                                                the emulation's switches
//
// Consent revocation deletes the access and refresh tokens of the subject's
// grants (of one client, or all); the login session lives on. Login-session
// revocation ends the subject's sessions and "does not invalidate any
// tokens". An unknown subject gets 204, as Hydra deletes nothing. A subject
// is the simulator's sub: the inum.

const hydraPrefix = "/hydra"

func (s *Server) routeHydra(mux *http.ServeMux) {
	v := &vendorSim{}
	s.routeVendorSim(mux, hydraPrefix, v)
	sessions := hydraPrefix + "/admin/oauth2/auth/sessions"
	mux.HandleFunc("DELETE "+sessions+"/consent", func(w http.ResponseWriter, r *http.Request) {
		if s.revoke500(w) {
			return
		}
		q := r.URL.Query()
		subject, client, all := q.Get("subject"), q.Get("client"), q.Get("all") == "true"
		if subject == "" {
			writeError(w, http.StatusBadRequest, "invalid_request", "Parameter 'subject' is not defined but should have been.")
			return
		}
		if client == "" && !all {
			writeError(w, http.StatusBadRequest, "invalid_request", "Parameter 'client' is not defined but should have been.")
			return
		}
		delay, everything := v.get()
		if everything {
			s.revokeWhere(r, subject, killAll, delay, anySession, anyGrant)
		} else {
			s.revokeWhere(r, subject, kill{access: true, refresh: true}, delay, nil, func(g *grant) bool {
				return all || g.client == client
			})
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE "+sessions+"/login", func(w http.ResponseWriter, r *http.Request) {
		if s.revoke500(w) {
			return
		}
		q := r.URL.Query()
		subject, sid := q.Get("subject"), q.Get("sid")
		if subject == "" && sid == "" {
			writeError(w, http.StatusBadRequest, "invalid_request", "Either 'subject' or 'sid' query parameters need to be defined.")
			return
		}
		match := func(ss *session) bool { return (subject != "" && ss.user == subject) || (sid != "" && ss.sid == sid) }
		delay, everything := v.get()
		// The users concerned: the subject, and the owner of the sid's session.
		users := []string{subject}
		if ss, ok := s.sessionBySID(sid); ok && sid != "" && ss.user != subject {
			users = append(users, ss.user)
		}
		for _, inum := range users {
			if everything {
				s.revokeWhere(r, inum, killAll, delay, match, func(*grant) bool { return subject != "" && inum == subject })
			} else {
				s.revokeWhere(r, inum, kill{sessions: true}, delay, match, nil)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
