package idpsim

import (
	"net/url"
	"testing"
	"time"
)

func TestAuth0TokenNeedsAudience(t *testing.T) {
	e := newEnv(t, Options{})
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r := e.do("POST", "/auth0/oauth/token", cc, admin); r.status != 403 {
		t.Fatalf("without audience: %d %s", r.status, r.body)
	}
	cc.Set("audience", e.ts.URL+"/auth0/api/v2/")
	e.tokensFrom(e.do("POST", "/auth0/oauth/token", cc, admin))
}

// TestAuth0Async: 202 at once, the kill at exactly the configured delay on
// the injected clock, access tokens never.
func TestAuth0Async(t *testing.T) {
	e := newEnv(t, Options{})
	sess, tok := e.browserLogin("canary01", "canary-password-01")
	adm := bearerAuth(e.adminToken(""))
	if r := e.do("DELETE", "/auth0/api/v2/users/auth0%7CCANARY01/refresh-tokens", nil, adm); r.status != 202 {
		t.Fatalf("refresh-tokens: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/auth0/api/v2/users/auth0%7CCANARY01/sessions", nil, adm); r.status != 202 || r.str(t, "message") != "Session deletion request accepted." {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	e.clk.Add(auth0DefaultDelay - time.Millisecond)
	next := e.tokensFrom(e.refresh(tok.refresh)) // rotation during the delay: the new token inherits the kill
	if e.sessionState(sess) == "unknown" {
		t.Fatal("killed before the delay")
	}
	e.clk.Add(time.Millisecond)
	if e.refreshWorks(next.refresh) || e.sessionState(sess) != "unknown" {
		t.Fatal("alive after the delay")
	}
	if !e.active(tok.access) || !e.active(next.access) {
		t.Fatal("an access token died: Auth0 cannot recall JWTs")
	}
}

func TestAuth0SimSwitchesAndErrors(t *testing.T) {
	e := newEnv(t, Options{})
	if r := e.do("PUT", "/auth0/_sim", `{"delay":"1s","kill_all":true}`, jsonBody); r.status != 200 || r.str(t, "delay") != "1s" {
		t.Fatalf("_sim: %d %s", r.status, r.body)
	}
	tok := e.ropc("canary01", "canary-password-01")
	adm := bearerAuth(e.adminToken(""))
	if r := e.do("POST", "/auth0/api/v2/users/CANARY01/revoke-access", `{"preserve_refresh_tokens":false}`, adm, jsonBody); r.status != 202 {
		t.Fatalf("revoke-access: %d %s", r.status, r.body)
	}
	e.clk.Add(999 * time.Millisecond)
	if !e.active(tok.access) {
		t.Fatal("killed before the configured delay")
	}
	e.clk.Add(time.Millisecond)
	if e.active(tok.access) {
		t.Fatal("kill_all left the access token alive")
	}
	for _, c := range []struct {
		opts   []opt
		path   string
		status int
	}{
		{nil, "/auth0/api/v2/users/CANARY01/sessions", 401},
		{[]opt{bearerAuth(e.noScopeToken())}, "/auth0/api/v2/users/CANARY01/sessions", 403},
		{[]opt{adm}, "/auth0/api/v2/users/auth0%7CNOBODY/sessions", 404},
	} {
		if r := e.do("DELETE", c.path, nil, c.opts...); r.status != c.status {
			t.Errorf("%s: %d, want %d (%s)", c.path, r.status, c.status, r.body)
		}
	}
}
