//go:build e2e

// Package e2e runs revprober as a user would, as separate processes.
//
// TestPrometheusAlerts: the Janssen-compatible simulator, `revprober run`
// probing it, and a real Prometheus (Debian's 2.42: make tools-prometheus)
// scraping revprober every second and evaluating dashboards/revprober.rules.yml.
// Breaking revocation in the simulator must fire RevocationNotEnforced; fixing
// it must resolve the alert. Every dashboard query must run on that
// Prometheus without error.
//
//	REVPROBER_BIN=$PWD/bin/revprober go test -tags e2e -run TestPrometheusAlerts -v ./test/e2e/
//
// Without REVPROBER_BIN the test builds the binary. Every process it starts
// is killed at the end.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/revprober/revprober/internal/testenv"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// Probe timing for the test: a failed run lasts about the deadline.
	probeInterval = "2s"
	probeTimeout  = "1800ms"
	probeDeadline = "1s"
	probeHold     = "500ms" // deadline + hold < timeout

	detectBound  = 90 * time.Second
	resolveBound = 5 * time.Minute // RevocationNotEnforced remembers a fail for 3 minutes
)

// repoRoot is the module root (test/e2e/../..).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s: %v", root, err)
	}
	return root
}

// revproberBin returns $REVPROBER_BIN, or builds the binary.
func revproberBin(t *testing.T, root string) string {
	t.Helper()
	if b := os.Getenv("REVPROBER_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("REVPROBER_BIN: %v", err)
		}
		return b
	}
	bin := filepath.Join(t.TempDir(), "revprober")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/revprober")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a process this test started; it is killed at cleanup.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // only this process, by its pid
		<-p.done
		if t.Failed() {
			t.Logf("--- last lines of %s log (%s):\n%s", name, logPath, tail(logPath, 40))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 250 ms until it is true, a watched process
// exits, or the bound passes. It returns how long it took.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() (bool, error), watch ...*proc) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return time.Since(start)
		}
		lastErr = err
		for _, p := range watch {
			if p.exited() {
				t.Fatalf("waiting for %s: %s exited\n%s", what, p.name, tail(p.log, 40))
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not after %s (last error: %v)", what, bound, lastErr)
		case <-tick.C:
		}
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

func httpStatus(method, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func ok200(u string) func() (bool, error) {
	return func() (bool, error) {
		code, _, err := httpStatus("GET", u, nil)
		return code == 200, err
	}
}

// writeConfig writes a revprober config that probes the simulator at simURL
// and serves /metrics on listen, and returns its path.
//
// writeConfig writes a user's config file, as an operator would: one
// Janssen target (the shape of internal/demo's targets_janssen.yml.tmpl),
// one endpoint (global token revocation), whose revocation the simulator's
// ignore-revocation fault breaks.
func writeConfig(t *testing.T, dir, simURL, listen string) string {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  listen: %q
  interval: %s
  timeout: %s
  deadline: %s
  hold: %s
  request_timeout: 1s
targets:
  - name: janssen-sim
    issuer: %s/jans-auth
    admin_client:
      client_id: revprober-admin
      client_secret: admin-secret
    login:
      method: authorization_code
      redirect_uri: http://127.0.0.1/callback
      client:
        client_id: canary-app
        client_secret: canary-secret
    canary:
      username: canary01
      password: canary-password-01
      attributes:
        mail: canary01@example.com
        user_dn: inum=CANARY01,ou=people,o=jans
    endpoints:
      - name: global-token-revocation
        driver: janssen-global-token-revocation
        params: {format: uid}
`, listen, probeInterval, probeTimeout, probeDeadline, probeHold, simURL)
	path := filepath.Join(dir, "revprober.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writePrometheusConfig(t *testing.T, dir, rules, revproberAddr string) string {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: revprober
    static_configs:
      - targets: [%q]
`, rules, revproberAddr)
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// promAPI queries Prometheus's HTTP API.
type promAPI struct{ base string }

type apiResponse struct {
	Status    string          `json:"status"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
	Data      json.RawMessage `json:"data"`
}

func (p promAPI) get(path string, q url.Values) (json.RawMessage, error) {
	u := p.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	code, body, err := httpStatus("GET", u, nil)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %s", path, code, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

type sample struct {
	Metric map[string]string `json:"metric"`
}

// query runs an instant query and returns its vector's series.
func (p promAPI) query(expr string) ([]sample, error) {
	data, err := p.get("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, nil
	}
	var s []sample
	err = json.Unmarshal(d.Result, &s)
	return s, err
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p promAPI) alerts() ([]alert, error) {
	data, err := p.get("/api/v1/alerts", nil)
	if err != nil {
		return nil, err
	}
	var d struct {
		Alerts []alert `json:"alerts"`
	}
	err = json.Unmarshal(data, &d)
	return d.Alerts, err
}

func (p promAPI) firing(name string) (bool, error) {
	as, err := p.alerts()
	for _, a := range as {
		if a.Labels["alertname"] == name && a.State == "firing" {
			return true, nil
		}
	}
	return false, err
}

// metricValue reads one sample from revprober's /metrics: the sum of the
// series of name whose labels contain every label in match.
func metricValue(metricsURL, name string, match map[string]string) (float64, error) {
	code, body, err := httpStatus("GET", metricsURL, nil)
	if err != nil || code != 200 {
		return 0, fmt.Errorf("GET /metrics: %d %v", code, err)
	}
	sum, found := 0.0, false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		okAll := true
		for k, v := range match {
			if !strings.Contains(line, fmt.Sprintf("%s=%q", k, v)) {
				okAll = false
			}
		}
		if !okAll {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("no %s%v in /metrics", name, match)
	}
	return sum, nil
}

var (
	grafanaDurations = regexp.MustCompile(`\$(__rate_interval|__range|__interval)\b|\$\{(__rate_interval|__range|__interval)\}`)
	grafanaVars      = regexp.MustCompile(`\$\{[^}]+\}|\$[A-Za-z_]\w*`)
)

// dashboardQueries returns every panel query of the dashboards, Grafana's
// variables replaced ($target and friends match everything).
func dashboardQueries(t *testing.T, root string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		type panel struct {
			Title   string            `json:"title"`
			Panels  []json.RawMessage `json:"panels"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		}
		var walk func([]json.RawMessage)
		walk = func(ps []json.RawMessage) {
			for _, raw := range ps {
				var p panel
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatal(err)
				}
				for _, tg := range p.Targets {
					e := grafanaDurations.ReplaceAllString(tg.Expr, "5m")
					e = grafanaVars.ReplaceAllStringFunc(e, func(string) string { return ".*" })
					// "$target" sits in label matchers: =~".*" matches all;
					// an exact = ".*" would match nothing, so use =~.
					e = strings.ReplaceAll(e, `="`+".*"+`"`, `=~".*"`)
					out[fmt.Sprintf("%s: %s %s", filepath.Base(f), p.Title, tg.RefID)] = e
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
	}
	if len(out) == 0 {
		t.Fatal("no dashboard queries found")
	}
	return out
}

func TestPrometheusAlerts(t *testing.T) {
	root := repoRoot(t)
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: make tools-prometheus (Debian: apt-get install prometheus)")
	}
	bin := revproberBin(t, root)
	dir := t.TempDir()

	// 1. The simulator.
	simAddr := testenv.FreeAddr(t)
	simURL := "http://" + simAddr
	sim := start(t, dir, "idpsim", bin, "idpsim", "--listen", simAddr)
	waitFor(t, 30*time.Second, "the simulator", ok200(simURL+"/_sim/faults"), sim)
	setFaults := func(faults ...string) {
		t.Helper()
		body, _ := json.Marshal(map[string][]string{"faults": append([]string{}, faults...)})
		code, resp, err := httpStatus("PUT", simURL+"/_sim/faults", body)
		if err != nil || code != 200 {
			t.Fatalf("PUT /_sim/faults %s: %d %v %s", body, code, err, resp)
		}
	}
	setFaults()

	// 2. revprober.
	listen := testenv.FreeAddr(t)
	cfg := writeConfig(t, dir, simURL, listen)
	rp := start(t, dir, "revprober", bin, "run", "-c", cfg)
	metricsURL := "http://" + listen + "/metrics"
	waitFor(t, 30*time.Second, "revprober /metrics", ok200(metricsURL), rp)

	// 3. Prometheus, scraping revprober every second and evaluating the shipped rules.
	promAddr := testenv.FreeAddr(t)
	pcfg := writePrometheusConfig(t, dir, filepath.Join(root, "dashboards", "revprober.rules.yml"), listen)
	prom := start(t, dir, "prometheus", promBin, "--config.file", pcfg, "--storage.tsdb.path", filepath.Join(dir, "tsdb"),
		"--web.listen-address", promAddr)
	api := promAPI{"http://" + promAddr}
	waitFor(t, 60*time.Second, "prometheus ready", ok200(api.base+"/-/ready"), prom)
	watch := []*proc{sim, rp, prom}

	// 4. Baseline: a pass reaches Prometheus and nothing pages.
	d := waitFor(t, 60*time.Second, "a passing run in Prometheus", func() (bool, error) {
		s, err := api.query(`revprober:probe_last_result:latest{result="pass"} == 1`)
		return len(s) > 0, err
	}, watch...)
	t.Logf("first pass visible in Prometheus after %s", d.Round(100*time.Millisecond))
	if f, err := api.firing("RevocationNotEnforced"); err != nil || f {
		t.Fatalf("RevocationNotEnforced firing before any fault (err %v)", err)
	}
	if as, err := api.alerts(); err == nil {
		for _, a := range as {
			t.Logf("baseline alert: %s %s %v", a.Labels["alertname"], a.State, a.Labels)
		}
	}

	// 5. Break revocation: RevocationNotEnforced must fire.
	failMatch := map[string]string{"result": "fail"}
	failsBefore, err := metricValue(metricsURL, "revprober_failures_total", failMatch)
	if err != nil {
		t.Fatal(err)
	}
	setFaults("ignore-revocation")
	faultOn := time.Now()
	var firstFail time.Duration
	waitFor(t, detectBound, "RevocationNotEnforced firing", func() (bool, error) {
		if firstFail == 0 {
			if v, err := metricValue(metricsURL, "revprober_failures_total", failMatch); err == nil && v > failsBefore {
				firstFail = time.Since(faultOn)
			}
		}
		return api.firing("RevocationNotEnforced")
	}, watch...)
	detect := time.Since(faultOn)
	t.Logf("DETECTION: fault on → first failed run in /metrics %s → RevocationNotEnforced firing %s (interval %s, deadline %s, scrape and evaluation 1s)",
		firstFail.Round(100*time.Millisecond), detect.Round(100*time.Millisecond), probeInterval, probeDeadline)
	as, _ := api.alerts()
	for _, a := range as {
		if a.Labels["alertname"] == "RevocationNotEnforced" {
			if a.Labels["severity"] != "critical" || a.Labels["target"] != "janssen-sim" || a.Labels["endpoint"] != "global-token-revocation" {
				t.Errorf("RevocationNotEnforced labels %v", a.Labels)
			}
		}
	}

	// 6. Fix it: the alert resolves (after its 3-minute memory of the fail).
	setFaults()
	faultOff := time.Now()
	waitFor(t, 60*time.Second, "a passing run after the fix", func() (bool, error) {
		s, err := api.query(`revprober:probe_last_result:latest{result="pass"} == 1`)
		return len(s) > 0, err
	}, watch...)
	t.Logf("first pass after the fix: %s", time.Since(faultOff).Round(100*time.Millisecond))
	waitFor(t, resolveBound, "RevocationNotEnforced resolved", func() (bool, error) {
		f, err := api.firing("RevocationNotEnforced")
		return err == nil && !f, err
	}, watch...)
	resolve := time.Since(faultOff)
	t.Logf("RESOLUTION: fault off → RevocationNotEnforced resolved %s", resolve.Round(100*time.Millisecond))

	// 7. Every dashboard query runs on a real Prometheus against the metrics
	// of a pass → fail → pass cycle; the core panels have data.
	mustHaveData := []string{
		"revprober-overview.json: Probes A", "revprober-overview.json: Probes B", "revprober-overview.json: Probes C",
		"revprober-overview.json: Probes G", "revprober-overview.json: Failures by probe and reason (time range) A",
		"revprober-overview.json: Revocation not enforced A", "revprober-target.json: Verdict timeline A",
		"revprober-target.json: Runs by result A", "revprober-target.json: Step latency p50 / p95 A",
	}
	empty := map[string]bool{}
	for where, expr := range dashboardQueries(t, root) {
		s, err := api.query(expr)
		if err != nil {
			t.Errorf("dashboard query %s: %v\n\t%s", where, err, expr)
		} else if len(s) == 0 {
			empty[where] = true
			t.Logf("dashboard query %s: no data", where)
		}
	}
	for _, w := range mustHaveData {
		if empty[w] {
			t.Errorf("dashboard query %s returned no data after a pass → fail → pass cycle", w)
		}
	}
}
