package idpsim

import (
	"testing"
	"time"
)

func TestEntraRevokeSignInSessions(t *testing.T) {
	e := newEnv(t, Options{})
	sess, tok := e.browserLogin("canary01", "canary-password-01")
	adm := bearerAuth(e.adminToken(""))
	if r := e.do("POST", "/entra/v1.0/users/nobody@example.com/revokeSignInSessions", nil, adm); r.status != 404 {
		t.Fatalf("unknown user: %d", r.status)
	}
	if r := e.do("POST", "/entra/v1.0/users/CANARY01/revokeSignInSessions", nil, bearerAuth(e.noScopeToken())); r.status != 403 {
		t.Fatalf("no permission: %d", r.status)
	}
	r := e.do("POST", "/entra/v1.0/users/canary01@example.com/revokeSignInSessions", nil, adm)
	if r.status != 200 || r.json(t)["value"] != true {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	e.clk.Add(entraDefaultDelay - time.Millisecond)
	if e.sessionState(sess) == "unknown" {
		t.Fatal("killed before the delay")
	}
	e.clk.Add(time.Millisecond)
	if e.sessionState(sess) != "unknown" || e.refreshWorks(tok.refresh) {
		t.Fatal("alive after the delay")
	}
	if !e.active(tok.access) || e.userinfo(tok.access) != 200 {
		t.Fatal("the access token died: Entra leaves it until exp")
	}
}
