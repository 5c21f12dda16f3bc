package metrics

import (
	"fmt"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revprober/revprober/internal/verdict"
)

// BenchmarkScrape10k is what Prometheus pays to scrape one replica that
// carries 10,000 probes of three checks each, every one of which has run:
// series per probe, size of the exposition (plain and gzip), and time and
// CPU to serve it. The target: under 1 s and 15 MB uncompressed.
func BenchmarkScrape10k(b *testing.B) {
	const n = 10000
	reg := prometheus.NewRegistry()
	m := New(reg, BuildInfo{Version: "bench"})
	checks := []verdict.Check{verdict.RefreshGrant, verdict.Introspection, verdict.Userinfo}
	keys := make([]ProbeKey, n)
	for i := range keys {
		keys[i] = ProbeKey{Target: fmt.Sprintf("tenant-%05d", i), Endpoint: "global-token-revocation", Interval: time.Minute, Checks: checks}
	}
	m.SetProbes(keys)
	p := 0.2
	for _, k := range keys {
		r := &verdict.Run{Target: k.Target, Endpoint: k.Endpoint, Result: verdict.Pass, Reason: verdict.ReasonNone,
			Started: time.Now(), Duration: time.Second, PropagationSeconds: &p}
		for _, s := range verdict.Steps {
			r.Steps = append(r.Steps, verdict.Step{Name: s, Duration: 100 * time.Millisecond})
		}
		for _, c := range checks {
			r.Checks = append(r.Checks, verdict.Observation{Check: c, PropagationSeconds: &p})
		}
		m.Observe(r)
	}
	g := m.Gatherer(reg)
	mfs, err := g.Gather()
	if err != nil {
		b.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				series += len(h.GetBucket()) + 3 // buckets, +Inf, _sum, _count
				continue
			}
			series++
		}
	}
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	gz := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	h.ServeHTTP(gz, req)
	var bytes int
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil)) // plain text, as a scrape without gzip
		bytes = rec.Body.Len()
	}
	b.StopTimer()
	// CPU, not wall time: on a shared machine the wall time of a scrape
	// says more about the neighbours than about the exposition.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/scrape")
	b.ReportMetric(float64(series)/n, "series/probe")
	b.ReportMetric(float64(bytes)/1e6, "MB/scrape")
	b.ReportMetric(float64(gz.Body.Len())/1e6, "gzip-MB/scrape")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
