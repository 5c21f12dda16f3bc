package idpsim

import (
	"net/url"
	"testing"
)

// ropcScope logs canary01 in with the password grant and the given scope.
func (e *env) ropcScope(scope string) tokens {
	e.t.Helper()
	return e.tokensFrom(e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"password"},
		"username": {"canary01"}, "password": {"canary-password-01"}, "scope": {scope}}, app))
}

// noScopeToken is a client_credentials token of the client lacking every admin scope.
func (e *env) noScopeToken() string {
	e.t.Helper()
	return e.tokensFrom(e.do("POST", "/jans-auth/restv1/token",
		url.Values{"grant_type": {"client_credentials"}}, basic("no-scope-admin", "noscope-secret"))).access
}

func TestKeycloakUserLogout(t *testing.T) {
	e := newEnv(t, Options{})
	online := e.ropcScope("openid")
	offline := e.ropcScope("openid offline_access")
	sess, _ := e.browserLogin("canary01", "canary-password-01")
	adm := bearerAuth(e.adminToken(""))
	base := "/keycloak/admin/realms/demo/users"

	r := e.do("GET", base+"?username=canary01&exact=true", nil, adm)
	if r.status != 200 || string(r.body) == "[]\n" {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	if st := e.do("POST", base+"/NOBODY/logout", nil, adm); st.status != 404 || st.str(t, "error") != "User not found" {
		t.Fatalf("unknown user: %d %s", st.status, st.body)
	}
	if st := e.do("POST", base+"/CANARY01/logout", nil).status; st != 401 {
		t.Fatalf("no bearer: %d", st)
	}
	if st := e.do("POST", base+"/CANARY01/logout", nil, bearerAuth(e.noScopeToken())).status; st != 403 {
		t.Fatalf("no permission: %d", st)
	}
	if st := e.do("POST", base+"/CANARY01/logout", nil, adm).status; st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if e.active(online.access) || e.refreshWorks(online.refresh) {
		t.Fatal("the online grant survived the logout")
	}
	if e.sessionState(sess) != "unknown" {
		t.Fatal("the session survived the logout")
	}
	if !e.active(offline.access) || !e.refreshWorks(offline.refresh) {
		t.Fatal("the offline grant died with the online sessions")
	}
}

func TestKeycloakConsent(t *testing.T) {
	e := newEnv(t, Options{})
	online := e.ropcScope("openid")
	adm := bearerAuth(e.adminToken(""))
	path := "/keycloak/admin/realms/demo/users/CANARY01/consents/canary-app"
	if r := e.do("DELETE", path, nil, adm); r.status != 404 || r.str(t, "error") != "Consent nor offline token not found" {
		t.Fatalf("no offline token: %d %s", r.status, r.body)
	}
	offline := e.ropcScope("openid offline_access")
	if st := e.do("DELETE", path, nil, adm).status; st != 204 {
		t.Fatalf("consent revoke: %d", st)
	}
	if e.refreshWorks(offline.refresh) {
		t.Fatal("the offline refresh token survived")
	}
	if !e.refreshWorks(online.refresh) {
		t.Fatal("the online grant died with the consent")
	}
}
