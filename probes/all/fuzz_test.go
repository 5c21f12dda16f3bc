package all_test

import (
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/fuzzwire"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	_ "github.com/revprober/revprober/probes/all"
)

// fuzzKind is the driver a fuzz input drives: the one it names, or, for a
// mutated name, one picked from it.
func fuzzKind(name string) string {
	kinds := driver.Kinds()
	for _, k := range kinds {
		if k == name {
			return k
		}
	}
	sum := 0
	for _, b := range []byte(name) {
		sum += int(b)
	}
	return kinds[sum%len(kinds)]
}

// FuzzDriverAnswers runs a driver's revocation (and its restore, for the
// drivers that undo theirs) against an identity provider whose answers to
// the driver's requests (token, user lookup, revocation, …) are fuzzed,
// each further request getting the last answer. With lookup, the canary
// has no id attributes, so the drivers that can look the user up first
// (Keycloak, Entra) read the lookup's answer too. A refusal carries a
// reason from verdict's closed list of error reasons, and no error quotes
// a secret the run sent (the admin client's secret, a secret param, the
// canary's password and tokens), whatever the answers echo.
func FuzzDriverAnswers(f *testing.F) {
	tok := []byte(`{"access_token":"admin-token-1234","token_type":"Bearer","expires_in":300}`)
	for _, k := range driver.Kinds() {
		f.Add(k, false, 200, tok, 204, []byte(``), 204, []byte(``))
		f.Add(k, true, 200, tok, 200, []byte(`[{"id":"`+fuzzwire.AccessToken+`","username":"canary01"}]`), 404, []byte(``))
		f.Add(k, false, 200, tok, 401, []byte(`{"error":"invalid_token","token":"`+fuzzwire.AccessToken+`"}`), 500, []byte(fuzzwire.ClientSecret))
	}
	f.Fuzz(func(t *testing.T, kind string, lookup bool, s1 int, b1 []byte, s2 int, b2 []byte, s3 int, b3 []byte) {
		kind = fuzzKind(kind)
		// The params the demo configures (internal/demo), so that every
		// driver gets as far as its requests.
		params := map[string]driver.Params{
			"webhook":                         {"header_X-Api-Key": fuzzwire.ClientSecret, "auth": "basic"},
			"keycloak-user-logout":            {"realm": "demo"},
			"keycloak-offline-consent":        {"realm": "demo", "client_id": "canary-app"},
			"janssen-global-token-revocation": {"format": "uid"},
			"janssen-revoke-session":          {"key": "uid"},
			"okta-user-sessions":              {"oauth_tokens": "true"},
			"end-session":                     {"post_logout_redirect_uri": "https://rp.example/cb"},
		}[kind]
		d, err := driver.Build(kind, params)
		if err != nil {
			t.Fatalf("driver %s: %v", kind, err)
		}
		h := http.Header{"Content-Type": {"application/json"}, "Location": {"https://idp.example/logged-out"}}
		client := fuzzwire.Client(fuzzwire.Answer{Status: s1, Header: h, Body: b1},
			fuzzwire.Answer{Status: s2, Header: h, Body: b2}, fuzzwire.Answer{Status: s3, Header: h, Body: b3})
		jar, _ := cookiejar.New(nil)
		admin := &oauth.ClientAuth{ID: fuzzwire.ClientID, Secret: secret.New(fuzzwire.ClientSecret)}
		env := &driver.Env{
			HTTP: client,
			Endpoints: oauth.Endpoints{Issuer: "https://idp.example", Token: "https://idp.example/token",
				Revocation: "https://idp.example/revoke", EndSession: "https://idp.example/logout",
				GlobalTokenRevocation: "https://idp.example/global-token-revocation", SessionRevocation: "https://idp.example/revoke_session"},
			URL:         "https://idp.example/admin",
			Admin:       admin,
			LoginClient: &oauth.ClientAuth{ID: "canary-app", Secret: secret.New(fuzzwire.ClientSecret)},
			Canaries: []*driver.Canary{{Name: "canary01", Username: "canary01",
				Attributes: map[string]string{"uid": "canary01", "mail": "canary01@example.com", "user_dn": "inum=CANARY01,ou=people,o=jans",
					"user_id": "CANARY01", "scim_id": "CANARY01", "subject": "canary01"},
				Tokens: &oauth.Tokens{AccessToken: secret.New(fuzzwire.AccessToken), RefreshToken: secret.New(fuzzwire.RefreshToken),
					IDToken: secret.New(fuzzwire.IDToken), Jar: jar}}},
		}
		env.Canaries[0].Grants = []*oauth.Tokens{env.Canaries[0].Tokens}
		if lookup {
			for _, a := range []string{"user_id", "scim_id", "subject"} {
				delete(env.Canaries[0].Attributes, a)
			}
		}
		ctx := fuzzwire.Run()
		check := func(what string, err error) {
			if err == nil {
				return
			}
			fuzzwire.ClosedReason(t, err)
			fuzzwire.NoPlanted(t, kind+" "+what+" error", err.Error())
		}
		check("revoke", d.Revoke(ctx, env))
		if r, ok := d.(driver.Restorer); ok {
			check("restore", r.Restore(ctx, env))
		}
	})
}
