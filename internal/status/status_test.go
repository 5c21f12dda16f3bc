package status_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/all"
)

// sniffer records every token the simulator hands out, so a test can
// search pages for them.
type sniffer struct {
	next   http.RoundTripper
	mu     sync.Mutex
	tokens map[string]bool
}

var tokenField = regexp.MustCompile(`"(?:access_token|refresh_token|id_token)"\s*:\s*"([^"]+)"`)

func (s *sniffer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	s.mu.Lock()
	for _, m := range tokenField.FindAllSubmatch(b, -1) {
		s.tokens[string(m[1])] = true
	}
	s.mu.Unlock()
	return resp, nil
}

// setup compiles the demo config against a test simulator, with a token
// sniffer on every probe's transport.
func setup(t *testing.T, faults ...string) (*config.Config, []*probe.Probe, *sniffer, *idpsim.Server) {
	t.Helper()
	sim, base := probetest.Sim(t, faults...)
	cfg, err := demo.Config(demo.Params{SimURL: base, Deadline: "400ms"}, config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	probes, err := probe.Compile(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sn := &sniffer{tokens: map[string]bool{}}
	for _, p := range probes {
		sn.next = p.Transport
		p.Transport = sn
	}
	return cfg, probes, sn, sim
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func post(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
	return rec
}

func TestPageListsProbesAndVerdicts(t *testing.T) {
	_, probes, _, sim := setup(t)
	page := status.New(status.Options{Probes: func() []*probe.Probe { return probes }})
	h := page.Handler()

	code, body := get(t, h, "/")
	if code != 200 || strings.Count(body, `class="probe"`) != len(probes) || !strings.Contains(body, "NO RUN YET") {
		t.Fatalf("before any run: %d\n%s", code, body)
	}
	pass := probe.Run(context.Background(), probes[0])
	page.Record(pass)
	sim.SetFaults(idpsim.Faults{IgnoreRevocation: true})
	fail := probe.Run(context.Background(), probes[1])
	if pass.Result != verdict.Pass || fail.Result != verdict.Fail {
		t.Fatalf("runs: %s/%s %s/%s", pass.Result, pass.Reason, fail.Result, fail.Reason)
	}
	page.Record(fail)

	_, body = get(t, h, "/")
	for _, want := range []string{
		`data-probe="` + probes[0].ID() + `" data-result="pass"`,
		`data-probe="` + probes[1].ID() + `" data-result="fail"`,
		`<span class="badge fail">FAIL</span> <span class="small">` + string(fail.Reason),
		`href="/runs/` + pass.ID + `"`,
		`<meta name="viewport"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Failing probes come first.
	if strings.Index(body, `data-result="fail"`) > strings.Index(body, `data-result="pass"`) {
		t.Error("the failing probe is not listed first")
	}
	code, body = get(t, h, "/probes/"+probes[1].ID())
	if code != 200 || !strings.Contains(body, fail.ID) {
		t.Fatalf("probe page: %d", code)
	}
}

// TestRunPageHasNoSecret: a real run's trace page shows steps, checks and
// requests, and no token, client secret or password appears anywhere,
// even when planted in the run's text.
func TestRunPageHasNoSecret(t *testing.T) {
	_, probes, sn, _ := setup(t)
	page := status.New(status.Options{Probes: func() []*probe.Probe { return probes }})
	run := probe.Run(context.Background(), probes[0])
	if run.Result != verdict.Pass {
		t.Fatalf("%s/%s: %s", run.Result, run.Reason, run.Detail)
	}
	var jwt string
	for tok := range sn.tokens {
		if strings.HasPrefix(tok, "eyJ") {
			jwt = tok
		}
	}
	// Plant secrets where a careless driver might leave them.
	run.Detail = "upstream said: Authorization: Bearer abcdefghijklmnop and " + jwt
	run.Requests = append(run.Requests, verdict.Request{Step: "verify", Method: "GET", URL: "https://idp.example/userinfo?access_token=" + jwt, Status: 401})
	run.Steps[0].Error = "token=" + jwt
	page.Record(run)

	code, body := get(t, page.Handler(), "/runs/"+run.ID)
	if code != 200 {
		t.Fatalf("%d", code)
	}
	for _, want := range []string{"positive_control", "introspection", `id="requests"`, "POST", "/jans-auth/restv1/token"} {
		if !strings.Contains(body, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if len(sn.tokens) < 3 {
		t.Fatalf("sniffed only %d tokens", len(sn.tokens))
	}
	secrets := []string{"admin-secret", "canary-secret", "canary-password-01", "abcdefghijklmnop"}
	for tok := range sn.tokens {
		secrets = append(secrets, tok)
	}
	for _, s := range secrets {
		if strings.Contains(body, s) || strings.Contains(body, url.QueryEscape(s)) {
			t.Errorf("the trace page shows a secret: %.20s…", s)
		}
	}
	if code, _ := get(t, page.Handler(), "/runs/no-such-run"); code != 404 {
		t.Fatalf("unknown run: %d", code)
	}
}

func TestRunNowBusyAndRateLimited(t *testing.T) {
	_, probes, _, _ := setup(t)
	lc := schedule.NewLocalCoordinator()
	sched, err := schedule.New(schedule.Options{Coordinator: lc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Shutdown()
	if err := sched.Load(probes); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var page *status.Page
	var refused []string
	page = status.New(status.Options{
		Probes:  func() []*probe.Probe { return probes },
		RunNow:  sched.RunNow,
		Now:     func() time.Time { return now },
		Refused: func(_ *http.Request, reason string) { refused = append(refused, reason) },
	})
	h := page.Handler()
	p := probes[0]
	path := "/probes/" + p.ID() + "/run"

	// A run holds the canary: refused at once, with a clear message.
	release, ok := lc.TryAcquire(p)
	if !ok {
		t.Fatal("canary not free")
	}
	rec := post(t, h, path)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "canary is busy") {
		t.Fatalf("busy: %d %s", rec.Code, rec.Body)
	}
	release()

	// Free: the run happens and the browser is sent to its trace.
	rec = post(t, h, path)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/runs/") {
		t.Fatalf("run now: %d %s", rec.Code, rec.Body)
	}
	code, body := get(t, h, rec.Header().Get("Location"))
	if code != 200 || !strings.Contains(body, "Run started on request") {
		t.Fatalf("trace after run now: %d", code)
	}
	// Again within 10 s: rate-limited.
	now = now.Add(4 * time.Second)
	rec = post(t, h, path)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "6" || !strings.Contains(rec.Body.String(), "once every 10s") {
		t.Fatalf("rate limit: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	// Another probe is not limited by the first one's button, and the
	// limit lifts after 10 s.
	if rec := post(t, h, "/probes/"+probes[1].ID()+"/run"); rec.Code != http.StatusSeeOther {
		t.Fatalf("other probe: %d", rec.Code)
	}
	now = now.Add(7 * time.Second)
	if rec := post(t, h, path); rec.Code != http.StatusSeeOther {
		t.Fatalf("after the limit: %d %s", rec.Code, rec.Body)
	}
	if rec := post(t, h, "/probes/nope/nope/run"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown probe: %d", rec.Code)
	}
	// Every refusal is reported (the daemon logs and counts them): the
	// busy canary and the press too soon.
	if got := strings.Join(refused, ","); got != "busy,rate_limited" {
		t.Fatalf("refusals reported: %s", got)
	}
	// Cross-site and foreign-Host requests never reach the page: the
	// daemon's guard refuses them (internal/webguard, internal/daemon).
}

func TestConfigPageRedacts(t *testing.T) {
	cfg, probes, _, _ := setup(t)
	page := status.New(status.Options{
		Probes: func() []*probe.Probe { return probes },
		Config: func() ([]byte, string, string, error) {
			y, err := cfg.Redacted()
			return y, cfg.Path, cfg.Digest, err
		},
	})
	code, body := get(t, page.Handler(), "/config")
	if code != 200 || !strings.Contains(body, "&lt;secret&gt;") || !strings.Contains(body, "janssen-sim") {
		t.Fatalf("%d\n%s", code, body)
	}
	for _, s := range []string{"admin-secret", "canary-secret", "canary-password-01"} {
		if strings.Contains(body, s) {
			t.Errorf("/config shows %s", s)
		}
	}
}

// TestHistoryBounded: the page keeps a bounded history, and failures
// outlive passes.
func TestHistoryBounded(t *testing.T) {
	p := &probe.Probe{Target: "t", Endpoint: "e", Kind: "k"}
	page := status.New(status.Options{Probes: func() []*probe.Probe { return []*probe.Probe{p} }, Keep: 5, KeepTraces: 2})
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mk := func(i int, r verdict.Result) *verdict.Run {
		return &verdict.Run{ID: "run-" + string(rune('a'+i)), Target: "t", Endpoint: "e", Result: r, Reason: verdict.ReasonNone, Started: start.Add(time.Duration(i) * time.Minute)}
	}
	page.Record(mk(0, verdict.Fail))
	for i := 1; i <= 10; i++ {
		page.Record(mk(i, verdict.Pass))
	}
	h := page.Handler()
	if code, _ := get(t, h, "/runs/run-a"); code != 200 {
		t.Fatal("the old failure's trace was dropped before passes")
	}
	if code, _ := get(t, h, "/runs/run-b"); code != 404 {
		t.Fatal("an old pass's trace is still kept")
	}
	_, body := get(t, h, "/probes/t/e")
	if strings.Count(body, `class="pass-c"`) != 5 || !strings.Contains(body, "Earlier failures and errors") {
		t.Fatalf("probe page history:\n%s", body)
	}
	// The overview, too, still shows the failure after ten passes.
	_, body = get(t, h, "/")
	if !strings.Contains(body, `href="/runs/run-a"`) || !strings.Contains(body, "earlier failures") {
		t.Fatalf("the overview lost the last failure behind the passes:\n%s", body)
	}
}

// TestRunPageShowsNotes: a run's notes (TLS verification off, for one) are
// on its page.
func TestRunPageShowsNotes(t *testing.T) {
	page := status.New(status.Options{})
	page.Record(&verdict.Run{ID: "run-n", Target: "t", Endpoint: "e", Result: verdict.Pass, Reason: verdict.ReasonNone,
		Started: time.Now(), Notes: []string{probe.InsecureTLSNote}})
	code, body := get(t, page.Handler(), "/runs/run-n")
	if code != 200 || !strings.Contains(body, "TLS verification is OFF for this target") {
		t.Fatalf("%d\n%s", code, body)
	}
}
