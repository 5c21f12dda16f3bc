package idpsim

import (
	"net/http"
	"net/url"
	"testing"
)

const patchInactive = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
const patchActive = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":true}]}`

func scimJSON(r *http.Request) { r.Header.Set("Content-Type", "application/scim+json") }

func TestSCIMDeactivateKillsAndBlocksLogin(t *testing.T) {
	e := newEnv(t, Options{})
	admin := bearerAuth(e.adminToken("openid"))
	sess, code := e.browserLogin("canary01", "canary-password-01")
	pw := e.ropc("canary01", "canary-password-01")

	r := e.do("PATCH", "/scim/v2/Users/CANARY01", patchInactive, admin, scimJSON)
	if r.status != 200 || r.json(t)["active"] != false || r.header.Get("Content-Type") != "application/scim+json" {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	for _, tok := range []tokens{code, pw} {
		if e.active(tok.access) || e.refreshWorks(tok.refresh) {
			t.Error("a token of the deactivated user lives")
		}
	}
	if st := e.sessionState(sess); st != "unknown" {
		t.Errorf("session state %q after deactivation", st)
	}
	login := func() int {
		return e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"password"},
			"username": {"canary01"}, "password": {"canary-password-01"}, "scope": {"openid"}}, app).status
	}
	if s := login(); s != 401 {
		t.Errorf("login of a deactivated user: %d, want 401", s)
	}
	if g := e.do("GET", "/scim/v2/Users/CANARY01", nil, admin); g.json(t)["active"] != false {
		t.Errorf("GET after deactivation: %s", g.body)
	}

	// Entra's value-object form with a string value reactivates.
	r = e.do("PATCH", "/scim/v2/Users/CANARY01",
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"active":"True"}}]}`, admin, scimJSON)
	if r.status != 200 || r.json(t)["active"] != true {
		t.Fatalf("reactivate: %d %s", r.status, r.body)
	}
	if s := login(); s != 200 {
		t.Errorf("login after reactivation: %d", s)
	}
	if e.active(pw.access) {
		t.Error("reactivation revived a token")
	}
}

func TestSCIMAnswers(t *testing.T) {
	e := newEnv(t, Options{})
	canary := e.ropc("canary01", "canary-password-01")
	admin := bearerAuth(e.adminToken("openid"))
	noScope := e.tokensFrom(e.do("POST", "/jans-auth/restv1/token",
		url.Values{"grant_type": {"client_credentials"}}, basic("no-scope-admin", "noscope-secret"))).access
	cases := []struct {
		name, path, body string
		opts             []opt
		status           int
	}{
		{"no token", "/scim/v2/Users/CANARY02", patchInactive, nil, 401},
		{"unknown token", "/scim/v2/Users/CANARY02", patchInactive, []opt{bearerAuth("nope")}, 401},
		{"a user's token", "/scim/v2/Users/CANARY02", patchInactive, []opt{bearerAuth(canary.access)}, 403},
		{"client without scope", "/scim/v2/Users/CANARY02", patchInactive, []opt{bearerAuth(noScope)}, 403},
		{"unknown user", "/scim/v2/Users/NOBODY", patchInactive, []opt{admin}, 404},
		{"not a PatchOp", "/scim/v2/Users/CANARY02", `{"active":false}`, []opt{admin}, 400},
		{"another attribute", "/scim/v2/Users/CANARY02",
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"x"}]}`, []opt{admin}, 400},
		{"remove", "/scim/v2/Users/CANARY02",
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"active"}]}`, []opt{admin}, 400},
	}
	for _, c := range cases {
		if r := e.do("PATCH", c.path, c.body, append(c.opts, scimJSON)...); r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	if !e.active(canary.access) {
		t.Error("a refused call revoked canary01")
	}
	if r := e.do("GET", "/scim/v2/Users/CANARY02", nil, admin); r.status != 200 || r.json(t)["active"] != true {
		t.Errorf("canary02 changed: %d %s", r.status, r.body)
	}

	e.srv.SetFaults(Faults{Revoke500: true})
	if r := e.do("PATCH", "/scim/v2/Users/CANARY01", patchInactive, admin, scimJSON); r.status != 500 {
		t.Errorf("revoke-500: %d", r.status)
	}
	if r := e.do("GET", "/scim/v2/Users/CANARY01", nil, admin); r.json(t)["active"] != true {
		t.Error("revoke-500 deactivated the user")
	}
	if r := e.do("PATCH", "/scim/v2/Users/CANARY01", patchActive, admin, scimJSON); r.status != 200 {
		t.Errorf("reactivation under revoke-500: %d (it is no revocation)", r.status)
	}
}
