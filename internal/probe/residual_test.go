package probe_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// jwtSim starts a simulator issuing JWT access tokens with a 10-minute TTL;
// rewrite, when set, may change an answer (path, body) before it is sent.
func jwtSim(t *testing.T, rewrite func(path string, body []byte) []byte) string {
	t.Helper()
	s := idpsim.New(idpsim.Options{JWTAccessTokens: true, AccessTokenTTL: 10 * time.Minute})
	var h http.Handler = s
	if rewrite != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			body := rewrite(r.URL.Path, rec.Body.Bytes())
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func rewriteJSON(t *testing.T, body []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("rewriting %s: %v", body, err)
	}
	f(m)
	out, _ := json.Marshal(m)
	return out
}

// TestResidualValidity: a JWT access token's time left until exp is
// reported at the revocation, trusted only from a verified signature.
func TestResidualValidity(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		rewrite   func(t *testing.T) func(string, []byte) []byte
		wantValue bool
		verified  bool
		note      string
	}{
		{name: "verified against jwks_uri", wantValue: true, verified: true},
		{
			// The JWKS holds another key under the token's kid: the
			// signature does not verify, so no number is reported.
			name: "tampered signature",
			rewrite: func(t *testing.T) func(string, []byte) []byte {
				return func(path string, body []byte) []byte {
					if !strings.HasSuffix(path, "/jwks") {
						return body
					}
					return rewriteJSON(t, body, func(m map[string]any) {
						k := m["keys"].([]any)[0].(map[string]any)
						k["n"] = base64.RawURLEncoding.EncodeToString(otherKey.N.Bytes())
					})
				}
			},
			note: "did not verify",
		},
		{
			// No jwks_uri published: the unverified exp is reported, marked.
			name: "no jwks_uri",
			rewrite: func(t *testing.T) func(string, []byte) []byte {
				return func(path string, body []byte) []byte {
					if !strings.HasSuffix(path, "/openid-configuration") {
						return body
					}
					return rewriteJSON(t, body, func(m map[string]any) { delete(m, "jwks_uri") })
				}
			},
			wantValue: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rw func(string, []byte) []byte
			if tc.rewrite != nil {
				rw = tc.rewrite(t)
			}
			p := newProbe(t, jwtSim(t, rw), "janssen-global-token-revocation", nil)
			r := probe.Run(context.Background(), p)
			// Informational only: the verdict is the same in every case.
			if r.Result != verdict.Pass {
				t.Fatalf("got %s/%s: %s", r.Result, r.Reason, r.Detail)
			}
			assertAliveThenDead(t, r)
			if got := r.ResidualValiditySeconds != nil; got != tc.wantValue {
				t.Fatalf("residual validity reported = %v, want %v", got, tc.wantValue)
			}
			if tc.wantValue {
				if left := *r.ResidualValiditySeconds; left < 590 || left > 600 {
					t.Errorf("residual validity %.1fs, want about the 600s TTL", left)
				}
			}
			if r.ResidualValidityVerified != tc.verified {
				t.Errorf("verified = %v, want %v", r.ResidualValidityVerified, tc.verified)
			}
			notes := strings.Join(r.Notes, "\n")
			if (tc.note == "") != (len(r.Notes) == 0) || !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q, want one containing %q", r.Notes, tc.note)
			}
		})
	}
}

// TestResidualValidityOpaque: an opaque access token reports nothing.
func TestResidualValidityOpaque(t *testing.T) {
	_, base := sim(t)
	r := probe.Run(context.Background(), newProbe(t, base, "janssen-global-token-revocation", nil))
	if r.Result != verdict.Pass || r.ResidualValiditySeconds != nil || r.ResidualValidityVerified || len(r.Notes) > 0 {
		t.Fatalf("got %s/%s residual=%v verified=%v notes=%q", r.Result, r.Reason, r.ResidualValiditySeconds, r.ResidualValidityVerified, r.Notes)
	}
}
