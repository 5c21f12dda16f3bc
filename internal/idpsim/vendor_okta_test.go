package idpsim

import (
	"net/http"
	"testing"
)

func ssws(tok string) opt {
	return func(r *http.Request) { r.Header.Set("Authorization", "SSWS "+tok) }
}

func TestOktaSessions(t *testing.T) {
	e := newEnv(t, Options{})
	sess, tok := e.browserLogin("canary01", "canary-password-01")
	for _, c := range []struct {
		opts   []opt
		id     string
		status int
	}{
		{[]opt{ssws("wrong")}, "CANARY01", 401},
		{[]opt{ssws("noscope-secret")}, "CANARY01", 403},
		{[]opt{bearerAuth(e.noScopeToken())}, "CANARY01", 403},
		{[]opt{ssws("admin-secret")}, "NOBODY", 404},
	} {
		if r := e.do("DELETE", "/okta/api/v1/users/"+c.id+"/sessions", nil, c.opts...); r.status != c.status {
			t.Errorf("%d, want %d (%s)", r.status, c.status, r.body)
		}
	}
	// Okta's default: sessions only.
	if r := e.do("DELETE", "/okta/api/v1/users/canary01/sessions", nil, ssws("admin-secret")); r.status != 204 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	if e.sessionState(sess) != "unknown" || !e.active(tok.access) {
		t.Fatal("oauthTokens=false: the session must die and the tokens live")
	}
	if r := e.do("DELETE", "/okta/api/v1/users/CANARY01/sessions?oauthTokens=true", nil, bearerAuth(e.adminToken(""))); r.status != 204 {
		t.Fatalf("sessions with tokens: %d %s", r.status, r.body)
	}
	if e.active(tok.access) || e.refreshWorks(tok.refresh) {
		t.Fatal("oauthTokens=true left a token alive")
	}
}

func TestOktaGlobalTokenRevocation(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.ropc("canary01", "canary-password-01")
	adm := bearerAuth(e.adminToken(""))
	if r := e.do("POST", "/okta/oauth2/v1/global-token-revocation", `{"sub_id":{"format":"opaque","id":"CANARY01"}}`, ssws("admin-secret"), jsonBody); r.status != 401 {
		t.Fatalf("SSWS must not work here: %d", r.status)
	}
	if r := e.do("POST", "/okta/oauth2/v1/global-token-revocation", `{"sub_id":{"format":"opaque","id":"NOBODY"}}`, adm, jsonBody); r.status != 404 {
		t.Fatalf("unknown user: %d", r.status)
	}
	if r := e.do("POST", "/okta/oauth2/v1/global-token-revocation", `{"sub_id":{"format":"opaque","id":"CANARY01"}}`, adm, jsonBody); r.status != 204 {
		t.Fatalf("gtr: %d %s", r.status, r.body)
	}
	if e.active(tok.access) || e.refreshWorks(tok.refresh) {
		t.Fatal("a token survived")
	}
}

// TestOktaGlobalTokenRevocationSubID: sub_id is an RFC 9493 subject
// identifier, so each format has its own members (opaque: id, email:
// email); any other shape is a 400 and kills nothing.
func TestOktaGlobalTokenRevocationSubID(t *testing.T) {
	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"opaque", `{"sub_id":{"format":"opaque","id":"CANARY01"}}`, 204},
		{"email", `{"sub_id":{"format":"email","email":"canary01@example.com"}}`, 204},
		{"email carried in id", `{"sub_id":{"format":"email","id":"canary01@example.com"}}`, 400},
		{"opaque carried in email", `{"sub_id":{"format":"opaque","email":"CANARY01"}}`, 400},
		{"extra member", `{"sub_id":{"format":"opaque","id":"CANARY01","email":"canary01@example.com"}}`, 400},
		{"empty id", `{"sub_id":{"format":"opaque","id":""}}`, 400},
		{"id not a string", `{"sub_id":{"format":"opaque","id":7}}`, 400},
		{"unsupported format", `{"sub_id":{"format":"iss_sub","iss":"https://idp","sub":"CANARY01"}}`, 400},
		{"no format", `{"sub_id":{"id":"CANARY01"}}`, 400},
		{"no sub_id", `{}`, 400},
		{"not JSON", `sub_id=CANARY01`, 400},
		{"unknown email", `{"sub_id":{"format":"email","email":"ghost@example.com"}}`, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			tok := e.ropc("canary01", "canary-password-01")
			r := e.do("POST", "/okta/oauth2/v1/global-token-revocation", c.body, bearerAuth(e.adminToken("")), jsonBody)
			if r.status != c.status {
				t.Fatalf("%d, want %d (%s)", r.status, c.status, r.body)
			}
			if r.status == 400 && r.str(t, "errorCode") != "E0000001" {
				t.Errorf("errorCode %q, want E0000001", r.str(t, "errorCode"))
			}
			if dead := !e.active(tok.access) && !e.refreshWorks(tok.refresh); dead != (c.status == 204) {
				t.Errorf("tokens dead = %v after %d", dead, r.status)
			}
		})
	}
}
