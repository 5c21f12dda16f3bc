package daemon_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// tenThousand is a config of 10,000 probes on 10,000 canaries of one
// identity provider, one target each, as the scale benchmark runs them.
func tenThousand(n int) []byte {
	var b strings.Builder
	b.WriteString("global:\n  interval: 1m\ntargets:\n")
	for i := range n {
		fmt.Fprintf(&b, `  - name: tenant-%05d
    issuer: http://127.0.0.1:1
    admin_client: {client_id: prober, client_secret: s3cret-admin}
    login:
      client: {client_id: app, client_secret: s3cret-app}
    canary: {username: canary%05d, password: pw-%05d}
    endpoints:
      - driver: janssen-global-token-revocation
`, i, i+1, i+1)
	}
	return []byte(b.String())
}

// BenchmarkHeap10k is the heap a daemon of 10,000 probes keeps once every
// probe has run once: the compiled probes, their gocron jobs, their metric
// series and the scheduler's state (not the status page's history, which
// is measured on its own). Each run is a stub that passes with a
// realistic record: the identity provider is not what is measured. With
// -memprofile the heap profile at the end says where it goes.
func BenchmarkHeap10k(b *testing.B) {
	const n = 10000
	yml := tenThousand(n)
	p := 0.2
	pass := func(_ context.Context, pr *probe.Probe) *verdict.Run {
		r := &verdict.Run{ID: "run-" + pr.ID(), Target: pr.Target, Endpoint: pr.Endpoint, Result: verdict.Pass,
			Reason: verdict.ReasonNone, Started: time.Now(), Duration: 300 * time.Millisecond, PropagationSeconds: &p}
		for _, s := range verdict.Steps {
			r.Steps = append(r.Steps, verdict.Step{Name: s, Duration: 50 * time.Millisecond})
		}
		for _, c := range []verdict.Check{verdict.Introspection, verdict.Userinfo, verdict.RefreshGrant} {
			r.Checks = append(r.Checks, verdict.Observation{Check: c, PropagationSeconds: &p})
		}
		return r
	}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		d, err := daemon.New(daemon.Options{
			Load:   func() (*config.Config, error) { return config.Parse("revprober.yml", yml, opts()) },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Clock:  clockwork.NewFakeClockAt(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)),
			Run:    pass,
		})
		if err != nil {
			b.Fatal(err)
		}
		probes := d.Probes()
		if len(probes) != n {
			b.Fatalf("%d probes", len(probes))
		}
		for _, pr := range probes {
			if _, skip, err := d.Sched.RunOnce(context.Background(), pr, time.Time{}); skip != "" || err != nil {
				b.Fatalf("%s: %s %v", pr.ID(), skip, err)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/probe")
		runtime.KeepAlive(d)
	}
}
