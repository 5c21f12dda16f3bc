package idpsim

import "testing"

func TestHydra(t *testing.T) {
	e := newEnv(t, Options{})
	sess, tok := e.browserLogin("canary01", "canary-password-01")
	base := "/hydra/admin/oauth2/auth/sessions/"
	for _, q := range []string{"consent?all=true", "consent?subject=CANARY01", "login"} {
		if r := e.do("DELETE", base+q, nil); r.status != 400 {
			t.Errorf("%s: %d, want 400", q, r.status)
		}
	}
	if r := e.do("DELETE", base+"login?subject=CANARY01", nil); r.status != 204 {
		t.Fatalf("login revoke: %d", r.status)
	}
	if e.sessionState(sess) != "unknown" || !e.active(tok.access) {
		t.Fatal("login revoke: the session must die and the tokens live")
	}
	if r := e.do("DELETE", base+"consent?subject=CANARY01&client=other", nil); r.status != 204 || !e.active(tok.access) {
		t.Fatal("another client's consent revoke touched the canary's tokens")
	}
	if r := e.do("DELETE", base+"consent?subject=CANARY01&all=true", nil); r.status != 204 {
		t.Fatalf("consent revoke: %d", r.status)
	}
	if e.active(tok.access) || e.refreshWorks(tok.refresh) {
		t.Fatal("consent revoke left a token alive")
	}
}
