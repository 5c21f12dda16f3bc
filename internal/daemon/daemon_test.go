package daemon_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/testenv"
	_ "github.com/revprober/revprober/probes/all"
)

func opts() config.LoadOptions {
	return config.LoadOptions{CheckDriver: func(kind string, p map[string]string) error {
		_, err := driver.Build(kind, p)
		return err
	}}
}

// TestReloadKeepsTheRunningConfigOnError: a bad config at reload keeps
// the old probes, answers POST /-/reload that it failed (the errors, which
// name files and values, go to the log only), and sets the gauge the
// ConfigReloadFailed alert watches; a good one replaces them.
func TestReloadKeepsTheRunningConfigOnError(t *testing.T) {
	var mu sync.Mutex
	good := demo.ConfigYAML(demo.Params{SimURL: "http://127.0.0.1:1"})
	current := good
	load := func() (*config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return config.Parse("revprober.yml", current, opts())
	}
	var loaded []int // probes of each config the daemon applied
	var logs testenv.SyncBuffer
	d, err := daemon.New(daemon.Options{Load: load, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Loaded: func(cfg *config.Config, probes []*probe.Probe) { loaded = append(loaded, len(probes)) }})
	if err != nil {
		t.Fatal(err)
	}
	before := len(d.Probes())
	if before == 0 {
		t.Fatal("no probes loaded")
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	reloadOK := func() float64 {
		mfs, err := d.Gatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "revprober_config_last_reload_successful" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no revprober_config_last_reload_successful")
		return 0
	}

	mu.Lock()
	current = []byte(strings.Replace(string(good), "interval: 15s", "interval: nonsense", 1))
	mu.Unlock()
	resp, err := http.Post(srv.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "reload failed") ||
		strings.Contains(string(body), "revprober.yml") || strings.Contains(string(body), "interval") {
		t.Fatalf("bad reload answered %d: %s", resp.StatusCode, body)
	}
	if l := logs.String(); !strings.Contains(l, "revprober.yml:") || !strings.Contains(l, "global.interval") {
		t.Fatalf("the reload's errors are not in the log:\n%s", l)
	}
	if reloadOK() != 0 {
		t.Fatal("reload gauge still says success")
	}
	if got := len(d.Probes()); got != before {
		t.Fatalf("a failed reload changed the running probes: %d → %d", before, got)
	}
	if len(loaded) != 1 || loaded[0] != before {
		t.Fatalf("Loaded saw %v; want only the config loaded at start (%d probes)", loaded, before)
	}

	mu.Lock()
	current = good
	mu.Unlock()
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if reloadOK() != 1 {
		t.Fatal("reload gauge does not say success")
	}
	if got := len(d.Probes()); got != before {
		t.Fatalf("probes after a good reload: %d, want %d", got, before)
	}
	if len(loaded) != 2 {
		t.Fatalf("Loaded saw %v after a good reload", loaded)
	}
	// Every probe's series exist at zero again, so increase() sees a first failure.
	if n, err := testutil.GatherAndCount(d.Gatherer, "revprober_runs_total"); err != nil || n != 3*before {
		t.Fatalf("runs_total has %d series, want %d (3 results × %d probes)", n, 3*before, before)
	}
}

// TestLoadLogsConfigWarnings: every load of a changed file logs the
// config's warnings, in the check-config form; a reload of the same file
// logs neither them nor "config loaded" again.
func TestLoadLogsConfigWarnings(t *testing.T) {
	cfg := []byte(strings.Join([]string{
		"targets:",
		"  - name: entra",
		"    issuer: http://127.0.0.1:1/x",
		"    admin_client: {client_id: a, client_secret: s}",
		"    login: {client: {client_id: app, client_secret: s}}",
		"    canary: {username: u, password: p}",
		"    endpoints:",
		"      - driver: entra-revoke-signin-sessions",
	}, "\n"))
	o := opts()
	o.DriverFacts = func(kind string, p map[string]string) config.DriverFacts {
		d, _ := driver.Build(kind, p)
		return config.DriverFacts{Async: d.Profile().Async}
	}
	var logs testenv.SyncBuffer
	load := func() (*config.Config, error) { return config.Parse("revprober.yml", cfg, o) }
	d, err := daemon.New(daemon.Options{Load: load, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := d.Reload(); err != nil { // the same file
			t.Fatal(err)
		}
	}
	cfg = append(cfg, []byte("\n# edited\n")...)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	want := "revprober.yml:8:17: targets[0].endpoints[0].deadline: warning: entra-revoke-signin-sessions revokes asynchronously"
	if n := strings.Count(logs.String(), want); n != 2 {
		t.Fatalf("want the warning logged at start and after the edit, got %d:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), `msg="config loaded"`); n != 2 {
		t.Fatalf("want config loaded at start and after the edit, got %d:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"config warning\"") {
		t.Errorf("not a WARN record:\n%s", logs.String())
	}
}
