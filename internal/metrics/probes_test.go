package metrics

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/revprober/revprober/internal/verdict"
)

// The series of a probe that has passed cost well under a kilobyte of
// heap: 10,000 probes' series are a few megabytes, not the 44 MB that
// metric vectors kept (about 490 bytes for each of 9 series).
func TestHeapPerProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 10,000 probes")
	}
	const n = 10000
	keys := make([]ProbeKey, n)
	for i := range keys {
		keys[i] = ProbeKey{Target: fmt.Sprintf("tenant-%05d", i), Endpoint: "global-token-revocation", Driver: testDriver, Interval: time.Minute}
	}
	runs := make([]*verdict.Run, n)
	for i, k := range keys {
		runs[i] = &verdict.Run{Target: k.Target, Endpoint: k.Endpoint, Result: verdict.Pass, Started: t0, Duration: time.Second,
			PropagationSeconds: f(0.2), ResidualValiditySeconds: f(60)}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	m := New(prometheus.NewRegistry(), BuildInfo{})
	m.SetProbes(keys)
	for _, r := range runs {
		m.Observe(r)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keys) // what the test built is not the metrics' heap
	runtime.KeepAlive(runs)
	perProbe := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per probe", perProbe)
	if perProbe > 1000 {
		t.Errorf("the series of a probe keep %d bytes of heap, want under 1,000", perProbe)
	}
	runtime.KeepAlive(m)
}

// Scrapes in parallel, in the protobuf and the text format, while runs are
// recorded: the label pairs the series share are only read (run with
// -race).
func TestConcurrentScrapes(t *testing.T) {
	m, reg := newTest(t)
	var keys []ProbeKey
	for i := range 50 {
		keys = append(keys, ProbeKey{Target: fmt.Sprintf("t%d", i), Endpoint: "e", Driver: testDriver, Interval: time.Minute})
	}
	m.SetProbes(keys)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var wg sync.WaitGroup
	for _, accept := range []string{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "text/plain", ""} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept", accept)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Errorf("scrape (%q): %d %s", accept, rec.Code, rec.Body)
					return
				}
			}
		}()
	}
	for i := range 500 {
		r := baseRun(verdict.Results[i%3], verdict.Timeout)
		r.Target, r.Endpoint = keys[i%len(keys)].Target, "e"
		r.Drift = []verdict.Artifact{verdict.Session}
		m.Observe(r)
	}
	wg.Wait()
	if got := snapshot(t, reg)[`revprober_runs_total{endpoint="e",result="pass",target="t0"}`]; got != 4 {
		t.Errorf("runs_total of t0 = %v, want 4", got)
	}
}

// The per-probe families are built in the order a registry sorts a family
// (by label values, in label name order), which Prometheus' text parser
// and people diffing two scrapes expect: probes of several endpoints,
// drivers, results, reasons and drifts, declared and observed out of
// order.
func TestProbeFamiliesInRegistryOrder(t *testing.T) {
	m, g := newTest(t)
	var keys []ProbeKey
	for i := range 40 {
		keys = append(keys, ProbeKey{Target: fmt.Sprintf("t%02d", (i*17)%40), Endpoint: []string{"revoke", "global", "session"}[i%3],
			Driver: []string{"rfc7009", "janssen-global-token-revocation"}[i%2], Interval: time.Minute})
	}
	m.SetProbes(keys)
	for i, k := range keys {
		r := baseRun(verdict.Results[i%3], []verdict.Reason{verdict.Timeout, verdict.AccessTokenStillActive}[i%2])
		r.Target, r.Endpoint = k.Target, k.Endpoint
		r.Drift = [][]verdict.Artifact{nil, {verdict.Session}, {verdict.RefreshToken, verdict.Session}}[i%3]
		r.ResidualValiditySeconds = f(float64(i))
		m.Observe(r)
	}
	// A run of a probe SetProbes does not know (admitted) sorts in too.
	r := baseRun(verdict.Pass, verdict.ReasonNone)
	r.Target, r.Endpoint = "a-late", "global"
	m.Observe(r)

	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		for i := 1; i < len(mf.GetMetric()); i++ {
			a, b := mf.GetMetric()[i-1].GetLabel(), mf.GetMetric()[i].GetLabel()
			if !labelsLess(a, b) {
				t.Errorf("%s: series %d %v is not before series %d %v", mf.GetName(), i-1, a, i, b)
			}
		}
		if strings.Contains(mf.GetName(), "drift") || strings.Contains(mf.GetName(), "probe_last_result") || strings.Contains(mf.GetName(), "runs_total") {
			seen++
		}
	}
	if seen < 4 { // runs_total, probe_last_result, probe_drift, drift_total
		t.Errorf("want the per-probe families with extra labels in the scrape, saw %d", seen)
	}
	for i := 1; i < len(mfs); i++ {
		if mfs[i-1].GetName() >= mfs[i].GetName() {
			t.Errorf("families out of order: %s before %s", mfs[i-1].GetName(), mfs[i].GetName())
		}
	}
}

// labelsLess is a registry's order of two series of one family: by label
// values, label by label (the pairs are in label name order).
func labelsLess(a, b []*dto.LabelPair) bool {
	for i := range min(len(a), len(b)) {
		if a[i].GetName() != b[i].GetName() {
			return a[i].GetName() < b[i].GetName()
		}
		if a[i].GetValue() != b[i].GetValue() {
			return a[i].GetValue() < b[i].GetValue()
		}
	}
	return len(a) < len(b)
}

// The registry reserves the per-probe families' names: a collector that
// would collide with them is refused when it registers, as it would be
// against any collector.
func TestProbeFamilyNamesReserved(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, BuildInfo{})
	for _, name := range []string{"revprober_runs_total", "revprober_probe_last_result", "revprober_probe_drift"} {
		err := reg.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "x"}))
		if err == nil {
			t.Errorf("registering %s next to the per-probe families succeeded", name)
		}
	}
}
