package metrics

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/internal/webguard"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden")

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func f(v float64) *float64 { return &v }

// newTest returns new metrics and what /metrics serves of them.
func newTest(t *testing.T) (*Metrics, prometheus.Gatherer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg, BuildInfo{Version: "1.2.3", Revision: "abc123"})
	m.now = func() time.Time { return t0 }
	return m, m.Gatherer(reg)
}

// snapshot flattens every sample of the registry into "name{l="v",...}" → value;
// a histogram gives name_bucket{...,le=...}, name_sum and name_count.
func snapshot(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	key := func(name string, lps []*dto.LabelPair, extra ...string) string {
		var ls []string
		for _, lp := range lps {
			ls = append(ls, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
		}
		ls = append(ls, extra...)
		sort.Strings(ls)
		return name + "{" + strings.Join(ls, ",") + "}"
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key(mf.GetName(), mt.GetLabel())] = mt.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(mf.GetName(), mt.GetLabel())] = mt.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := mt.GetHistogram()
				out[key(mf.GetName()+"_count", mt.GetLabel())] = float64(h.GetSampleCount())
				out[key(mf.GetName()+"_sum", mt.GetLabel())] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key(mf.GetName()+"_bucket", mt.GetLabel(), fmt.Sprintf("le=%q", fmt.Sprint(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
				out[key(mf.GetName()+"_bucket", mt.GetLabel(), `le="+Inf"`)] = float64(h.GetSampleCount())
			default:
				t.Fatalf("%s: unexpected type %s", mf.GetName(), mf.GetType())
			}
		}
	}
	return out
}

// diff returns the samples that changed, appeared (with their new value)
// or disappeared (NaN).
func diff(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			d[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			d[k] = math.NaN()
		}
	}
	return d
}

func compareDiff(t *testing.T, got, want map[string]float64) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !wok:
			t.Errorf("unexpected change: %s = %v", k, g)
		case !gok:
			t.Errorf("missing change: %s = %v", k, w)
		case !(g == w || math.IsNaN(g) && math.IsNaN(w)):
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func s(name, extra string) string {
	ls := []string{`endpoint="revoke_session"`, `target="janssen"`}
	if extra != "" {
		ls = append(ls, strings.Split(extra, ",")...)
	}
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

// testDriver is the driver of the janssen/revoke_session test probe.
const testDriver = "janssen-revoke-session"

// ds is a per-driver series of the test probe's driver.
func ds(name, extra string) string {
	ls := []string{fmt.Sprintf("driver=%q", testDriver)}
	if extra != "" {
		ls = append(ls, strings.Split(extra, ",")...)
	}
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

// hist lists the samples of one observation v in a fresh histogram series
// (every bucket from v's up to +Inf becomes 1).
func hist(name, extra string, buckets []float64, v float64) map[string]float64 {
	return histOf(s, name, extra, buckets, v)
}

// dhist is hist for a per-driver histogram.
func dhist(name, extra string, buckets []float64, v float64) map[string]float64 {
	return histOf(ds, name, extra, buckets, v)
}

func histOf(series func(name, extra string) string, name, extra string, buckets []float64, v float64) map[string]float64 {
	out := map[string]float64{series(name+"_count", extra): 1, series(name+"_sum", extra): v}
	for _, b := range buckets {
		if v <= b {
			out[series(name+"_bucket", join(extra, fmt.Sprintf("le=%q", fmt.Sprint(b))))] = 1
		}
	}
	out[series(name+"_bucket", join(extra, `le="+Inf"`))] = 1
	return out
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

func merge(ms ...map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func baseRun(result verdict.Result, reason verdict.Reason) *verdict.Run {
	return &verdict.Run{
		ID: "run-1", Target: "janssen", Endpoint: "revoke_session", Driver: "janssen_revoke_session",
		Started: t0, Duration: 2500 * time.Millisecond, Result: result, Reason: reason,
		Detail: "dial tcp 10.0.0.7:443: connection refused; token eyJhbGciOi...",
		Steps: []verdict.Step{
			{Name: verdict.StepLogin, Duration: 200 * time.Millisecond},
			{Name: verdict.StepRevoke, Duration: 30 * time.Millisecond, Error: "HTTP 500 from https://idp/revoke?user=alice"},
		},
	}
}

func TestObserve(t *testing.T) {
	ts := float64(t0.Add(2500*time.Millisecond).UnixNano()) / 1e9
	// last is the probe's one last-result series.
	last := func(result, reason string) map[string]float64 {
		return map[string]float64{s("revprober_probe_last_result", fmt.Sprintf("reason=%q,result=%q", reason, result)): 1}
	}
	common := func() map[string]float64 {
		return merge(
			map[string]float64{s("revprober_last_run_timestamp_seconds", ""): ts},
			dhist("revprober_step_duration_seconds", `step="login"`, StepBuckets, 0.2),
			dhist("revprober_step_duration_seconds", `step="revoke"`, StepBuckets, 0.03),
		)
	}
	tests := []struct {
		name string
		run  func() *verdict.Run
		want map[string]float64
	}{
		{
			name: "pass",
			run: func() *verdict.Run {
				r := baseRun(verdict.Pass, verdict.ReasonNone)
				r.PropagationSeconds = f(0.7)
				r.ResidualValiditySeconds = f(3540)
				r.Checks = []verdict.Observation{
					{Check: verdict.Introspection, PropagationSeconds: f(0.7)},
					{Check: verdict.RefreshGrant, PropagationSeconds: f(0.02)},
					{Check: verdict.Userinfo}, // never seen dead: no observation
				}
				return r
			},
			want: merge(common(), last("pass", "none"),
				map[string]float64{
					s("revprober_runs_total", `result="pass"`):        1,
					s("revprober_last_success_timestamp_seconds", ""): ts,
					s("revprober_residual_validity_seconds", ""):      3540,
					s("revprober_probe_propagation_seconds", ""):      0.7,
				},
				dhist("revprober_propagation_seconds", "", PropagationBuckets, 0.7),
				dhist("revprober_check_propagation_seconds", `check="introspection"`, CheckBuckets, 0.7),
				dhist("revprober_check_propagation_seconds", `check="refresh"`, CheckBuckets, 0.02),
			),
		},
		{
			name: "pass with drift",
			run: func() *verdict.Run {
				r := baseRun(verdict.Pass, "")
				r.Drift = []verdict.Artifact{verdict.Session, verdict.Session, "cookie_jar"}
				return r
			},
			want: merge(common(), last("pass", "none"), map[string]float64{
				s("revprober_runs_total", `result="pass"`):        1,
				s("revprober_last_success_timestamp_seconds", ""): ts,
				ds("revprober_drift_total", `artifact="session"`): 1,
				s("revprober_probe_drift", `artifact="session"`):  1,
			}),
		},
		{
			name: "fail",
			run: func() *verdict.Run {
				r := baseRun(verdict.Fail, verdict.AccessTokenStillActive)
				r.Checks = []verdict.Observation{
					{Check: verdict.Introspection, After: verdict.Alive},
					{Check: verdict.RefreshGrant, PropagationSeconds: f(1.5)},
				}
				return r
			},
			want: merge(common(), last("fail", "access_token_still_active"),
				map[string]float64{
					s("revprober_runs_total", `result="fail"`):                                         1,
					ds("revprober_failures_total", `reason="access_token_still_active",result="fail"`): 1,
				},
				dhist("revprober_check_propagation_seconds", `check="refresh"`, CheckBuckets, 1.5),
			),
		},
		{
			name: "error",
			run:  func() *verdict.Run { return baseRun(verdict.Error, verdict.LoginFailed) },
			want: merge(common(), last("error", "login_failed"), map[string]float64{
				s("revprober_runs_total", `result="error"`):                            1,
				ds("revprober_failures_total", `reason="login_failed",result="error"`): 1,
				s("revprober_probe_consecutive_errors", ""):                            1,
			}),
		},
		{
			name: "error with a reason made from an error string",
			run: func() *verdict.Run {
				r := baseRun(verdict.Error, verdict.Reason("Post \"https://idp/token\": dial tcp: connection refused"))
				r.Steps = append(r.Steps, verdict.Step{Name: "login: user alice@example.com", Duration: time.Second})
				r.Checks = []verdict.Observation{{Check: "introspection?token=eyJ", PropagationSeconds: f(1)}}
				return r
			},
			want: merge(common(), last("error", "internal_error"), map[string]float64{
				s("revprober_runs_total", `result="error"`):                              1,
				ds("revprober_failures_total", `reason="internal_error",result="error"`): 1,
				s("revprober_probe_consecutive_errors", ""):                              1,
			}),
		},
		{
			name: "fail with an error reason stays a fail",
			run:  func() *verdict.Run { return baseRun(verdict.Fail, verdict.Timeout) },
			want: merge(common(), last("fail", "internal_error"), map[string]float64{
				s("revprober_runs_total", `result="fail"`):                              1,
				ds("revprober_failures_total", `reason="internal_error",result="fail"`): 1,
			}),
		},
		{
			name: "unknown result is an error",
			run:  func() *verdict.Run { return baseRun("maybe", verdict.AccessTokenStillActive) },
			want: merge(common(), last("error", "internal_error"), map[string]float64{
				s("revprober_runs_total", `result="error"`):                              1,
				ds("revprober_failures_total", `reason="internal_error",result="error"`): 1,
				s("revprober_probe_consecutive_errors", ""):                              1,
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTest(t)
			m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}, {Target: "okta", Endpoint: "sessions", Interval: time.Minute}})
			before := snapshot(t, reg)
			m.Observe(tt.run())
			compareDiff(t, diff(before, snapshot(t, reg)), tt.want)
		})
	}
}

func TestObserveSequence(t *testing.T) {
	m, reg := newTest(t)
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	runs := []verdict.Result{verdict.Error, verdict.Error, verdict.Fail, verdict.Error, verdict.Pass, verdict.Error}
	wantConsecutive := []float64{1, 2, 0, 1, 0, 1}
	for i, res := range runs {
		r := baseRun(res, map[verdict.Result]verdict.Reason{verdict.Fail: verdict.SessionStillAlive, verdict.Error: verdict.Timeout}[res])
		r.Started = t0.Add(time.Duration(i) * time.Minute)
		r.ResidualValiditySeconds = nil
		if res == verdict.Pass {
			r.ResidualValiditySeconds = f(60)
			r.PropagationSeconds = f(2)
			r.Drift = []verdict.Artifact{verdict.Session}
		}
		m.Observe(r)
		if got := snapshot(t, reg)[s("revprober_probe_consecutive_errors", "")]; got != wantConsecutive[i] {
			t.Errorf("after run %d (%s): consecutive errors %v, want %v", i, res, got, wantConsecutive[i])
		}
	}
	// The last run had no JWT, measured no propagation and found no
	// drift: those series are gone; the last success stays.
	snap := snapshot(t, reg)
	for k := range snap {
		for _, name := range []string{"revprober_residual_validity_seconds{", "revprober_probe_propagation_seconds{", "revprober_probe_drift{"} {
			if strings.HasPrefix(k, name) {
				t.Errorf("%s left after a run without one", k)
			}
		}
	}
	wantSuccess := float64(t0.Add(4*time.Minute+2500*time.Millisecond).UnixNano()) / 1e9
	if got := snap[s("revprober_last_success_timestamp_seconds", "")]; got != wantSuccess {
		t.Errorf("last success %v, want %v", got, wantSuccess)
	}
	// One last-result series: the last run's, not one per result ever seen.
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP revprober_runs_total Runs of the probe, by result.
# TYPE revprober_runs_total counter
revprober_runs_total{endpoint="revoke_session",result="error",target="janssen"} 4
revprober_runs_total{endpoint="revoke_session",result="fail",target="janssen"} 1
revprober_runs_total{endpoint="revoke_session",result="pass",target="janssen"} 1
# HELP revprober_probe_last_result 1, labeled by the result and reason of the last run of the probe (reason none for a pass). Absent until the first run.
# TYPE revprober_probe_last_result gauge
revprober_probe_last_result{endpoint="revoke_session",reason="timeout",result="error",target="janssen"} 1
`), "revprober_runs_total", "revprober_probe_last_result")
	if err != nil {
		t.Error(err)
	}
}

// seriesPerProbe is what one probe costs in series after SetProbes (before
// any run): runs_total by result, consecutive_errors, interval.
var seriesPerProbe = 3 + 1 + 1

// seriesPerPassedProbe is what one probe costs once it has passed without a
// JWT access token: the above, last_result, last_run, last_success and
// probe_propagation. This is the budget the README states.
var seriesPerPassedProbe = seriesPerProbe + 4

// seriesPerDriver is what a driver in use costs, however many probes use it:
// a step histogram per step, a check histogram per check (all seven when a
// probe lists no checks), failures by reason, the propagation histogram and
// drift by artifact.
var seriesPerDriver = len(verdict.Steps)*(len(StepBuckets)+3) + len(verdict.Checks)*(len(CheckBuckets)+3) +
	(len(verdict.FailReasons) + len(verdict.ErrorReasons) + 1) + (len(PropagationBuckets) + 3) + len(verdict.Artifacts)

// The budget: a probe that passed costs 9 series, 10 with a JWT access
// token, whatever the closed lists of reasons, artifacts and skip reasons.
func TestSeriesBudgetPerProbe(t *testing.T) {
	m, reg := newTest(t)
	keys := func(n int) []ProbeKey {
		var ks []ProbeKey
		for i := range n {
			ks = append(ks, ProbeKey{Target: fmt.Sprintf("tenant-%02d", i), Endpoint: "gtr", Driver: testDriver, Interval: time.Minute})
		}
		return ks
	}
	run := func(k ProbeKey) {
		r := baseRun(verdict.Pass, verdict.ReasonNone)
		r.Target, r.Endpoint = k.Target, k.Endpoint
		r.PropagationSeconds = f(0.3)
		r.ResidualValiditySeconds = f(3000)
		m.Observe(r)
	}
	m.SetProbes(keys(1))
	run(keys(1)[0])
	one := len(snapshot(t, reg))
	m.SetProbes(keys(11))
	for _, k := range keys(11) {
		run(k)
	}
	if got := (len(snapshot(t, reg)) - one) / 10; got != seriesPerPassedProbe+1 {
		t.Errorf("a probe that passed with a JWT costs %d series, want %d", got, seriesPerPassedProbe+1)
	}
	if seriesPerPassedProbe+1 > 10 {
		t.Errorf("budget: %d series per probe, over 10", seriesPerPassedProbe+1)
	}
}

func TestSetProbes(t *testing.T) {
	m, reg := newTest(t)
	global := len(snapshot(t, reg))
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}, {Target: "janssen", Endpoint: "global_token_revocation", Driver: "janssen-global-token-revocation", Interval: 30 * time.Second}})
	snap := snapshot(t, reg)
	if got, want := len(snap)-global, 2*seriesPerProbe+2*seriesPerDriver; got != want {
		t.Errorf("2 probes of 2 drivers made %d series, want %d", got, want)
	}
	t.Logf("%d series per probe after SetProbes, %d once passed (%d for 10,000 probes), %d per driver in use",
		seriesPerProbe, seriesPerPassedProbe, 10000*seriesPerPassedProbe, seriesPerDriver)
	for k, v := range snap {
		if !strings.Contains(k, `target="janssen"`) {
			continue
		}
		want := 0.0
		if strings.HasPrefix(k, "revprober_probe_interval_seconds{") {
			want = 60
			if strings.Contains(k, "global_token_revocation") {
				want = 30
			}
		}
		if v != want {
			t.Errorf("%s = %v at load, want %v", k, v, want)
		}
	}
	// Every failure series exists at zero, for both results, per driver;
	// every probe's runs by result (what the alerts read) too.
	for _, r := range verdict.FailReasons {
		if _, ok := snap[ds("revprober_failures_total", fmt.Sprintf(`reason=%q,result="fail"`, r))]; !ok {
			t.Errorf("no fail series for %s", r)
		}
	}
	for _, r := range verdict.ErrorReasons {
		if _, ok := snap[ds("revprober_failures_total", fmt.Sprintf(`reason=%q,result="error"`, r))]; !ok {
			t.Errorf("no error series for %s", r)
		}
	}
	for _, r := range verdict.Results {
		if _, ok := snap[s("revprober_runs_total", fmt.Sprintf(`result=%q`, r))]; !ok {
			t.Errorf("no runs series for %s", r)
		}
	}
	for _, r := range SkipReasons {
		if _, ok := snap[fmt.Sprintf(`revprober_runs_skipped_total{reason=%q}`, r)]; !ok {
			t.Errorf("no skipped series for %s", r)
		}
	}
	for _, n := range []string{"revprober_last_run_timestamp_seconds", "revprober_last_success_timestamp_seconds",
		"revprober_probe_propagation_seconds", "revprober_residual_validity_seconds"} {
		if _, ok := snap[s(n, "")]; ok {
			t.Errorf("%s exists before the first run", n)
		}
	}

	// Run both, then reload without revoke_session: every one of its series
	// goes, the other probe's counters keep their values, intervals update.
	fail := baseRun(verdict.Fail, verdict.SessionStillAlive)
	fail.Drift = []verdict.Artifact{verdict.Session}
	m.Observe(fail)
	other := baseRun(verdict.Pass, verdict.ReasonNone)
	other.Endpoint = "global_token_revocation"
	other.ResidualValiditySeconds = f(10)
	m.Observe(other)
	m.Skipped("janssen", "revoke_session", SkipOverlap)
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "global_token_revocation", Driver: "janssen-global-token-revocation", Interval: 2 * time.Minute}, {Target: "okta", Endpoint: "sessions", Driver: "okta-user-sessions", Interval: time.Minute}})
	snap = snapshot(t, reg)
	for k := range snap {
		if strings.Contains(k, `endpoint="revoke_session"`) || strings.Contains(k, `driver="`+testDriver+`"`) {
			t.Errorf("series of a removed probe, or of a driver no probe uses, left: %s", k)
		}
	}
	gtr := `endpoint="global_token_revocation",target="janssen"`
	for k, want := range map[string]float64{
		`revprober_runs_total{endpoint="global_token_revocation",result="pass",target="janssen"}`:                      1,
		`revprober_probe_interval_seconds{driver="janssen-global-token-revocation",` + gtr + `}`:                       120,
		`revprober_residual_validity_seconds{` + gtr + `}`:                                                             10,
		`revprober_probe_last_result{endpoint="global_token_revocation",reason="none",result="pass",target="janssen"}`: 1,
		`revprober_probe_interval_seconds{driver="okta-user-sessions",endpoint="sessions",target="okta"}`:              60,
	} {
		if got, ok := snap[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}

	// A run of the removed probe that was still in flight at the reload is
	// not recorded: it would bring back series nobody updates.
	m.Observe(baseRun(verdict.Pass, verdict.ReasonNone))
	for k := range snapshot(t, reg) {
		if strings.Contains(k, `endpoint="revoke_session"`) {
			t.Fatalf("in-flight run of a removed probe came back: %s", k)
		}
	}
	// Added again, it starts from zero.
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	if got, ok := snapshot(t, reg)[s("revprober_runs_total", `result="fail"`)]; !ok || got != 0 {
		t.Errorf("re-added probe starts at %v", got)
	}
}

// A probe whose driver changes at a reload keeps one interval series, under
// its new driver.
func TestSetProbesDriverChange(t *testing.T) {
	m, reg := newTest(t)
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: "other", Interval: time.Minute}})
	n := 0
	for k := range snapshot(t, reg) {
		if strings.HasPrefix(k, "revprober_probe_interval_seconds{") {
			n++
			if !strings.Contains(k, `driver="other"`) {
				t.Errorf("interval under the old driver: %s", k)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d interval series, want 1", n)
	}
}

// A run recorded before SetProbes knows its probe (the scheduler loaded the
// new config first, or one-shot mode) is recorded, under the unknown driver.
func TestObserveBeforeSetProbes(t *testing.T) {
	m, reg := newTest(t)
	m.Observe(baseRun(verdict.Fail, verdict.AccessTokenStillActive))
	snap := snapshot(t, reg)
	if got := snap[s("revprober_runs_total", `result="fail"`)]; got != 1 {
		t.Errorf("fail not counted: %v", got)
	}
	if got := snap[`revprober_failures_total{driver="unknown",reason="access_token_still_active",result="fail"}`]; got != 1 {
		t.Errorf("fail not counted under the unknown driver: %v", got)
	}
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	if got := snapshot(t, reg)[s("revprober_runs_total", `result="fail"`)]; got != 1 {
		t.Errorf("SetProbes reset an observed probe: %v", got)
	}
	for k := range snapshot(t, reg) {
		if strings.Contains(k, `driver="unknown"`) {
			t.Errorf("unknown-driver series left after SetProbes: %s", k)
		}
	}
}

// Per-driver series do not grow with the probes: 50 probes of one driver
// cost 50 probes' series plus one driver's.
func TestDriverSeriesShared(t *testing.T) {
	m, reg := newTest(t)
	global := len(snapshot(t, reg))
	var keys []ProbeKey
	for i := range 50 {
		keys = append(keys, ProbeKey{Target: fmt.Sprintf("tenant-%02d", i), Endpoint: "gtr", Driver: testDriver, Interval: time.Minute})
	}
	m.SetProbes(keys)
	if got, want := len(snapshot(t, reg))-global, 50*seriesPerProbe+seriesPerDriver; got != want {
		t.Errorf("50 probes of one driver made %d series, want %d", got, want)
	}
}

func TestSkipped(t *testing.T) {
	m, reg := newTest(t)
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	before := snapshot(t, reg)
	m.Skipped("janssen", "revoke_session", SkipNotLeader)
	m.Skipped("janssen", "revoke_session", SkipNotLeader)
	m.Skipped("janssen", "revoke_session", SkipReason("redis: connection refused at 10.1.2.3:6379"))
	compareDiff(t, diff(before, snapshot(t, reg)), map[string]float64{
		`revprober_runs_skipped_total{reason="not_leader"}`: 2,
	})
}

// The schedule lag lands in its bucket; a negative lag (a clock step)
// counts as zero.
func TestScheduleLag(t *testing.T) {
	m, reg := newTest(t)
	before := snapshot(t, reg)
	m.ScheduleLag(150 * time.Millisecond)
	m.ScheduleLag(-time.Second)
	snap := snapshot(t, reg)
	d := diff(before, snap)
	if got := d[`revprober_schedule_lag_seconds_count{}`]; got != 2 {
		t.Errorf("count %v, want 2", got)
	}
	if got := snap[`revprober_schedule_lag_seconds_bucket{le="0.1"}`]; got != 1 {
		t.Errorf("le=0.1 bucket %v, want 1 (the negative lag only)", got)
	}
	if got := snap[`revprober_schedule_lag_seconds_bucket{le="0.25"}`]; got != 2 {
		t.Errorf("le=0.25 bucket %v, want 2", got)
	}
}

func TestConfigReloadedAndCoordination(t *testing.T) {
	m, reg := newTest(t)
	m.ConfigReloaded(true)
	m.ConfigReloaded(false)
	m.SetCoordination("redis", false)
	m.SetCoordination("etcd", true) // not a known backend: ignored
	err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP revprober_config_last_reload_success_timestamp_seconds Unix time of the last successful configuration load or reload.
# TYPE revprober_config_last_reload_success_timestamp_seconds gauge
revprober_config_last_reload_success_timestamp_seconds %d
# HELP revprober_config_last_reload_successful Whether the last configuration load or reload succeeded (1) or not (0).
# TYPE revprober_config_last_reload_successful gauge
revprober_config_last_reload_successful 0
# HELP revprober_coordination_up Whether this replica probes through its coordination backend (1) or skips ticks as coordination_down (0: the backend is unreachable, or its data is new and probes wait until runs of before can have ended).
# TYPE revprober_coordination_up gauge
revprober_coordination_up{backend="redis"} 0
`, t0.Unix())), "revprober_config_last_reload_successful", "revprober_config_last_reload_success_timestamp_seconds", "revprober_coordination_up")
	if err != nil {
		t.Error(err)
	}
	m.SetCoordination("none", true)
	if n := testutil.CollectAndCount(m.coordinationUp); n != 1 {
		t.Errorf("%d coordination_up series after switching backend, want 1", n)
	}
	if got := testutil.ToFloat64(m.coordinationUp.WithLabelValues("none")); got != 1 {
		t.Errorf("coordination_up{backend=none} = %v", got)
	}
}

// TestEvidenceHead: the evidence series are absent until an evidence log
// reports its head; then the head is a gauge (a drop is visible in its
// history) and write errors count from zero.
func TestEvidenceHead(t *testing.T) {
	m, reg := newTest(t)
	if n := testutil.CollectAndCount(m.evidenceLastSeq) + testutil.CollectAndCount(m.evidenceWriteErrors) + testutil.CollectAndCount(m.evidenceWritable); n != 0 {
		t.Fatalf("%d evidence series without an evidence log", n)
	}
	m.EvidenceHead(7)
	m.EvidenceHead(8)
	m.EvidenceWriteError()
	m.EvidenceWritable(false)
	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP revprober_evidence_last_seq Seq of the last record of this replica's evidence chain (its head). It only grows while the chain is intact: a drop means records were cut or the log was started afresh. Absent without an evidence log.
# TYPE revprober_evidence_last_seq gauge
revprober_evidence_last_seq 8
# HELP revprober_evidence_write_errors_total Runs whose evidence record could not be written. Absent without an evidence log.
# TYPE revprober_evidence_write_errors_total counter
revprober_evidence_write_errors_total 1
# HELP revprober_evidence_writable Whether the evidence disk takes records (1) or refused the last one (0: full, read-only); back to 1 when a records_lost notice for the refused records is in the chain. Absent without an evidence log.
# TYPE revprober_evidence_writable gauge
revprober_evidence_writable 0
`), "revprober_evidence_last_seq", "revprober_evidence_write_errors_total", "revprober_evidence_writable")
	if err != nil {
		t.Error(err)
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, BuildInfo{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "revprober_build_info" {
			continue
		}
		got := map[string]string{}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if got["version"] != "unknown" || got["revision"] != "unknown" || !strings.HasPrefix(got["goversion"], "go") {
			t.Errorf("build_info labels %v", got)
		}
		return
	}
	t.Fatal("no revprober_build_info")
}

// No label value may come from anything but a closed list or the config.
func TestLabelValuesClosed(t *testing.T) {
	m, reg := newTest(t)
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	for _, res := range []verdict.Result{verdict.Pass, verdict.Fail, verdict.Error, "", "oops: 500"} {
		for _, reason := range append(append([]verdict.Reason{"", "none", "read tcp: i/o timeout", "eyJhbGciOiJSUzI1NiJ9"}, verdict.FailReasons...), verdict.ErrorReasons...) {
			r := baseRun(res, reason)
			r.Steps = append(r.Steps, verdict.Step{Name: "GET https://idp/userinfo?access_token=abc", Duration: time.Second})
			r.Checks = []verdict.Observation{{Check: "x-" + verdict.Check(reason), PropagationSeconds: f(1)}}
			r.Drift = []verdict.Artifact{verdict.Artifact("alice@example.com")}
			m.Observe(r)
		}
	}
	m.Skipped("janssen", "revoke_session", "unexpected EOF")
	m.SetCoordination("redis://user:pass@host", false)
	m.Refused("reload", "eyJhbGciOiJSUzI1NiJ9")
	m.Refused("GET /?token=abc", "foreign_host")

	allowed := map[string]map[string]bool{}
	add := func(label string, vs ...string) {
		if allowed[label] == nil {
			allowed[label] = map[string]bool{}
		}
		for _, v := range vs {
			allowed[label][v] = true
		}
	}
	for _, r := range verdict.Results {
		add("result", string(r))
	}
	for _, r := range append(append([]verdict.Reason{}, verdict.FailReasons...), verdict.ErrorReasons...) {
		add("reason", string(r))
	}
	for _, r := range SkipReasons {
		add("reason", string(r))
	}
	add("step", verdict.Steps...)
	for _, c := range verdict.Checks {
		add("check", string(c))
	}
	for _, a := range verdict.Artifacts {
		add("artifact", string(a))
	}
	add("backend", Backends...)
	for _, hr := range webguard.Series {
		add("handler", hr[0])
		add("reason", hr[1])
	}
	add("target", "janssen")
	add("endpoint", "revoke_session")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if vs, ok := allowed[lp.GetName()]; ok && !vs[lp.GetValue()] {
					t.Errorf("%s{%s=%q}: value not in its closed list", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

func TestLint(t *testing.T) {
	m, reg := newTest(t)
	fillAll(m)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestHistogramsAreClassicAndSmall(t *testing.T) {
	m, reg := newTest(t)
	fillAll(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		n++
		for _, mt := range mf.GetMetric() {
			h := mt.GetHistogram()
			if h.GetSchema() != 0 || len(h.GetPositiveSpan()) > 0 || h.GetZeroThreshold() != 0 {
				t.Errorf("%s: native histogram fields set", mf.GetName())
			}
			if b := len(h.GetBucket()); b == 0 || b > 12 {
				t.Errorf("%s: %d buckets, want 1..12", mf.GetName(), b)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d histograms, want 4", n)
	}
	if LagBuckets[0] != 0.001 || LagBuckets[len(LagBuckets)-1] != 10 || !contains(LagBuckets, 0.1) {
		t.Error("schedule lag buckets: 1 ms to 10 s, with the ScheduleLagHigh threshold (100 ms) a boundary")
	}
	if PropagationBuckets[0] != 0.05 || PropagationBuckets[len(PropagationBuckets)-1] != 1800 ||
		CheckBuckets[len(CheckBuckets)-1] != 1800 || StepBuckets[0] != 0.05 || StepBuckets[len(StepBuckets)-1] != 300 {
		t.Error("bucket ranges changed: propagation and checks up to 30min (Entra), step 50ms..5min")
	}
	if !contains(PropagationBuckets, 30) {
		t.Error("the 30 s SLO must be a propagation bucket boundary")
	}
}

// fillAll makes every metric have at least one series.
func fillAll(m *Metrics) {
	m.SetProbes([]ProbeKey{{Target: "janssen", Endpoint: "revoke_session", Driver: testDriver, Interval: time.Minute}})
	r := baseRun(verdict.Pass, verdict.ReasonNone)
	r.ResidualValiditySeconds = f(300)
	r.PropagationSeconds = f(1)
	r.Drift = []verdict.Artifact{verdict.Session}
	m.Observe(r)
	m.ScheduleLag(time.Millisecond)
	m.ConfigReloaded(true)
	m.SetCoordination(BackendNone, true)
	m.EvidenceHead(42)
	m.EvidenceWritable(true)
}

// TestGolden keeps testdata/metrics.golden, the list of every metric with its
// type and label names, in step with the code. The alert rules and
// dashboards are checked against that file (dashboards/dashboards_test.go).
// Regenerate with: go test ./internal/metrics -run TestGolden -update
func TestGolden(t *testing.T) {
	m, reg := newTest(t)
	fillAll(m)
	got := Describe(t, reg)
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("metrics changed; if intended, run go test ./internal/metrics -run TestGolden -update and update the rules, dashboards and runbook.\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// Describe renders "name type label,label" lines, sorted.
func Describe(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# revprober metrics: name type labels (generated by go test ./internal/metrics -run TestGolden -update)\n")
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		var ls []string
		for l := range labels {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		line := mf.GetName() + " " + strings.ToLower(mf.GetType().String())
		if len(ls) > 0 {
			line += " " + strings.Join(ls, ",")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func TestConcurrent(t *testing.T) {
	m, reg := newTest(t)
	keys := func(n int) []ProbeKey {
		var k []ProbeKey
		for i := 0; i < n; i++ {
			k = append(k, ProbeKey{Target: fmt.Sprintf("t%d", i), Endpoint: "e", Interval: time.Minute})
		}
		return k
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r := baseRun(verdict.Results[i%3], verdict.Timeout)
				r.Target, r.Endpoint = fmt.Sprintf("t%d", i%20), "e"
				m.Observe(r)
				m.Skipped(r.Target, "e", SkipOverlap)
			}
		}(w)
	}
	for i := 0; i < 50; i++ {
		m.SetProbes(keys(10 + i%10))
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	m.SetProbes(keys(5))
	for k := range snapshot(t, reg) {
		for i := 5; i < 20; i++ {
			if strings.Contains(k, fmt.Sprintf(`target="t%d"`, i)) {
				t.Fatalf("series of removed probe left: %s", k)
			}
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	m := New(prometheus.NewRegistry(), BuildInfo{})
	var keys []ProbeKey
	for i := 0; i < 10000; i++ {
		keys = append(keys, ProbeKey{Target: fmt.Sprintf("tenant-%d", i), Endpoint: "global_token_revocation", Interval: time.Minute})
	}
	m.SetProbes(keys)
	r := baseRun(verdict.Pass, verdict.ReasonNone)
	r.Endpoint = "global_token_revocation"
	r.PropagationSeconds = f(0.5)
	r.Checks = []verdict.Observation{{Check: verdict.Introspection, PropagationSeconds: f(0.5)}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Target = keys[i%len(keys)].Target
		m.Observe(r)
	}
}

// BenchmarkSetProbes10k is a config load of 10,000 probes on a replica that
// already has them (a reload that changes nothing).
func BenchmarkSetProbes10k(b *testing.B) {
	m := New(prometheus.NewRegistry(), BuildInfo{})
	var keys []ProbeKey
	for i := 0; i < 10000; i++ {
		keys = append(keys, ProbeKey{Target: fmt.Sprintf("tenant-%d", i), Endpoint: "global_token_revocation", Interval: time.Minute})
	}
	start := time.Now()
	m.SetProbes(keys)
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "first-load-ms")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.SetProbes(keys)
	}
}
