package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer serves the current keys (by kid) with the given Cache-Control,
// or 500 while down, and counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	cc      string
	down    bool
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{keys: map[string]*rsa.PrivateKey{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", 500)
			return
		}
		var keys []map[string]string
		for kid, k := range s.keys {
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		if s.cc != "" {
			w.Header().Set("Cache-Control", s.cc)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) addKey(t *testing.T, kid string) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.keys[kid] = k
	s.mu.Unlock()
	return k
}

func signed(t *testing.T, kid string, k *rsa.PrivateKey) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "x"})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWKSCache: a set is reused while fresh (max-age held between the
// bounds), a rotated key is found by a refetch once MinRefetch has passed
// (not before), a failed fetch keeps the old set, and with no set a failed
// fetch is not retried within MinRefetch.
func TestJWKSCache(t *testing.T) {
	srv := newJWKSServer(t)
	k1 := srv.addKey(t, "k1")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	jc := NewJWKSCache()
	jc.Now = func() time.Time { return now }
	verify := func(tok string) error {
		_, err := jwt.Parse(tok, jc.Keyfunc(context.Background(), srv.Client(), srv.URL), jwt.WithValidMethods(SignatureAlgs))
		return err
	}
	step := func(what string, tok string, wantOK bool, wantFetches int32) {
		t.Helper()
		err := verify(tok)
		if (err == nil) != wantOK || srv.fetches.Load() != wantFetches {
			t.Fatalf("%s: err %v, %d fetches; want ok=%v, %d fetches", what, err, srv.fetches.Load(), wantOK, wantFetches)
		}
	}
	srv.cc = "max-age=5" // below MinAge: held a minute
	step("first token", signed(t, "k1", k1), true, 1)
	now = now.Add(30 * time.Second)
	step("within a minute", signed(t, "k1", k1), true, 1)
	now = now.Add(31 * time.Second)
	step("stale after a minute", signed(t, "k1", k1), true, 2)

	k2 := srv.addKey(t, "k2") // rotation
	now = now.Add(10 * time.Second)
	step("a new kid within MinRefetch of the last fetch", signed(t, "k2", k2), false, 2)
	now = now.Add(25 * time.Second)
	step("a new kid after MinRefetch", signed(t, "k2", k2), true, 3)

	srv.mu.Lock()
	srv.down = true
	srv.mu.Unlock()
	now = now.Add(2 * time.Minute)
	step("IdP down: the old set still verifies", signed(t, "k1", k1), true, 4)
	step("IdP down: not asked again at once", signed(t, "k1", k1), true, 4)

	empty := NewJWKSCache()
	empty.Now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		_, err := jwt.Parse(signed(t, "k1", k1), empty.Keyfunc(context.Background(), srv.Client(), srv.URL), jwt.WithValidMethods(SignatureAlgs))
		if !errors.Is(err, ErrJWKSUnavailable) {
			t.Fatalf("no set, IdP down: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 5 {
		t.Fatalf("a failed fetch was retried within MinRefetch: %d fetches", n)
	}
}

func TestMaxAge(t *testing.T) {
	for cc, want := range map[string]time.Duration{"": -1, "max-age=300": 300 * time.Second, "public, max-age=60": time.Minute,
		"no-store": 0, "no-cache, max-age=600": 0, "max-age=nonsense": -1} {
		if got := maxAge(cc); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", cc, got, want)
		}
	}
}
