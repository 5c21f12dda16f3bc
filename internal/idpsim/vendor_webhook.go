package idpsim

import (
	"encoding/json"
	"net/http"
)

// An offboarding automation's webhook receiver, the kind of HR, SIEM or
// ticketing hook that should end in revocation (revprober's webhook driver):
//
//	POST /hooks/offboard
//	Authorization: Basic <client creds> | Bearer <access token>
//	{"user":"canary01"}                  (or {"user":"canary01@example.com","by":"mail"})
//
// It answers 202 Accepted, as pipelines do, also for an unknown user (the
// hook does not disclose who exists), and kills every session and token of
// the user (revokeUser killAll, faults applied).

const webhookPath = "/hooks/offboard"

// webhookAdminScope is the simulator's stand-in for "an admin client": the
// caller's client must have it among its registered scopes.
const webhookAdminScope = "global_token_revocation"

func (s *Server) routeWebhook(mux *http.ServeMux) {
	mux.HandleFunc("POST "+webhookPath, s.handleWebhookOffboard)
}

func (s *Server) handleWebhookOffboard(w http.ResponseWriter, r *http.Request) {
	if s.revoke500(w) {
		return
	}
	c, ok := s.authenticateClient(r, false)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="hooks", Bearer`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	if !c.hasScope(webhookAdminScope) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "detail": "the client may not trigger offboarding"})
		return
	}
	var body struct {
		User string `json:"user"`
		By   string `json:"by"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.User == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "detail": `body must be {"user":"<uid>"} (optionally "by":"uid|mail|inum")`})
		return
	}
	if body.By == "" {
		body.By = "uid"
	}
	if u, ok := s.userBy(body.By, body.User); ok {
		s.revokeUser(r, u.Inum, killAll)
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}
