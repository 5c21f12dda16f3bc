package daemon_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// instant is a run function that passes at once (no identity provider).
func instant(_ context.Context, p *probe.Probe) *verdict.Run {
	return &verdict.Run{ID: fmt.Sprintf("run-%s-%d", strings.ReplaceAll(p.ID(), "/", "-"), time.Now().UnixNano()),
		Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass, Reason: verdict.ReasonNone, Started: time.Now()}
}

// served is a daemon serving on a real loopback listener, with the status
// page mounted as `revprober run` mounts it.
type served struct {
	d    *daemon.Daemon
	addr string // host:port of the main listener
	logs *testenv.SyncBuffer
	runs atomic.Int32
}

// serve starts a daemon on the demo config (interval as given) with o's
// HTTP options, on a fake clock unless o has one; runs counts the runs.
func serve(t *testing.T, interval string, o daemon.Options) *served {
	t.Helper()
	s := &served{logs: &testenv.SyncBuffer{}}
	yml := demo.ConfigYAML(demo.Params{SimURL: "http://127.0.0.1:1", Interval: interval, Timeout: "5s", Deadline: "2s"})
	o.Load = func() (*config.Config, error) { return config.Parse("revprober.yml", yml, opts()) }
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	run := o.Run
	if run == nil {
		run = instant
	}
	o.Run = func(ctx context.Context, p *probe.Probe) *verdict.Run { s.runs.Add(1); return run(ctx, p) }
	if o.HTTP.Listen == "" {
		o.HTTP.Listen = "127.0.0.1:0"
	}
	if o.Clock == nil {
		// A clock that stands still: no scheduled run comes between a
		// test's requests (a run now would find the canary busy).
		o.Clock = clockwork.NewFakeClockAt(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	}
	d, err := daemon.New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.d = d
	page := status.New(status.Options{
		Probes: d.Probes,
		Config: func() ([]byte, string, string, error) {
			c := d.Config()
			y, err := c.Redacted()
			return y, c.Path, c.Digest, err
		},
		RunNow: d.Sched.RunNow,
	})
	page.Register(d.Mux)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, ready) }()
	select {
	case s.addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", s.logs.String())
		}
	})
	return s
}

// client talks to one daemon; host, when set, replaces the Host header.
type client struct {
	t    *testing.T
	base string // scheme://addr
	c    *http.Client
	user string // basic auth user:password, or ""
}

type answer struct {
	code int
	body string
	hdr  http.Header
}

func (c *client) do(method, path, host string, hdr map[string]string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if u, p, ok := strings.Cut(c.user, ":"); ok {
		req.SetBasicAuth(u, p)
	}
	if method == http.MethodPost && path == backchannel.Path {
		req.Body = io.NopCloser(strings.NewReader("logout_token=not-a-jwt"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

const runNowPath = "/probes/janssen-sim/global-token-revocation/run"

// TestWithoutWebConfig pins the behaviour without --web.config.file, as
// docs/security.md states it: plain HTTP, no auth; the read-only
// endpoints answer any Host (Prometheus scrapes and Kubernetes probes by
// IP); the pages, /config, run now and /-/reload answer only the names the
// daemon is known by, so the DNS-rebinding request (Host evil.example:PORT
// with a matching Origin) is refused; state changes need the same origin,
// scheme included.
func TestWithoutWebConfig(t *testing.T) {
	s := serve(t, "1h", daemon.Options{})
	_, port, _ := net.SplitHostPort(s.addr)
	c := &client{t: t, base: "http://" + s.addr, c: noRedirects(&http.Client{})}
	evil := "evil.example:" + port
	rebind := map[string]string{"Origin": "http://" + evil}

	for _, tc := range []struct {
		name, method, path, host string
		hdr                      map[string]string
		want                     int
	}{
		{"metrics by IP", "GET", "/metrics", "10.20.30.40:" + port, nil, 200},
		{"healthy by any name", "GET", "/-/healthy", evil, nil, 200},
		{"ready by any name", "GET", "/-/ready", evil, nil, 200},
		{"DNS rebinding: run now", "POST", runNowPath, evil, rebind, http.StatusMisdirectedRequest},
		{"DNS rebinding: /config", "GET", "/config", evil, nil, http.StatusMisdirectedRequest},
		{"DNS rebinding: reload", "POST", "/-/reload", evil, rebind, http.StatusMisdirectedRequest},
		{"DNS rebinding: status page", "GET", "/", evil, nil, http.StatusMisdirectedRequest},
		{"cross-site form: run now", "POST", runNowPath, "", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"Origin null: reload", "POST", "/-/reload", "", map[string]string{"Origin": "null"}, 403},
		{"https Origin on http: run now", "POST", runNowPath, "", map[string]string{"Origin": "https://" + s.addr}, 403},
		{"status page", "GET", "/", "", nil, 200},
		{"config", "GET", "/config", "", nil, 200},
		{"config as localhost", "GET", "/config", "localhost:" + port, nil, 200},
		{"same-origin run now", "POST", runNowPath, "", map[string]string{"Origin": "http://" + s.addr, "Sec-Fetch-Site": "same-origin"}, 303},
		{"reload by curl", "POST", "/-/reload", "", nil, 200},
	} {
		a := c.do(tc.method, tc.path, tc.host, tc.hdr)
		if a.code != tc.want {
			t.Errorf("%s: %d, want %d: %.200s", tc.name, a.code, tc.want, a.body)
		}
		if tc.want >= 400 && (strings.Contains(a.body, "janssen") || strings.Contains(a.body, "<secret>")) {
			t.Errorf("%s: a refusal shows the page: %.200s", tc.name, a.body)
		}
	}
	// A refusal's log line names no credential and no query string.
	c.do("GET", "/config?access_token=query-secret-123", evil, map[string]string{"Authorization": "Basic c3JlOmhlYWRlci1zZWNyZXQ="})
	if l := s.logs.String(); strings.Contains(l, "query-secret-123") || strings.Contains(l, "c3JlOmhlYWRlci1zZWNyZXQ") || strings.Contains(l, "header-secret") {
		t.Errorf("a refusal logged a credential:\n%s", l)
	}
	if n := s.runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1 (only the same-origin run now)", n)
	}
	if n := refused(t, s.d, "run_now", "foreign_host"); n != 1 {
		t.Errorf("refused run_now/foreign_host = %v", n)
	}
	if l := s.logs.String(); !strings.Contains(l, `msg="request refused" handler=run_now reason=foreign_host`) ||
		!strings.Contains(l, "host=evil.example:"+port) {
		t.Errorf("the DNS-rebinding run now is not in the log:\n%s", l)
	}
}

// TestWebConfigTLSAndBasicAuth: with --web.config.file (the toolkit's TLS
// and basic auth), every endpoint of the main listener refuses a request
// without credentials and serves one with them, over TLS only; the
// back-channel receiver, on a listener of its own with TLS and no basic
// auth (an IdP cannot send it), answers logout tokens, and nothing else.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	tf := testenv.NewTLSFiles(t, dir)
	main := writeFile(t, dir, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  sre: %q\n",
		tf.ServerCert, tf.ServerKey, testenv.BcryptHash(t, "correct horse")))
	bc := writeFile(t, dir, "web-backchannel.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", tf.ServerCert, tf.ServerKey))
	bcAddr := testenv.FreeAddr(t)
	s := serve(t, "1h", daemon.Options{HTTP: daemon.HTTPOptions{WebConfigFile: main, BackchannelListen: bcAddr, BackchannelWebConfigFile: bc}})
	tlsClient := func() *http.Client {
		return noRedirects(&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tf.Pool}}})
	}
	anon := &client{t: t, base: "https://" + s.addr, c: tlsClient()}
	wrong := &client{t: t, base: "https://" + s.addr, c: tlsClient(), user: "sre:wrong"}
	sre := &client{t: t, base: "https://" + s.addr, c: tlsClient(), user: "sre:correct horse"}

	same := map[string]string{"Origin": "https://" + s.addr, "Sec-Fetch-Site": "same-origin"}
	endpoints := []struct {
		method, path string
		hdr          map[string]string
		want         int // with credentials
	}{
		{"GET", "/", nil, 200},
		{"GET", "/config", nil, 200},
		{"GET", "/probes/janssen-sim/global-token-revocation", nil, 200},
		{"GET", "/metrics", nil, 200},
		{"GET", "/-/healthy", nil, 200},
		{"GET", "/-/ready", nil, 200},
		{"POST", "/-/reload", same, 200},
		{"POST", runNowPath, same, 303},
		{"POST", backchannel.Path, nil, 404}, // served on its own listener only
	}
	for _, e := range endpoints {
		for _, c := range []*client{anon, wrong} {
			if a := c.do(e.method, e.path, "", e.hdr); a.code != http.StatusUnauthorized || strings.Contains(a.body, "janssen") {
				t.Errorf("%s %s as %q: %d %.100s", e.method, e.path, c.user, a.code, a.body)
			}
		}
		if a := sre.do(e.method, e.path, "", e.hdr); a.code != e.want {
			t.Errorf("%s %s with credentials: %d, want %d: %.200s", e.method, e.path, a.code, e.want, a.body)
		}
	}
	// The run page of the run just made, too.
	a := sre.do("POST", "/probes/janssen-rfc7009-sim/rfc7009-refresh/run", "", same)
	if a.code != 303 {
		t.Fatalf("run now: %d", a.code)
	}
	loc := a.hdr.Get("Location")
	if a := anon.do("GET", loc, "", nil); a.code != 401 {
		t.Errorf("GET %s without credentials: %d", loc, a.code)
	}
	if a := sre.do("GET", loc, "", nil); a.code != 200 {
		t.Errorf("GET %s: %d", loc, a.code)
	}
	// Plain HTTP to the TLS listener gets nothing.
	plain := &client{t: t, base: "http://" + s.addr, c: &http.Client{}, user: "sre:correct horse"}
	if a := plain.do("GET", "/metrics", "", nil); a.code != http.StatusBadRequest || strings.Contains(a.body, "revprober_") {
		t.Errorf("plain HTTP: %d %.100s", a.code, a.body)
	}
	// The back-channel listener: TLS, no basic auth, the receiver only.
	idp := &client{t: t, base: "https://" + bcAddr, c: tlsClient()}
	if a := idp.do("POST", backchannel.Path, "", nil); a.code != 400 || !strings.Contains(a.body, "invalid_request") {
		t.Errorf("logout token on the back-channel listener: %d %s", a.code, a.body)
	}
	for _, p := range []string{"/", "/metrics", "/config"} {
		if a := idp.do("GET", p, "", nil); a.code != 404 {
			t.Errorf("GET %s on the back-channel listener: %d", p, a.code)
		}
	}
}

// TestWebConfigClientCertificates: client_auth_type RequireAndVerifyClientCert
// refuses a client without a certificate from the configured CA.
func TestWebConfigClientCertificates(t *testing.T) {
	dir := t.TempDir()
	tf := testenv.NewTLSFiles(t, dir)
	web := writeFile(t, dir, "web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n",
		tf.ServerCert, tf.ServerKey, tf.CAFile))
	s := serve(t, "1h", daemon.Options{HTTP: daemon.HTTPOptions{WebConfigFile: web}})
	without := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tf.Pool}}}
	if resp, err := without.Get("https://" + s.addr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: %d", resp.StatusCode)
	}
	with := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tf.Pool, Certificates: []tls.Certificate{tf.Client}}}}
	resp, err := with.Get("https://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with a client certificate: %d", resp.StatusCode)
	}
}

// TestBadWebConfigs: a web config the toolkit refuses, and a back-channel
// listener that would ask the IdP for basic auth, stop the daemon at start.
func TestBadWebConfigs(t *testing.T) {
	dir := t.TempDir()
	tf := testenv.NewTLSFiles(t, dir)
	withUsers := writeFile(t, dir, "users.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  idp: %q\n",
		tf.ServerCert, tf.ServerKey, testenv.BcryptHash(t, "x")))
	for _, tc := range []struct {
		name string
		http daemon.HTTPOptions
		want string
	}{
		{"plain-text password", daemon.HTTPOptions{WebConfigFile: writeFile(t, dir, "plain.yml", "basic_auth_users:\n  sre: secret\n")}, "--web.config.file"},
		{"missing certificate", daemon.HTTPOptions{WebConfigFile: writeFile(t, dir, "nocert.yml", "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n")}, "--web.config.file"},
		{"basic auth on the back-channel listener", daemon.HTTPOptions{BackchannelListen: "127.0.0.1:0", BackchannelWebConfigFile: withUsers}, "basic_auth_users"},
		{"back-channel config without its listener", daemon.HTTPOptions{BackchannelWebConfigFile: withUsers}, "--web.backchannel-listen-address"},
		{"external URL", daemon.HTTPOptions{ExternalURL: "prober.example.com"}, "--web.external-url"},
	} {
		_, err := daemon.New(daemon.Options{Load: func() (*config.Config, error) {
			return config.Parse("revprober.yml", demo.ConfigYAML(demo.Params{SimURL: "http://127.0.0.1:1"}), opts())
		}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HTTP: tc.http})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// refused is revprober_http_requests_refused_total{handler,reason}.
func refused(t *testing.T, d *daemon.Daemon, handler, reason string) float64 {
	t.Helper()
	mfs, err := d.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "revprober_http_requests_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["handler"] == handler && l["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no revprober_http_requests_refused_total{handler=%q,reason=%q}", handler, reason)
	return 0
}

// TestReloadStorm: 1,000 POST /-/reload while the (fake) clock runs 40 s
// on: every probe runs on every tick of its grid, the reloads beyond the
// rate limit are refused, and the log gets one line for the refusals and
// one "config loaded" (at start), not one per request.
func TestReloadStorm(t *testing.T) {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	var mu sync.Mutex
	ticks := map[string][]time.Time{}
	rec := schedule.RecorderFunc(func(r *verdict.Run) {
		if r.Tick != nil {
			mu.Lock()
			ticks[r.Target+"/"+r.Endpoint] = append(ticks[r.Target+"/"+r.Endpoint], *r.Tick)
			mu.Unlock()
		}
	})
	const interval = 10 * time.Second
	s := serve(t, "10s", daemon.Options{Clock: clock, Recorders: []schedule.Recorder{rec},
		HTTP: daemon.HTTPOptions{Limits: daemon.Limits{ReloadEvery: time.Hour, ReloadBurst: 2}}})
	c := &client{t: t, base: "http://" + s.addr, c: &http.Client{}}
	codes := map[int]int{}
	const storm = 1000
	for i := 0; i < storm; i++ {
		codes[c.do("POST", "/-/reload", "", nil).code]++
		clock.Advance(40 * time.Millisecond)
	}
	end := clock.Now()
	if codes[200] != 2 || codes[429] != storm-2 {
		t.Fatalf("answers %v; want 2 reloads and %d refused", codes, storm-2)
	}

	want := map[string][]time.Time{}
	total := 0
	for _, p := range s.d.Probes() {
		for tk := schedule.FirstTick(start.Add(50*time.Millisecond), p.ID(), interval); !tk.After(end); tk = tk.Add(interval) {
			want[p.ID()] = append(want[p.ID()], tk)
			total++
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, ts := range ticks {
			n += len(ts)
		}
		mu.Unlock()
		if n >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // awaiting gocron's last hand-overs, bounded
	}
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		got := append([]time.Time(nil), ticks[id]...)
		sort.Slice(got, func(i, j int) bool { return got[i].Before(got[j]) })
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s ran on ticks %v; want %v", id, got, w)
		}
	}
	logs := s.logs.String()
	if n := strings.Count(logs, `msg="request refused"`); n != 1 {
		t.Errorf("%d refusal lines for %d refused reloads, want 1", n, storm-2)
	}
	if n := strings.Count(logs, `msg="config loaded"`); n != 1 {
		t.Errorf("%d \"config loaded\" lines, want 1 (the start; the reloads changed nothing)", n)
	}
	if n := refused(t, s.d, "reload", "rate_limited"); n != storm-2 {
		t.Errorf("refused reload/rate_limited = %v, want %d", n, storm-2)
	}
}

// closedByServer reads conn until the server closes it (bounded by 10 s,
// which fails the test) and returns what it read.
func closedByServer(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open (read %q)", b)
	}
	return string(b)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSlowClients: a header sent byte by byte (slowloris), a body sent
// slowly and an idle keep-alive connection are all closed by the server
// at its limits, on a real listener.
func TestSlowClients(t *testing.T) {
	s := serve(t, "1h", daemon.Options{HTTP: daemon.HTTPOptions{Limits: daemon.Limits{
		ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}}})

	t.Run("header never finished", func(t *testing.T) {
		conn := dial(t, s.addr)
		if _, err := io.WriteString(conn, "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		if got := closedByServer(t, conn); strings.Contains(got, "Healthy") {
			t.Fatalf("answered a request whose header never ended: %q", got)
		}
	})

	t.Run("body at a byte per 50 ms", func(t *testing.T) {
		conn := dial(t, s.addr)
		const size = 10000
		if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", backchannel.Path, size); err != nil {
			t.Fatal(err)
		}
		var sent atomic.Int32
		stop := make(chan struct{})
		go func() {
			tick := time.NewTicker(50 * time.Millisecond) // the slow client's pace
			defer tick.Stop()
			for sent.Load() < size {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
				sent.Add(1)
			}
		}()
		got := closedByServer(t, conn)
		close(stop)
		if n := sent.Load(); n >= size {
			t.Fatalf("the server waited for the whole slow body (%d bytes): %q", n, got)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		conn := dial(t, s.addr)
		if _, err := io.WriteString(conn, "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("first request: %d close=%v", resp.StatusCode, resp.Close)
		}
		closedByServer(t, conn)
	})
}

// TestMaxConnections: past the limit, a connection waits (in the kernel's
// accept queue) until one of the open ones closes.
func TestMaxConnections(t *testing.T) {
	s := serve(t, "1h", daemon.Options{HTTP: daemon.HTTPOptions{Limits: daemon.Limits{MaxConnections: 2}}})
	get := func(conn net.Conn, deadline time.Duration) (*http.Response, error) {
		if _, err := io.WriteString(conn, "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(deadline))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	a, b, c := dial(t, s.addr), dial(t, s.addr), dial(t, s.addr)
	for _, conn := range []net.Conn{a, b} {
		if resp, err := get(conn, 10*time.Second); err != nil || resp.StatusCode != 200 {
			t.Fatalf("one of the first two connections: %v", err)
		}
	}
	// A window in which nothing may happen: c must not be served while a
	// and b are open (a slow machine only makes this pass more surely).
	if resp, err := get(c, 300*time.Millisecond); err == nil {
		t.Fatalf("a third connection was served past the limit of 2: %d", resp.StatusCode)
	}
	a.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the waiting connection after one closed: %v", err)
	}
	resp.Body.Close()
}

// TestUnreachableBackchannelIsWarned: a probe that waits for back-channel
// logout while the main listener demands basic auth or a client
// certificate, and no back-channel listener is configured, is a warning
// (its runs would fail for want of a notification turned away at the
// door); with the listener, or without such a web config, it is not.
func TestUnreachableBackchannelIsWarned(t *testing.T) {
	dir := t.TempDir()
	tf := testenv.NewTLSFiles(t, dir)
	cfg := []byte(strings.Join([]string{
		"targets:",
		"  - name: kc",
		"    issuer: http://127.0.0.1:1/realms/x",
		"    admin_client: {client_id: a, client_secret: s}",
		"    login:",
		"      method: authorization_code",
		"      redirect_uri: http://127.0.0.1:1/cb",
		"      backchannel_logout_uri: https://prober.example.com/backchannel-logout",
		"      client: {client_id: app, client_secret: s}",
		"    canary: {username: u, password: p}",
		"    endpoints:",
		"      - driver: end-session",
	}, "\n"))
	tlsOnly := writeFile(t, dir, "tls.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", tf.ServerCert, tf.ServerKey))
	users := writeFile(t, dir, "users.yml", fmt.Sprintf("basic_auth_users:\n  sre: %q\n", testenv.BcryptHash(t, "x")))
	certs := writeFile(t, dir, "certs.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n",
		tf.ServerCert, tf.ServerKey, tf.CAFile))
	for _, tc := range []struct {
		name string
		http daemon.HTTPOptions
		warn bool
	}{
		{"no web config", daemon.HTTPOptions{}, false},
		{"TLS only", daemon.HTTPOptions{WebConfigFile: tlsOnly}, false},
		{"basic auth", daemon.HTTPOptions{WebConfigFile: users}, true},
		{"client certificates", daemon.HTTPOptions{WebConfigFile: certs}, true},
		{"basic auth, receiver on its own listener", daemon.HTTPOptions{WebConfigFile: users, BackchannelListen: "127.0.0.1:0"}, false},
	} {
		var logs testenv.SyncBuffer
		_, err := daemon.New(daemon.Options{Load: func() (*config.Config, error) { return config.Parse("revprober.yml", cfg, opts()) },
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), HTTP: tc.http})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := strings.Contains(logs.String(), "back-channel logout tokens cannot reach the prober"); got != tc.warn {
			t.Errorf("%s: warned %v, want %v:\n%s", tc.name, got, tc.warn, logs.String())
		}
	}
}

// A scrape that accepts gzip gets it: the exposition of a 10,000-probe
// replica is about 30 times smaller compressed.
func TestMetricsGzip(t *testing.T) {
	s := serve(t, "1h", daemon.Options{})
	req, err := http.NewRequest("GET", "http://"+s.addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	// DisableCompression: the transport must not ask for and undo gzip
	// itself, or the test could not see what the server sent.
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "revprober_runs_total{") {
		t.Errorf("gunzipped /metrics has no revprober_runs_total:\n%.300s", body)
	}
}
