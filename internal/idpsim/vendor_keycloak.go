package idpsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Keycloak admin REST API emulation, under /keycloak (docs/wire-facts.md §3):
//
//	POST   /keycloak/realms/{realm}/protocol/openid-connect/token    the admin's client_credentials token
//	GET    /keycloak/admin/realms/{realm}/users?username=X&exact=true [{"id":…,"username":…}]
//	POST   /keycloak/admin/realms/{realm}/users/{id}/logout          204; 404 "User not found"
//	DELETE /keycloak/admin/realms/{realm}/users/{id}/consents/{client} 204; 404 "Consent nor offline token not found"
//	GET|PUT /keycloak/_sim                                           the emulation's switches (vendorSim)
//
// The canary logs in through the Janssen endpoints; the admin calls apply
// Keycloak's kill semantics to the shared state. A Keycloak user id is the
// simulator's inum. User logout ends every session of the user and every
// online grant (no offline_access scope), access and refresh tokens; offline
// grants live on (they belong to offline sessions, which the logout does not
// touch). Consent revocation kills the client's offline grants.
//
// This file also holds the helpers the other vendor emulations share.

const (
	keycloakPrefix      = "/keycloak"
	scopeKeycloakManage = "manage-users"
)

func (s *Server) routeKeycloak(mux *http.ServeMux) {
	v := &vendorSim{}
	s.routeVendorSim(mux, keycloakPrefix, v)
	mux.HandleFunc("POST "+keycloakPrefix+"/realms/{realm}/protocol/openid-connect/token", s.handleToken)
	admin := keycloakPrefix + "/admin/realms/{realm}/users"
	mux.HandleFunc("GET "+admin, s.handleKeycloakUsers)
	mux.HandleFunc("POST "+admin+"/{id}/logout", func(w http.ResponseWriter, r *http.Request) {
		s.handleKeycloakLogout(w, r, v)
	})
	mux.HandleFunc("DELETE "+admin+"/{id}/consents/{client}", func(w http.ResponseWriter, r *http.Request) {
		s.handleKeycloakConsent(w, r, v)
	})
}

// keycloakAuth answers Keycloak's 401 and 403 bodies.
func (s *Server) keycloakAuth(w http.ResponseWriter, r *http.Request) bool {
	switch s.vendorBearer(r, scopeKeycloakManage) {
	case http.StatusUnauthorized:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
		return false
	case http.StatusForbidden:
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "unknown_error"})
		return false
	}
	return true
}

func (s *Server) handleKeycloakUsers(w http.ResponseWriter, r *http.Request) {
	if !s.keycloakAuth(w, r) {
		return
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, u := range s.users {
		name := q.Get("username")
		if name == "" || u.UID == name || (q.Get("exact") != "true" && containsFold(u.UID, name)) {
			out = append(out, map[string]any{"id": u.Inum, "username": u.UID, "email": u.Mail, "enabled": true})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleKeycloakLogout(w http.ResponseWriter, r *http.Request, v *vendorSim) {
	if s.revoke500(w) || !s.keycloakAuth(w, r) {
		return
	}
	u, ok := s.userBy("inum", r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return
	}
	delay, all := v.get()
	// Keycloak's user logout sends back-channel logout (docs/wire-facts.md §3):
	// the targets are collected now, while the sessions live, and sent
	// when the handler returns, after the revocation.
	defer s.sendLogoutTokens(r, delay, s.logoutTargets(u.Inum, anySession))
	if all {
		s.revokeWhere(r, u.Inum, killAll, delay, anySession, anyGrant)
	} else {
		s.revokeWhere(r, u.Inum, killAll, delay, anySession, func(g *grant) bool { return !g.offline })
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleKeycloakConsent(w http.ResponseWriter, r *http.Request, v *vendorSim) {
	if s.revoke500(w) || !s.keycloakAuth(w, r) {
		return
	}
	u, ok := s.userBy("inum", r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return
	}
	client := r.PathValue("client")
	if _, ok := s.clients[client]; !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Client not found"})
		return
	}
	delay, all := v.get()
	var n int
	if all {
		_, n = s.revokeWhere(r, u.Inum, killAll, delay, anySession, anyGrant)
	} else {
		_, n = s.revokeWhere(r, u.Inum, kill{access: true, refresh: true}, delay, nil, func(g *grant) bool {
			return g.client == client && g.offline
		})
	}
	if n == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Consent nor offline token not found"})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- shared by the vendor emulations (vendor_*.go) ----

// vendorAdminScope is the registered scope that makes a client an admin of
// every emulated vendor API, so the default revprober-admin client works
// everywhere; a client without it needs the vendor's own permission scope.
const vendorAdminScope = "global_token_revocation"

// vendorSim holds the switches of one vendor emulation, changed through
// PUT {prefix}/_sim with {"delay":"300ms","kill_all":false}.
type vendorSim struct {
	mu sync.Mutex
	// delay is how long after the request the vendor's kill takes effect
	// (asynchronous vendors), on top of the delay fault.
	delay time.Duration
	// killAll makes the endpoint kill every session and token of the user,
	// more than it documents: a drift switch.
	killAll bool
}

func (v *vendorSim) get() (time.Duration, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.delay, v.killAll
}

type vendorSimBody struct {
	Delay   string `json:"delay"`
	KillAll bool   `json:"kill_all"`
}

func (s *Server) routeVendorSim(mux *http.ServeMux, prefix string, v *vendorSim) {
	mux.HandleFunc("GET "+prefix+"/_sim", func(w http.ResponseWriter, r *http.Request) {
		d, all := v.get()
		writeJSON(w, http.StatusOK, vendorSimBody{Delay: d.String(), KillAll: all})
	})
	mux.HandleFunc("PUT "+prefix+"/_sim", func(w http.ResponseWriter, r *http.Request) {
		var body vendorSimBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"delay":"300ms","kill_all":false}: ` + err.Error()})
			return
		}
		d, _ := v.get()
		if body.Delay != "" {
			var err error
			if d, err = time.ParseDuration(body.Delay); err != nil || d < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad delay " + body.Delay})
				return
			}
		}
		v.mu.Lock()
		v.delay, v.killAll = d, body.KillAll
		v.mu.Unlock()
		writeJSON(w, http.StatusOK, vendorSimBody{Delay: d.String(), KillAll: body.KillAll})
	})
}

// vendorBearer checks a vendor admin call's Bearer token: 0 when it is a
// live access token of an admin client (registered with scope or with
// vendorAdminScope), 401 when there is no live token, 403 when its client
// lacks the permission.
func (s *Server) vendorBearer(r *http.Request, scope string) int {
	tok, ok := bearer(r)
	if !ok {
		return http.StatusUnauthorized
	}
	info, found := s.lookupAccess(tok)
	if !found || !info.alive {
		return http.StatusUnauthorized
	}
	c, ok := s.clients[info.client]
	if !ok {
		return http.StatusUnauthorized
	}
	if !s.vendorAdmin(c, scope) {
		return http.StatusForbidden
	}
	return 0
}

func (s *Server) vendorAdmin(c *Client, scope string) bool {
	return c.hasScope(scope) || c.hasScope(vendorAdminScope)
}

// userSessions and userGrants match everything of one user.
// anySession and anyGrant match every session and grant of the user a
// revocation is scoped to.
func anySession(*session) bool { return true }
func anyGrant(*grant) bool     { return true }

// revokeWhere is the vendors' revocation helper: it kills, as k says and
// the faults allow, the sessions of the user (inum) that sess matches and
// the tokens of the user's grants that gr matches (nil matches nothing). The kill takes effect after
// the faults' delay plus after, measured from the arrival of the revoke
// request r: an asynchronous vendor is
// a kill time in the future, not a goroutine. It returns how many live
// sessions and how many grants with a live token matched, whatever the
// faults did.
func (s *Server) revokeWhere(r *http.Request, inum string, k kill, after time.Duration, sess func(*session) bool, gr func(*grant) bool) (sessions, grants int) {
	k, at := s.effect(r, k)
	if !at.IsZero() {
		at = at.Add(after)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	u := s.st.userLocked(inum)
	defer s.pruneUserLocked(inum, now)
	if sess != nil {
		for _, ss := range u.sessions {
			if !s.sessionAliveLocked(ss, now) || !sess(ss) {
				continue
			}
			sessions++
			if k.sessions {
				ss.killedAt = earliest(ss.killedAt, at)
			}
		}
	}
	if gr != nil {
		for _, g := range u.grants {
			if !gr(g) {
				continue
			}
			if slices.ContainsFunc(g.tokens, func(e *tokenEntry) bool { return now.Before(e.exp) && s.alive(e.killedAt, now) }) {
				grants++
			}
			killGrantLocked(g, k, at, now)
		}
	}
	return sessions, grants
}

// userByID finds a user by a vendor's user id: the inum, else the uid or
// the mail (a login name or UPN).
func (s *Server) userByID(id string) (User, bool) {
	for _, attr := range []string{"inum", "uid", "mail"} {
		if u, ok := s.userBy(attr, id); ok {
			return u, true
		}
	}
	return User{}, false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
