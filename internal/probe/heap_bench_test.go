package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// scaleProbe is a probe of `make bench-scale`'s shape: Janssen global token
// revocation, the form login with both session checks besides the three
// token checks, a 2 s hold, a 10 s deadline and the config's poll defaults.
func scaleProbe(b testing.TB, base, canary, password string, rt http.RoundTripper) *probe.Probe {
	return probetest.Probe(b, base, "janssen-global-token-revocation", nil, probetest.CodeLogin, func(p *probe.Probe) {
		p.Transport = rt
		p.Timeout, p.Deadline, p.Hold = 30*time.Second, 10*time.Second, 2*time.Second
		p.PollInitial, p.PollMax = 10*time.Millisecond, time.Second
		p.Canaries[0].Name, p.Canaries[0].Username = canary, canary
		p.Canaries[0].Password = secret.New(password)
		p.Canaries[0].Attributes = map[string]string{"uid": canary}
	})
}

// BenchmarkRunAllocs is what one passing run of the bench-scale shape
// allocates in the prober (B/op, allocs/op; the simulator in its own
// process with REVPROBER_BIN, as `make bench` runs it): at 10,000 runs a
// minute every kilobyte a run allocates is about 170 KB/s for the
// collector. kept-B/run is the heap a run's record holds once the run is
// over, as the status page keeps thousands of them.
func BenchmarkRunAllocs(b *testing.B) {
	base, _, _ := benchSim(b)
	p := scaleProbe(b, base, "canary01", "canary-password-01", probetest.Transport)
	kept := make([]*verdict.Run, 0, b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Pass {
			b.Fatalf("run %d: %s/%s: %s", i, r.Result, r.Reason, r.Detail)
		}
		kept = append(kept, r)
	}
	b.StopTimer()
	probetest.Transport.(*http.Transport).CloseIdleConnections() // their buffers are not the records'
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "kept-B/run")
	runtime.KeepAlive(kept)
}

// gate holds every run at its revocation request until released: the
// runs then hold what a run in flight holds (logged-in canaries, the
// trace, the scrubber, the clients), and the heap can be measured.
type gate struct {
	next     http.RoundTripper
	arrived  atomic.Int64
	want     int64
	all      chan struct{}
	release  chan struct{}
	allOnce  sync.Once
	relOnce  sync.Once
	blocking atomic.Bool
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.blocking.Load() && strings.HasSuffix(req.URL.Path, "/global-token-revocation") {
		if g.arrived.Add(1) == g.want {
			g.allOnce.Do(func() { close(g.all) })
		}
		<-g.release
	}
	return g.next.RoundTrip(req)
}

// BenchmarkInFlightHeap is the live heap a run in flight holds (at its
// revocation request: after the login and the positive control), the
// figure that times the ~350 runs in flight at 10,000 probes a minute.
// The simulator is in its own process with REVPROBER_BIN (else its state
// is counted too).
func BenchmarkInFlightHeap(b *testing.B) {
	const n = idpsim.DefaultCanaries // canary00001 … of the simulator
	base, _, _ := benchSim(b)
	for i := 0; i < b.N; i++ {
		g := &gate{next: probetest.Transport, want: n, all: make(chan struct{}), release: make(chan struct{})}
		g.blocking.Store(true)
		probes := make([]*probe.Probe, n)
		for j := range probes {
			// Each on a canary of its own, as in bench-scale: the simulator's
			// generated canaries.
			name := fmt.Sprintf("canary%05d", j+1)
			probes[j] = scaleProbe(b, base, name, "canary-password-"+name[len("canary"):], g)
		}
		runtime.GC()
		var before, during runtime.MemStats
		runtime.ReadMemStats(&before)
		results := make(chan *verdict.Run, n)
		for _, p := range probes {
			go func() { results <- probe.Run(context.Background(), p) }()
		}
		<-g.all
		runtime.GC()
		runtime.ReadMemStats(&during)
		g.blocking.Store(false)
		close(g.release)
		for range n {
			if r := <-results; r.Result != verdict.Pass {
				b.Fatalf("%s/%s: %s", r.Result, r.Reason, r.Detail)
			}
		}
		b.ReportMetric(float64(int64(during.HeapAlloc)-int64(before.HeapAlloc))/n, "live-B/run")
	}
}
