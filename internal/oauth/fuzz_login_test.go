package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/fuzzwire"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
)

// FuzzCodeLogin: the browserless authorization-code login through fuzzed
// pages and redirects (the login page, its answer, the token endpoint's).
// Whatever the IdP answers, the canary's password goes only in the body of
// a POST to the authorization endpoint's host, the client secret only to
// the token endpoint, and no error quotes either; a login succeeds only
// through a redirect to the redirect URI carrying a code.
func FuzzCodeLogin(f *testing.F) {
	login := []byte(`<form method="post" action="/login"><input name="username"><input type="password" name="password"><button>Sign in</button></form>`)
	f.Add(200, "", login, 302, "https://rp.example/cb?code=c1&state={state}", []byte(``), 200, []byte(`{"access_token":"at","token_type":"Bearer"}`))
	f.Add(302, "https://evil.example/login", login, 200, "", login, 200, []byte(``))
	f.Add(302, "https://"+fuzzwire.Password+".example/login", login, 200, "", login, 200, []byte(``))
	f.Add(200, "", []byte(`<form method="get" action="/login"><input name="user"><input type="password" name="pw"><input type="submit"></form>`), 200, "", login, 400, []byte(`{"error":"`+fuzzwire.Password+`"}`))
	f.Fuzz(func(t *testing.T, s1 int, loc1 string, b1 []byte, s2 int, loc2 string, b2 []byte, s3 int, b3 []byte) {
		answer := func(s int, loc string, b []byte) fuzzwire.Answer {
			return fuzzwire.Answer{Status: s, Header: http.Header{"Location": {loc}, "Content-Type": {"text/html"}}, Body: b}
		}
		rp := &fuzzwire.Replay{Answers: []fuzzwire.Answer{answer(s1, loc1, b1), answer(s2, loc2, b2), answer(s3, "", b3)}}
		toks, err := oauth.CodeLogin(fuzzwire.Run(), stateEcho{rp}, nil, fuzzEndpoints, nil, fuzzClient("client_secret_post"),
			"https://rp.example/cb", "canary01", secret.New(fuzzwire.Password), []string{"openid"})
		for _, s := range rp.Sent() {
			u, _ := url.Parse(s.URL)
			if strings.Contains(s.URL, fuzzwire.Password) || strings.Contains(s.URL, url.QueryEscape(fuzzwire.Password)) {
				t.Fatalf("the password went in a URL: %s", s.URL)
			}
			if strings.Contains(s.Body, url.QueryEscape(fuzzwire.Password)) && (s.Method != http.MethodPost || u.Host != "idp.example") {
				t.Fatalf("the password went to %s %s", s.Method, s.URL)
			}
			if strings.Contains(s.Body, url.QueryEscape(fuzzwire.ClientSecret)) && s.URL != fuzzEndpoints.Token {
				t.Fatalf("the client secret went to %s %s", s.Method, s.URL)
			}
		}
		if err != nil {
			fuzzwire.NoPlanted(t, "code login error", err.Error())
			return
		}
		sent := rp.Sent()
		if toks.AccessToken.IsZero() || len(sent) == 0 || sent[len(sent)-1].URL != fuzzEndpoints.Token {
			t.Fatalf("a login succeeded without a code exchange: %+v", sent)
		}
	})
}

// stateEcho writes the state of the authorization request where an
// answer's Location says {state}: the IdP echoes it, and a fuzzer cannot
// guess it.
type stateEcho struct{ rp *fuzzwire.Replay }

func (s stateEcho) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rp.RoundTrip(req)
	if sent := s.rp.Sent(); err == nil && len(sent) > 0 {
		if first, perr := url.Parse(sent[0].URL); perr == nil {
			loc := strings.ReplaceAll(resp.Header.Get("Location"), "{state}", first.Query().Get("state"))
			resp.Header.Set("Location", loc)
		}
	}
	return resp, err
}
