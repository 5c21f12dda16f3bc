package backchannel_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/backchannel"
)

const iss = "https://op.example"

func TestReceiver(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(jwks.Close)

	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": iss, "aud": "canary-app", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"jti": "j1", "sub": "CANARY01", "sid": "S1",
			"events": map[string]any{backchannel.LogoutEvent: map[string]any{}}}
	}
	sign := func(c jwt.MapClaims, k *rsa.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"], tok.Header["typ"] = "k1", "logout+jwt"
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(f func(jwt.MapClaims)) string { c := good(); f(c); return sign(c, key) }
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
	hs.Header["kid"] = "k1"
	hmacToken, _ := hs.SignedString(key.N.Bytes())

	cases := []struct {
		name    string
		token   string
		status  int
		arrived bool
	}{
		{"valid", sign(good(), key), 200, true},
		{"sub only", with(func(c jwt.MapClaims) { delete(c, "sid") }), 200, true},
		{"other session of the subject", with(func(c jwt.MapClaims) { c["sid"] = "S2" }), 200, false},
		{"issued before the wait", with(func(c jwt.MapClaims) { c["iat"] = now.Add(-time.Hour).Unix() }), 200, false},
		{"bad signature", sign(good(), other), 400, false},
		{"HS256 with the public key", hmacToken, 400, false},
		{"expired", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }), 400, false},
		{"no exp", with(func(c jwt.MapClaims) { delete(c, "exp") }), 400, false},
		{"nonce", with(func(c jwt.MapClaims) { c["nonce"] = "n" }), 400, false},
		{"no events", with(func(c jwt.MapClaims) { delete(c, "events") }), 400, false},
		{"wrong event", with(func(c jwt.MapClaims) { c["events"] = map[string]any{"urn:other": map[string]any{}} }), 400, false},
		{"no sub and no sid", with(func(c jwt.MapClaims) { delete(c, "sub"); delete(c, "sid") }), 400, false},
		{"other audience", with(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), 400, false},
		{"other issuer", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), 400, false},
		{"not a JWT", "garbage", 400, false},
		{"missing", "", 400, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recv := backchannel.New()
			w := recv.Expect(backchannel.Expectation{Issuer: iss, JWKS: jwks.URL, Audience: "canary-app",
				SID: "S1", Sub: "CANARY01", HTTP: jwks.Client()})
			defer w.Close()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, backchannel.Path, strings.NewReader(url.Values{"logout_token": {tc.token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			recv.ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d cache-control %q, want %d no-store", rec.Code, rec.Header().Get("Cache-Control"), tc.status)
			}
			if _, got := w.Arrived(); got != tc.arrived {
				t.Fatalf("arrived = %v, want %v", got, tc.arrived)
			}
		})
	}

	t.Run("no wait registered", func(t *testing.T) {
		recv := backchannel.New()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, backchannel.Path, strings.NewReader("logout_token="+sign(good(), key)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		recv.ServeHTTP(rec, req)
		if rec.Code != 400 {
			t.Fatalf("status %d", rec.Code)
		}
	})
	t.Run("GET", func(t *testing.T) {
		rec := httptest.NewRecorder()
		backchannel.New().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, backchannel.Path, nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", rec.Code)
		}
	})
}
