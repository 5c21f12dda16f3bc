package webguard

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDefaultHosts(t *testing.T) {
	for _, tc := range []struct {
		listen   string
		yes, not []string
	}{
		{"127.0.0.1:9543", []string{"127.0.0.1:9543", "localhost:9543", "LOCALHOST", "[::1]:9543", "localhost.:1"}, []string{"evil.example:9543", "", "10.0.0.1:9543"}},
		{"[::1]:9543", []string{"[::1]:9543", "localhost:9543", "127.0.0.1:9543"}, []string{"evil.example"}},
		{":9543", []string{"localhost:9543", "127.0.0.1:9543"}, []string{"evil.example:9543", "localhost.evil.example"}},
		{"0.0.0.0:9543", []string{"127.0.0.1:9543"}, []string{"evil.example:9543"}},
		{"prober.internal:9543", []string{"prober.internal:9543", "Prober.Internal"}, []string{"localhost:9543", "127.0.0.1:9543", "evil.example"}},
		{"192.0.2.10:9543", []string{"192.0.2.10:9543"}, []string{"localhost:9543", "evil.example"}},
	} {
		h := NewHosts(DefaultHosts(tc.listen)...)
		for _, host := range tc.yes {
			if !h.Allowed(host) {
				t.Errorf("listen %s: Host %q refused", tc.listen, host)
			}
		}
		for _, host := range tc.not {
			if h.Allowed(host) {
				t.Errorf("listen %s: Host %q allowed", tc.listen, host)
			}
		}
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestGuard: the DNS-rebinding request (Host evil.example:PORT with a
// matching Origin) is refused on every guarded route, state changes need
// the same origin (scheme included), and the open paths answer any Host.
func TestGuard(t *testing.T) {
	const addr = "127.0.0.1:9543"
	var counted []string
	var logs logBuf
	ref := NewRefusals(slog.New(slog.NewTextHandler(&logs, nil)), time.Minute, func(h, r string) { counted = append(counted, h+"/"+r) })
	g := New(Options{
		Hosts:    NewHosts(append(DefaultHosts(addr), "prober.example.org")...),
		Open:     []string{"/metrics", "/-/healthy", "/backchannel-logout"},
		Refusals: ref,
		Handler: func(r *http.Request) string {
			if r.URL.Path == "/-/reload" {
				return HandlerReload
			}
			return HandlerStatus // run now too, here
		},
	})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })
	h := g.Wrap(ok)
	type req struct {
		name, method, path, host string
		headers                  map[string]string
		tls                      bool
		want                     int
	}
	o := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []req{
		{"curl reload", "POST", "/-/reload", addr, nil, false, 299},
		{"same-origin reload", "POST", "/-/reload", addr, o("Origin", "http://"+addr, "Sec-Fetch-Site", "same-origin"), false, 299},
		{"same-origin over TLS", "POST", "/-/reload", addr, o("Origin", "https://"+addr, "Sec-Fetch-Site", "same-origin"), true, 299},
		{"configured name", "POST", "/-/reload", "prober.example.org:9543", o("Origin", "http://prober.example.org:9543"), false, 299},
		{"DNS rebinding reload", "POST", "/-/reload", "evil.example:9543", o("Origin", "http://evil.example:9543", "Sec-Fetch-Site", "same-origin"), false, 421},
		{"DNS rebinding run now", "POST", "/probes/t/e/run", "evil.example:9543", o("Origin", "http://evil.example:9543"), false, 421},
		{"DNS rebinding /config", "GET", "/config", "evil.example:9543", nil, false, 421},
		{"DNS rebinding status page", "GET", "/", "evil.example:9543", nil, false, 421},
		{"cross-site form", "POST", "/-/reload", addr, o("Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), false, 403},
		{"same-site form", "POST", "/-/reload", addr, o("Origin", "http://other.localhost", "Sec-Fetch-Site", "same-site"), false, 403},
		{"old browser cross-site", "POST", "/-/reload", addr, o("Origin", "https://evil.example"), false, 403},
		{"null origin", "POST", "/-/reload", addr, o("Origin", "null"), false, 403},
		{"other scheme", "POST", "/-/reload", addr, o("Origin", "https://"+addr), false, 403},
		{"other scheme, Sec-Fetch-Site claims same-origin", "POST", "/-/reload", addr, o("Origin", "https://"+addr, "Sec-Fetch-Site", "same-origin"), false, 403},
		{"other port", "POST", "/-/reload", addr, o("Origin", "http://127.0.0.1:1"), false, 403},
		{"cross-site GET of a page is only a link", "GET", "/", addr, o("Sec-Fetch-Site", "cross-site"), false, 299},
		{"metrics by any name", "GET", "/metrics", "10.1.2.3:9543", nil, false, 299},
		{"healthy by any name", "GET", "/-/healthy", "evil.example", nil, false, 299},
		{"back-channel from the IdP", "POST", "/backchannel-logout", "prober.public.example", nil, false, 299},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Host = tc.host
		r.RemoteAddr = "192.0.2.7:4444"
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, rec.Code, tc.want, rec.Body)
		}
		if rec.Code != 299 && (rec.Header().Get("Cache-Control") != "no-store" || strings.Contains(rec.Body.String(), "evil")) {
			t.Errorf("%s: refusal headers %v body %q", tc.name, rec.Header(), rec.Body)
		}
	}
	if len(counted) != 11 || counted[0] != "reload/foreign_host" {
		t.Errorf("counted %v", counted)
	}
	// One line per handler and reason within the minute.
	if n := strings.Count(logs.String(), "request refused"); n != 3 {
		t.Errorf("%d log lines, want one per (handler, reason) seen:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `host=evil.example:9543`) || !strings.Contains(logs.String(), "remote=192.0.2.7") {
		t.Errorf("refusals lack context:\n%s", logs.String())
	}
}

// TestGuardBehindProxy: with --web.external-url, the proxy's https origin
// may change state although the daemon itself listens on plain HTTP.
func TestGuardBehindProxy(t *testing.T) {
	ext, _ := url.Parse("https://prober.example.com/")
	g := New(Options{Hosts: NewHosts(DefaultHosts("127.0.0.1:9543")...), ExternalURL: ext})
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) }))
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"prober.example.com", "https://prober.example.com", 299}, // the proxy keeps Host
		{"127.0.0.1:9543", "https://prober.example.com", 299},     // the proxy rewrites Host
		{"prober.example.com", "https://evil.example", 403},
	} {
		r := httptest.NewRequest("POST", "/-/reload", nil)
		r.Host = tc.host
		r.Header.Set("Origin", tc.origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("Host %s Origin %s: %d, want %d", tc.host, tc.origin, rec.Code, tc.want)
		}
	}
}

// TestRefusalsBounded: a storm writes one line per handler and reason per
// interval, and the next line says how many were not written; the counter
// sees them all.
func TestRefusalsBounded(t *testing.T) {
	var logs logBuf
	n := 0
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewRefusals(slog.New(slog.NewTextHandler(&logs, nil)), time.Minute, func(string, string) { n++ })
	f.now = func() time.Time { return now }
	r := httptest.NewRequest("POST", "/-/reload", nil)
	for i := 0; i < 1000; i++ {
		f.Refuse(r, HandlerReload, RateLimited)
		now = now.Add(10 * time.Millisecond)
	}
	now = now.Add(time.Minute)
	f.Refuse(r, HandlerReload, RateLimited)
	out := logs.String()
	if n != 1001 || strings.Count(out, "request refused") != 2 || !strings.Contains(out, "not_logged_since_last=999") {
		t.Fatalf("count %d, log:\n%s", n, out)
	}
	f.Refuse(r, HandlerBackchannel, InvalidToken, "why", strings.Repeat("k", 10000))
	if strings.Contains(logs.String(), strings.Repeat("k", maxLogged+1)) {
		t.Fatal("a long attribute was logged whole")
	}
	var nilRefusals *Refusals
	nilRefusals.Refuse(r, HandlerReload, RateLimited) // no panic
}
