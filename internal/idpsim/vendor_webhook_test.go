package idpsim

import "testing"

func TestWebhookOffboardKillsEverything(t *testing.T) {
	e := newEnv(t, Options{})
	sess, code := e.browserLogin("canary01", "canary-password-01")
	pw := e.ropc("canary01", "canary-password-01")
	other := e.ropc("canary02", "canary-password-02")

	if r := e.do("POST", "/hooks/offboard", `{"user":"canary01"}`, admin, jsonBody); r.status != 202 {
		t.Fatalf("offboard: %d %s", r.status, r.body)
	}
	for _, tok := range []tokens{code, pw} {
		if e.active(tok.access) || e.refreshWorks(tok.refresh) {
			t.Error("a token of the offboarded user lives")
		}
	}
	if st := e.sessionState(sess); st != "unknown" {
		t.Errorf("session state %q after offboarding", st)
	}
	if !e.active(other.access) {
		t.Error("another user's token died")
	}
}

func TestWebhookOffboardAnswers(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.ropc("canary01", "canary-password-01")
	cases := []struct {
		name   string
		body   string
		opts   []opt
		status int
	}{
		{"no auth", `{"user":"canary01"}`, nil, 401},
		{"wrong secret", `{"user":"canary01"}`, []opt{basic("revprober-admin", "nope")}, 401},
		{"client without the admin scope", `{"user":"canary01"}`, []opt{basic("no-scope-admin", "noscope-secret")}, 403},
		{"the canary's own token", `{"user":"canary01"}`, []opt{bearerAuth(tok.access)}, 403},
		{"not JSON", `user=canary01`, []opt{admin}, 400},
		{"no user", `{}`, []opt{admin}, 400},
		{"unknown user is accepted too", `{"user":"nobody"}`, []opt{admin}, 202},
		{"by mail", `{"user":"canary02@example.com","by":"mail"}`, []opt{admin}, 202},
		{"bearer of an admin client", `{"user":"canary02"}`, []opt{bearerAuth(e.adminToken("openid"))}, 202},
	}
	for _, c := range cases {
		if r := e.do("POST", "/hooks/offboard", c.body, append(c.opts, jsonBody)...); r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	if !e.active(tok.access) {
		t.Error("a refused call revoked canary01")
	}
}

func TestWebhookOffboardFaults(t *testing.T) {
	e := newEnv(t, Options{Faults: Faults{Revoke500: true}})
	tok := e.ropc("canary01", "canary-password-01")
	if r := e.do("POST", "/hooks/offboard", `{"user":"canary01"}`, admin, jsonBody); r.status != 500 {
		t.Errorf("revoke-500: %d", r.status)
	}
	if !e.active(tok.access) {
		t.Error("revoke-500 revoked")
	}
	e.srv.SetFaults(Faults{KeepRefresh: true})
	if r := e.do("POST", "/hooks/offboard", `{"user":"canary01"}`, admin, jsonBody); r.status != 202 {
		t.Fatalf("offboard: %d", r.status)
	}
	if e.active(tok.access) || !e.refreshWorks(tok.refresh) {
		t.Error("keep-refresh: want the access token dead and the refresh token alive")
	}
}
