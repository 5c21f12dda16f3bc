package backchannel_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/oauth"
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
		{"issued before the revocation", with(func(c jwt.MapClaims) { c["iat"] = now.Add(-time.Hour).Unix() }), 400, false},
		{"no jti", with(func(c jwt.MapClaims) { delete(c, "jti") }), 400, false},
		{"bad signature", sign(good(), other), 400, false},
		{"HS256 with the public key", hmacToken, 400, false},
		{"expired", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }), 400, false},
		{"no exp", with(func(c jwt.MapClaims) { delete(c, "exp") }), 400, false},
		{"nonce", with(func(c jwt.MapClaims) { c["nonce"] = "n" }), 400, false},
		{"no events", with(func(c jwt.MapClaims) { delete(c, "events") }), 400, false},
		{"wrong event", with(func(c jwt.MapClaims) { c["events"] = map[string]any{"urn:other": map[string]any{}} }), 400, false},
		{"logout event not an object", with(func(c jwt.MapClaims) { c["events"] = map[string]any{backchannel.LogoutEvent: 1} }), 400, false},
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
			w.Revoked(now)
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

// op is an identity provider for the tests: a signing key, its JWKS
// (counting the fetches) and a logout token maker.
type op struct {
	t       *testing.T
	key     *rsa.PrivateKey
	jwks    *httptest.Server
	fetches atomic.Int32
}

func newOP(t *testing.T) *op {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &op{t: t, key: key}
	o.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		o.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	}))
	t.Cleanup(o.jwks.Close)
	return o
}

// token is a logout token for CANARY01 (sub only unless sid is given),
// issued at iat.
func (o *op) token(jti string, iat time.Time, sid string) string {
	c := jwt.MapClaims{"iss": iss, "aud": "canary-app", "iat": iat.Unix(), "exp": iat.Add(2 * time.Minute).Unix(),
		"jti": jti, "sub": "CANARY01", "events": map[string]any{backchannel.LogoutEvent: map[string]any{}}}
	if sid != "" {
		c["sid"] = sid
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"], tok.Header["typ"] = "k1", "logout+jwt"
	s, err := tok.SignedString(o.key)
	if err != nil {
		o.t.Fatal(err)
	}
	return s
}

func (o *op) expect(recv *backchannel.Receiver, sid string) *backchannel.Wait {
	return recv.Expect(backchannel.Expectation{Issuer: iss, JWKS: o.jwks.URL, Audience: "canary-app", SID: sid, Sub: "CANARY01", HTTP: o.jwks.Client()})
}

func post(recv http.Handler, token string) int {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, backchannel.Path, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	recv.ServeHTTP(rec, req)
	return rec.Code
}

// refusals collects what the receiver reports as refused.
type refusals struct {
	mu   sync.Mutex
	list []string
}

func (r *refusals) add(_ *http.Request, reason, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, reason+": "+why)
}

func (r *refusals) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.list, "\n")
}

// TestReplayNeverSatisfiesACheck: a valid logout token from one run,
// replayed into the next run (which the provider never notified), counts for
// nothing there, whether the receiver still remembers its jti (refused as a
// replay) or not (a restart: refused as issued before that run's
// revocation). A duplicate delivery within one run is refused too.
func TestReplayNeverSatisfiesACheck(t *testing.T) {
	o := newOP(t)
	var ref refusals
	clock := time.Now()
	recv := backchannel.NewWithOptions(backchannel.Options{Refused: ref.add, Now: func() time.Time { return clock }})

	// Run 1: revoked at t0, notified (sub only, as some providers do).
	t0 := clock
	run1 := o.expect(recv, "S1")
	run1.Revoked(t0)
	tok := o.token("jti-1", t0, "")
	if code := post(recv, tok); code != 200 {
		t.Fatalf("run 1's notification: %d", code)
	}
	if _, ok := run1.Arrived(); !ok {
		t.Fatal("run 1's notification did not count")
	}
	if code := post(recv, tok); code != 400 {
		t.Fatalf("duplicate delivery: %d", code)
	}
	run1.Close()

	// Run 2, 20 s later (within the old 30 s window): the provider sends
	// nothing; the attacker replays run 1's token.
	clock = clock.Add(20 * time.Second)
	run2 := o.expect(recv, "S2")
	run2.Revoked(clock)
	if code := post(recv, tok); code != 400 {
		t.Fatalf("replay into run 2: %d", code)
	}
	if _, ok := run2.Arrived(); ok {
		t.Fatal("a replayed token satisfied run 2's back-channel check")
	}
	// A receiver that forgot the jti (restarted) still refuses it: it was
	// issued before run 2's revocation.
	fresh := backchannel.NewWithOptions(backchannel.Options{Refused: ref.add, Now: func() time.Time { return clock }})
	run2b := o.expect(fresh, "S2")
	run2b.Revoked(clock)
	if code := post(fresh, tok); code != 400 {
		t.Fatalf("replay after a restart: %d", code)
	}
	if _, ok := run2b.Arrived(); ok {
		t.Fatal("a token issued before the revocation satisfied the check")
	}
	got := ref.String()
	if strings.Count(got, "replayed_token") != 2 || strings.Count(got, "stale_token") != 1 {
		t.Fatalf("refusals:\n%s", got)
	}
	if strings.Contains(got, tok) || strings.Contains(got, tok[strings.LastIndex(tok, ".")+1:]) {
		t.Fatal("a refusal names the token")
	}
}

// TestOnlyTheRevocationsNotificationCounts: a token counts only if issued
// (less the skew) and received after the run's revoking request; one that
// arrives before the revocation is known is kept until then, since a
// provider may notify before it answers the revoking request.
func TestOnlyTheRevocationsNotificationCounts(t *testing.T) {
	o := newOP(t)
	t0 := time.Now()
	for _, tc := range []struct {
		name             string
		issued, received time.Time
		revoked          time.Time
		want             bool
	}{
		{"issued and received after", t0, t0.Add(time.Second), t0, true},
		{"issued within the skew before (whole seconds, slow clock)", t0.Add(-4 * time.Second), t0.Add(time.Second), t0, true},
		{"issued well before", t0.Add(-10 * time.Second), t0.Add(time.Second), t0, false},
		{"received before the revoking request was sent", t0, t0.Add(-time.Second), t0, false},
		{"received before Revoked was called, after the request", t0, t0.Add(time.Millisecond), t0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := t0.Add(-10 * time.Second) // the positive control registers the wait
			recv := backchannel.NewWithOptions(backchannel.Options{Now: func() time.Time { return clock }})
			w := o.expect(recv, "S1")
			defer w.Close()
			clock = tc.received
			if code := post(recv, o.token("j-"+tc.name, tc.issued, "S1")); code != 200 {
				t.Fatalf("status %d", code)
			}
			if _, ok := w.Arrived(); ok {
				t.Fatal("a token counted before the revocation")
			}
			w.Revoked(tc.revoked)
			if _, ok := w.Arrived(); ok != tc.want {
				t.Fatalf("arrived = %v, want %v", ok, tc.want)
			}
		})
	}
	t.Run("session bound", func(t *testing.T) {
		recv := backchannel.New()
		w := o.expect(recv, "S1")
		w.Revoked(time.Now())
		if code := post(recv, o.token("j-other-sid", time.Now(), "S-other")); code != 200 {
			t.Fatalf("a valid token for another session: %d", code)
		}
		if _, ok := w.Arrived(); ok {
			t.Fatal("a token for another session counted")
		}
	})
}

// TestJWKSIsCached: anonymous POSTs (forged signatures, unknown key ids)
// while a run waits cost the identity provider at most two JWKS fetches,
// not one each.
func TestJWKSIsCached(t *testing.T) {
	o := newOP(t)
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jc := oauth.NewJWKSCache()
	fixed := time.Now()
	jc.Now = func() time.Time { return fixed } // within one MinRefetch
	var ref refusals
	recv := backchannel.NewWithOptions(backchannel.Options{JWKS: jc, Refused: ref.add})
	w := o.expect(recv, "S1")
	defer w.Close()
	w.Revoked(time.Now())
	const posts = 1000
	var wg sync.WaitGroup
	var forged []string
	for i := 0; i < posts; i++ {
		c := jwt.MapClaims{"iss": iss, "aud": "canary-app", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
			"jti": fmt.Sprint(i), "sub": "CANARY01", "events": map[string]any{backchannel.LogoutEvent: map[string]any{}}}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = "k1"
		if i%2 == 1 {
			tok.Header["kid"] = fmt.Sprintf("rotated-%d", i) // a kid miss each time
		}
		s, err := tok.SignedString(forger)
		if err != nil {
			t.Fatal(err)
		}
		forged = append(forged, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := post(recv, s); code != 400 {
				t.Errorf("forged token: %d", code)
			}
		}()
		if i%50 == 49 {
			wg.Wait() // bounded concurrency
		}
	}
	wg.Wait()
	if n := o.fetches.Load(); n < 1 || n > 2 {
		t.Fatalf("%d anonymous POSTs made %d JWKS fetches; want 1 or 2", posts, n)
	}
	if _, ok := w.Arrived(); ok {
		t.Fatal("a forged token counted")
	}
	got := ref.String()
	if strings.Count(got, "invalid_token") != posts {
		t.Fatalf("refusals: %d lines", strings.Count(got, "\n")+1)
	}
	for _, tok := range forged[:10] { // what is refused is never told back
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(got, part) {
				t.Fatalf("a refusal names a part of the token: %.40s…", part)
			}
		}
	}
	// The genuine notification still verifies from the cache.
	if code := post(recv, o.token("genuine", time.Now(), "S1")); code != 200 {
		t.Fatalf("genuine token: %d", code)
	}
	if n := o.fetches.Load(); n > 2 {
		t.Fatalf("the genuine token refetched the JWKS (%d fetches)", n)
	}
}

// TestJWKSUnavailable: when the issuer's keys cannot be read, a token is
// refused (never counted unverified) with its own reason.
func TestJWKSUnavailable(t *testing.T) {
	o := newOP(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 503) }))
	t.Cleanup(down.Close)
	var ref refusals
	recv := backchannel.NewWithOptions(backchannel.Options{Refused: ref.add})
	w := recv.Expect(backchannel.Expectation{Issuer: iss, JWKS: down.URL, Audience: "canary-app", Sub: "CANARY01", HTTP: down.Client()})
	defer w.Close()
	w.Revoked(time.Now())
	if code := post(recv, o.token("j", time.Now(), "")); code != 400 {
		t.Fatalf("status %d", code)
	}
	if _, ok := w.Arrived(); ok || !strings.HasPrefix(ref.String(), "jwks_unavailable: ") {
		t.Fatalf("arrived %v, refusals %q", ok, ref.String())
	}
}
