package metrics

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
