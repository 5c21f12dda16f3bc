package oauth

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/secret"
)

func TestZZLogout(t *testing.T) {
	iss := os.Getenv("EXPLORE_ISSUER")
	if iss == "" {
		t.Skip()
	}
	for _, scopes := range [][]string{{"openid", "offline_access"}, {"openid"}} {
		ctx := context.Background()
		tr, _ := httpx.NewTransport(httpx.TLS{})
		c := httpx.Client(tr, nil)
		ep, _ := Discover(ctx, c, iss)
		cl := &ClientAuth{ID: "canary-app", Secret: secret.New("canary-secret")}
		toks, err := CodeLogin(ctx, tr, ep, cl, "http://127.0.0.1/callback", "logout-"+scopes[len(scopes)-1], secret.New("x"), scopes)
		if err != nil {
			t.Fatal(err)
		}
		sc := httpx.Client(tr, toks.Jar)
		issURL, _ := url.Parse(iss)
		old, _ := cookiejar.New(nil)
		old.SetCookies(issURL, toks.Jar.Cookies(issURL))
		t.Logf("cookies %d", len(toks.Jar.Cookies(issURL)))
		u := ep.EndSession + "?" + url.Values{"id_token_hint": {toks.IDToken.Reveal()}, "client_id": {"canary-app"}}.Encode()
		req, _ := http.NewRequest("GET", u, nil)
		resp, err := httpx.Do(sc, req)
		if err != nil {
			t.Fatal(err)
		}
		forms := parseForms(resp.Body)
		t.Logf("GET end_session %d, %d forms", resp.Status, len(forms))
		f := forms[0]
		f.values.Set("logout", "yes")
		action, _ := req.URL.Parse(f.action)
		req, _ = http.NewRequest("POST", action.String(), strings.NewReader(f.values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err = httpx.Do(sc, req)
		t.Logf("POST confirm %d %s %v", resp.Status, resp.Header.Get("Location"), err)
		admin := &ClientAuth{ID: "revprober-admin", Secret: secret.New("admin-secret")}
		a, err := Introspect(ctx, c, ep.Introspection, admin, toks.AccessToken, "access_token")
		t.Logf("%v introspect %v %v", scopes, a, err)
		a, err = Userinfo(ctx, c, ep.Userinfo, toks.AccessToken, nil)
		t.Logf("%v userinfo %v %v", scopes, a, err)
		jar2 := old
		a, err = PromptNone(ctx, httpx.Client(tr, jar2), ep, "canary-app", "http://127.0.0.1/callback", scopes)
		t.Logf("%v prompt none %v %v", scopes, a, err)
		if !toks.RefreshToken.IsZero() {
			a, _, err = Refresh(ctx, c, ep, cl, toks.RefreshToken)
			t.Logf("%v refresh %v %v", scopes, a, err)
		}
	}
}
