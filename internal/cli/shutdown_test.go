package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// stallingIdP is the simulator behind a front that swallows the global
// token revocation (answers 204, revokes nothing): a run stays in
// verification until its deadline, then fails. Verifying receives a value
// at the first introspection after each revocation (a run is verifying),
// and the tokens the clean-up revokes through RFC 7009 are kept, to be
// checked dead afterwards.
type stallingIdP struct {
	URL       string
	sim       *idpsim.Server
	Verifying chan struct{}

	mu       sync.Mutex
	revoked  bool
	verified bool
	cleaned  []string // tokens sent to /restv1/revoke
}

func newStallingIdP(t *testing.T) *stallingIdP {
	t.Helper()
	s := &stallingIdP{sim: idpsim.New(idpsim.Options{}), Verifying: make(chan struct{}, 16)}
	ts := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

func (s *stallingIdP) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/global-token-revocation"):
		s.revoked, s.verified = true, false
		w.WriteHeader(http.StatusNoContent) // swallowed: nothing revoked
		return
	case s.revoked && strings.HasSuffix(r.URL.Path, "/restv1/introspection"):
		if !s.verified {
			s.verified = true
			s.Verifying <- struct{}{}
		}
	case strings.HasSuffix(r.URL.Path, "/restv1/revoke"):
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		s.cleaned = append(s.cleaned, form.Get("token"))
		r.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	s.sim.ServeHTTP(w, r)
}

// assertCleanedUp checks that the clean-up revoked tokens through RFC 7009
// and that the IdP now holds every one of them dead.
func (s *stallingIdP) assertCleanedUp(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	tokens := append([]string(nil), s.cleaned...)
	s.mu.Unlock()
	if len(tokens) == 0 {
		t.Fatal("the clean-up revoked nothing through RFC 7009: the interrupted run left the canary's tokens alive")
	}
	for _, tok := range tokens {
		req := httptest.NewRequest("POST", "/jans-auth/restv1/introspection", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("revprober-admin", "admin-secret")
		rec := httptest.NewRecorder()
		s.sim.ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), `"active":true`) {
			t.Errorf("a token the clean-up revoked is still active at the IdP")
		}
	}
}

// probeRecords verifies the evidence chain and returns the records of
// probe janssen-sim/global-token-revocation, in order; a torn record fails.
func probeRecords(t *testing.T, path string) []*verdict.Run {
	t.Helper()
	res, err := evidence.Verify([]string{path}, evidence.VerifyOptions{}, nil)
	if err != nil || !res.OK() {
		t.Fatalf("the evidence chain does not verify after the shutdown: %+v %v", res, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var runs []*verdict.Run
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var rec evidence.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a torn evidence record: %v", err)
		}
		if rec.Run != nil && rec.Run.Target == "janssen-sim" && rec.Run.Endpoint == "global-token-revocation" {
			runs = append(runs, rec.Run)
		}
	}
	return runs
}

// assertInterrupted checks the record of a run cut during verification.
func assertInterrupted(t *testing.T, r *verdict.Run) {
	t.Helper()
	if r.Result != verdict.Error || r.Reason != verdict.Interrupted {
		t.Fatalf("the interrupted run is recorded as %s/%s (%s), want error/interrupted", r.Result, r.Reason, r.Detail)
	}
	for _, want := range []string{"interrupted (" + schedule.ErrShuttingDown.Error() + ") in step verify", "after the revocation"} {
		if !strings.Contains(r.Detail, want) {
			t.Errorf("detail %q does not say %q", r.Detail, want)
		}
	}
	if !strings.HasPrefix(r.Cleanup, "revoked ") {
		t.Errorf("clean-up %q: want the run's tokens revoked", r.Cleanup)
	}
	steps := map[string]bool{}
	for _, s := range r.Steps {
		steps[s.Name] = true
	}
	if !steps[verdict.StepRevoke] || !steps[verdict.StepVerify] || !steps[verdict.StepCleanup] {
		t.Errorf("the record's steps %+v lack the revocation, verification or clean-up", r.Steps)
	}
}

// TestShutdownInterruptsRunCleansUpAndRecordsIt: the daemon is stopped (the
// context SIGTERM cancels) while a run verifies: the run is cut at once,
// its clean-up still revokes every token it issued, its evidence record is
// written whole (reason interrupted, the chain verifies), and Serve
// returns within the shutdown grace.
func TestShutdownInterruptsRunCleansUpAndRecordsIt(t *testing.T) {
	idp := newStallingIdP(t)
	load := func() (*config.Config, error) {
		return demo.Config(demo.Params{SimURL: idp.URL, Interval: "1h", Timeout: "60s", Deadline: "45s"}, loadOptions())
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Evidence.Path = filepath.Join(t.TempDir(), "evidence.jsonl")
	log := slog.New(slog.NewTextHandler(&testenv.SyncBuffer{}, nil))
	x, err := newDaemonExtras(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Options{Load: load, Logger: log, Recorders: x.recorders(), Loaded: x.loaded,
		HTTP: daemon.HTTPOptions{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	x.attach(d)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { served <- d.Serve(ctx, ready) }()
	<-ready
	ran := make(chan *verdict.Run, 1)
	go func() {
		r, err := d.Sched.RunNow(context.Background(), "janssen-sim/global-token-revocation")
		if err != nil {
			t.Errorf("run now: %v", err)
		}
		ran <- r
	}()
	<-idp.Verifying
	stopped := time.Now()
	stop() // SIGTERM
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(2 * schedule.ShutdownGrace):
		t.Fatalf("the daemon had not stopped %s after the signal (grace %s)", 2*schedule.ShutdownGrace, schedule.ShutdownGrace)
	}
	// A wide margin: the run's deadline (45 s) is three times the grace.
	if took := time.Since(stopped); took > schedule.ShutdownGrace {
		t.Errorf("stopping took %s, more than the shutdown grace %s", took, schedule.ShutdownGrace)
	}
	assertInterrupted(t, <-ran)
	x.close()
	runs := probeRecords(t, cfg.Evidence.Path)
	if len(runs) != 1 {
		t.Fatalf("%d evidence records of the probe, want the interrupted run's", len(runs))
	}
	assertInterrupted(t, runs[0])
	idp.assertCleanedUp(t)
}
