package oauth_test

// Fuzz targets of the parsers of an identity provider's answers. Each
// asserts the protocol's rule for "dead" as an oracle written from the
// specification (docs/wire-facts.md), not from the code under test: a
// check may report dead only for the answer the protocol defines as dead,
// and no error may carry a secret the run sent. Seeds: testdata/fuzz/
// (answers of the simulator and of Ory Hydra v2.3.0, fuzzseeds_test.go).

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/fuzzwire"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
)

var fuzzEndpoints = oauth.Endpoints{
	Issuer:        "https://idp.example",
	Authorization: "https://idp.example/authorize",
	Token:         "https://idp.example/token",
	Introspection: "https://idp.example/introspect",
	Userinfo:      "https://idp.example/userinfo",
	SessionStatus: "https://idp.example/session_status",
}

func fuzzClient(method string) *oauth.ClientAuth {
	return &oauth.ClientAuth{ID: fuzzwire.ClientID, Secret: secret.New(fuzzwire.ClientSecret), Method: method}
}

func answer(status int, contentType string, body []byte) fuzzwire.Answer {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return fuzzwire.Answer{Status: status, Header: h, Body: body}
}

// jsonMember decodes one member of a JSON object body; ok is false when the
// body is not an object or has no such member.
func jsonMember(body []byte, name string) (v any, ok bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil, false
	}
	raw, ok := obj[name]
	if !ok {
		return nil, false
	}
	return v, json.Unmarshal(raw, &v) == nil
}

// FuzzIntrospect: RFC 7662 §2.2. Dead only for a 200 whose JSON object has
// "active": false (the boolean); alive only for "active": true.
func FuzzIntrospect(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"active":false}`))
	f.Add(200, "application/json", []byte(`{"active":"false"}`))
	f.Add(401, "application/json", []byte(`{"error":"invalid_client","token":"`+fuzzwire.AccessToken+`"}`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		ctx := fuzzwire.Run()
		c := fuzzwire.Client(answer(status, contentType, body))
		active, err := oauth.Introspect(ctx, c, fuzzEndpoints.Introspection, fuzzClient("client_secret_basic"),
			secret.New(fuzzwire.AccessToken), "access_token")
		if err != nil {
			fuzzwire.NoPlanted(t, "introspection error", err.Error())
			return
		}
		v, ok := jsonMember(body, "active")
		if fuzzwire.Status(status) != 200 || !ok || v != active {
			t.Fatalf("introspection read active=%v from %d %q", active, fuzzwire.Status(status), body)
		}
	})
}

// tokenError is the OAuth error code of a token endpoint's error answer,
// in the two encodings x/oauth2 reads (RFC 6749 §5.2 JSON, and the form
// encoding of early servers).
func tokenError(contentType string, body []byte) string {
	if code, ok := jsonMember(body, "error"); ok {
		s, _ := code.(string)
		return s
	}
	if q, err := url.ParseQuery(string(body)); err == nil {
		return q.Get("error")
	}
	return ""
}

// FuzzRefresh: RFC 6749 §5.2. A refresh token is dead only when the token
// endpoint answers 400 with error invalid_grant; alive only for a 2xx
// answer that issues an access token.
func FuzzRefresh(f *testing.F) {
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant"}`))
	f.Add(500, "application/json", []byte(`{"error":"invalid_grant"}`))
	f.Add(400, "application/x-www-form-urlencoded", []byte(`error=invalid_grant`))
	f.Add(400, "application/json", []byte(`{"error":"`+fuzzwire.RefreshToken+`"}`))
	f.Add(200, "application/json", []byte(`{"access_token":"a","token_type":"Bearer","expires_in":1e400}`))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		ctx := fuzzwire.Run()
		c := fuzzwire.Client(answer(status, contentType, body))
		for _, method := range []string{"client_secret_basic", "client_secret_post"} {
			alive, next, err := oauth.Refresh(ctx, c, fuzzEndpoints, fuzzClient(method), secret.New(fuzzwire.RefreshToken))
			st := fuzzwire.Status(status)
			switch {
			case err != nil:
				fuzzwire.NoPlanted(t, "refresh error", err.Error())
			case alive:
				if st < 200 || st > 299 || next == nil || next.AccessToken.IsZero() {
					t.Fatalf("refresh read alive from %d %q", st, body)
				}
			default:
				if st != 400 || tokenError(contentType, body) != "invalid_grant" {
					t.Fatalf("refresh read dead from %d %q (only 400 invalid_grant is)", st, body)
				}
			}
		}
	})
}

// FuzzUserinfo: a token is dead at userinfo only for a configured dead
// status (401 by default) or a 400/401/403 that says invalid_token (RFC
// 6750 §3.1); alive only for 200. The same answer from a protected
// resource is dead only for its configured refusals.
func FuzzUserinfo(f *testing.F) {
	f.Add(401, "", []byte(`{"error":"invalid_token"}`))
	f.Add(403, `Bearer error="insufficient_scope"`, []byte(`{}`))
	f.Add(400, `Bearer error="invalid_token"`, []byte(``))
	f.Add(500, "", []byte(`<html>`+fuzzwire.AccessToken+`</html>`))
	f.Fuzz(func(t *testing.T, status int, wwwAuthenticate string, body []byte) {
		ctx := fuzzwire.Run()
		h := http.Header{}
		h.Set("WWW-Authenticate", wwwAuthenticate)
		c := fuzzwire.Client(fuzzwire.Answer{Status: status, Header: h, Body: body})
		deadStatus := []int{401}
		alive, err := oauth.Userinfo(ctx, c, fuzzEndpoints.Userinfo, secret.New(fuzzwire.AccessToken), deadStatus)
		st := fuzzwire.Status(status)
		switch {
		case err != nil:
			fuzzwire.NoPlanted(t, "userinfo error", err.Error())
		case alive:
			if st != 200 {
				t.Fatalf("userinfo read alive from %d", st)
			}
		default:
			saysInvalid := strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") || bytes.Contains(body, []byte(`"invalid_token"`))
			if !slices.Contains(deadStatus, st) && !((st == 400 || st == 401 || st == 403) && saysInvalid) {
				t.Fatalf("userinfo read dead from %d %q %q", st, wwwAuthenticate, body)
			}
		}
		// A protected resource: alive for 2xx, dead only for its configured
		// refusals (default 401 and 403).
		resourceDead := []int{401, 403}
		alive, err = oauth.Resource(ctx, c, http.MethodGet, "https://api.example/me", secret.New(fuzzwire.AccessToken), resourceDead)
		switch {
		case err != nil:
			fuzzwire.NoPlanted(t, "resource error", err.Error())
		case alive && (st < 200 || st > 299), !alive && !slices.Contains(resourceDead, st):
			t.Fatalf("resource read alive=%v from %d", alive, st)
		}
	})
}

// FuzzDiscover: a discovery document is accepted only from a 200 JSON
// object with an issuer and a token_endpoint; a key it lacks stays empty.
func FuzzDiscover(f *testing.F) {
	f.Add(200, []byte(`{"issuer":"https://idp.example","token_endpoint":"https://idp.example/token"}`))
	f.Add(200, []byte(`{"issuer":"https://idp.example","token_endpoint":"https://idp.example/restv1/token"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		c := fuzzwire.Client(answer(status, "application/json", body))
		ep, err := oauth.Discover(fuzzwire.Run(), c, "https://idp.example/")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "discovery: ") {
				t.Fatalf("discovery error does not say where: %v", err)
			}
			return
		}
		iss, _ := jsonMember(body, "issuer")
		tok, _ := jsonMember(body, "token_endpoint")
		if fuzzwire.Status(status) != 200 || iss != ep.Issuer || tok != ep.Token || ep.Issuer == "" || ep.Token == "" {
			t.Fatalf("discovery accepted %d %q as %+v", fuzzwire.Status(status), body, ep)
		}
	})
}

// FuzzTokenAnswer: the answers of a password login and of the admin
// client's client-credentials grant. A login succeeds only with a 2xx
// answer that issues an access token; no error carries the password or
// the client secret, whatever the answer echoes.
func FuzzTokenAnswer(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"at","refresh_token":"rt","id_token":"x.y.z","token_type":"Bearer","expires_in":3600}`))
	f.Add(401, "application/json", []byte(`{"error":"invalid_client","error_description":"`+fuzzwire.ClientSecret+`"}`))
	f.Add(400, "text/plain", []byte(`error=`+fuzzwire.Password))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		ctx := fuzzwire.Run()
		c := fuzzwire.Client(answer(status, contentType, body))
		st := fuzzwire.Status(status)
		toks, err := oauth.PasswordLogin(ctx, c, fuzzEndpoints, fuzzClient("client_secret_post"), "canary01", secret.New(fuzzwire.Password), []string{"openid"})
		if err != nil {
			fuzzwire.NoPlanted(t, "password login error", err.Error())
		} else if st < 200 || st > 299 || toks.AccessToken.IsZero() {
			t.Fatalf("password login accepted %d %q", st, body)
		}
		tok, err := oauth.ClientCredentials(ctx, c, fuzzEndpoints.Token, fuzzClient("client_secret_basic"), []string{"admin"}, nil)
		if err != nil {
			fuzzwire.NoPlanted(t, "client credentials error", err.Error())
		} else if st != 200 || tok.IsZero() {
			t.Fatalf("client credentials accepted %d %q", st, body)
		}
	})
}

// FuzzSessionChecks: prompt=none is dead only for a redirect to the
// client's redirect URI carrying error login_required or
// interaction_required (OIDC Core §3.1.2.6); session_status only for a 200
// JSON state "unknown" or "unauthenticated" (docs/wire-facts.md §1.8).
func FuzzSessionChecks(f *testing.F) {
	f.Add(302, "https://rp.example/cb?error=login_required&state=x", []byte(``))
	f.Add(302, "https://rp.example/cb#error=interaction_required", []byte(``))
	f.Add(303, "/login?prompt=none", []byte(``))
	f.Add(200, "", []byte(`{"state":"unknown"}`))
	f.Add(302, "https://rp.example/cb?error="+fuzzwire.AccessToken, []byte(``))
	f.Add(200, "", []byte(`{"state":"`+fuzzwire.AccessToken+`"}`))
	f.Add(302, "https://"+fuzzwire.AccessToken+".example/login", []byte(``))
	f.Add(200, "", []byte(`{"state":"authenticated","auth_time":1}`))
	f.Fuzz(func(t *testing.T, status int, location string, body []byte) {
		ctx := fuzzwire.Run()
		h := http.Header{}
		h.Set("Location", location)
		h.Set("Content-Type", "application/json")
		c := fuzzwire.Client(fuzzwire.Answer{Status: status, Header: h, Body: body})
		st := fuzzwire.Status(status)
		const redirect = "https://rp.example/cb"
		alive, err := oauth.PromptNone(ctx, c, fuzzEndpoints, nil, "canary-app", redirect, []string{"openid"})
		if err != nil {
			fuzzwire.NoPlanted(t, "prompt=none error", err.Error())
		} else if !alive {
			loc, perr := url.Parse(fuzzEndpoints.Authorization)
			if perr == nil {
				loc, perr = loc.Parse(location)
			}
			if st < 300 || st > 399 || perr != nil || loc.Scheme != "https" || loc.Host != "rp.example" || loc.Path != "/cb" ||
				!(promptError(loc) == "login_required" || promptError(loc) == "interaction_required") {
				t.Fatalf("prompt=none read dead from %d Location %q", st, location)
			}
		}
		alive, err = oauth.SessionStatus(ctx, c, fuzzEndpoints.SessionStatus)
		if err != nil {
			fuzzwire.NoPlanted(t, "session_status error", err.Error())
		} else if !alive {
			state, _ := jsonMember(body, "state")
			if st != 200 || (state != "unknown" && state != "unauthenticated") {
				t.Fatalf("session_status read dead from %d %q", st, body)
			}
		}
	})
}

// promptError is the error of an authorization response, in its query or,
// when the query has neither code nor error, its fragment.
func promptError(u *url.URL) string {
	q := u.Query()
	if q.Get("code") == "" && q.Get("error") == "" {
		q, _ = url.ParseQuery(u.Fragment)
	}
	if q.Get("code") != "" {
		return ""
	}
	return q.Get("error")
}

// FuzzParseJWKS: a key set read from any bytes verifies a token only when
// it holds the token's signing key: no JWK Set makes a signature of
// another key, or an alg the set's key is not for, verify.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(fuzzwire.JWKS))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"k1","n":"AQ","e":"AQAB"},{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "canary01"})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(fuzzwire.SigningKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		set, err := oauth.ParseJWKS(doc)
		if err != nil {
			return
		}
		parsed, err := jwt.Parse(signed, set.Keyfunc, jwt.WithValidMethods(oauth.SignatureAlgs))
		if err != nil {
			return
		}
		key, _ := set.Keyfunc(parsed)
		if k, ok := key.(ed25519.PublicKey); parsed.Method.Alg() != "EdDSA" || !ok || !k.Equal(fuzzwire.SigningKey.Public()) {
			t.Fatalf("a token verified with alg %s and a key that did not sign it: %#v", parsed.Method.Alg(), key)
		}
	})
}
