package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

func testProbe(target string, interval time.Duration) *probe.Probe {
	return &probe.Probe{Target: target, Endpoint: "e", Interval: interval, Timeout: interval / 2,
		Canaries: []probe.Canary{{Username: "canary-" + target}}}
}

// TestTicksAreStableAndSpread: ticks sit on a fixed grid per probe (the
// same after a restart, on every replica), and 1,000 probes spread over
// the interval instead of bunching at second zero.
func TestTicksAreStableAndSpread(t *testing.T) {
	const interval = time.Minute
	now := time.Date(2026, 11, 22, 10, 0, 7, 0, time.UTC)
	buckets := make([]int, 6) // 10 s buckets
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("target-%d/e", i)
		first := FirstTick(now, id, interval)
		if first.Before(now) || !first.Before(now.Add(interval)) {
			t.Fatalf("%s: first tick %s not within one interval of %s", id, first, now)
		}
		if again := FirstTick(now.Add(3*time.Second), id, interval); again.Sub(first)%interval != 0 {
			t.Fatalf("%s: a restart moved the grid: %s then %s", id, first, again)
		}
		if got := TickAt(first.Add(interval/3), id, interval); !got.Equal(first) {
			t.Fatalf("%s: TickAt inside the slot = %s, want %s", id, got, first)
		}
		buckets[first.Sub(now)/(10*time.Second)]++
	}
	for i, n := range buckets {
		if n < 100 { // uniform would be ~167 per bucket
			t.Errorf("bucket %d has %d of 1000 probes: offsets bunch (%v)", i, n, buckets)
		}
	}
}

// TestSchedulerRunsEachProbeAndSkipsOverlap drives the scheduler with a
// fake clock: every probe runs on its ticks, runs on one canary never
// overlap, and a run that outlasts its interval makes the next tick a
// counted skip rather than a second concurrent run.
func TestSchedulerRunsEachProbeAndSkipsOverlap(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	var (
		mu       sync.Mutex
		runs     = map[string]int{}
		inFlight atomic.Int32
		maxSeen  atomic.Int32
		skips    = map[string]int{}
	)
	release := make(chan struct{})
	slow := testProbe("slow", 10*time.Second)
	fast := testProbe("fast", 10*time.Second)
	fast.Canaries = slow.Canaries // same canary: must never overlap
	s, err := New(Options{
		Now:          clock.Now,
		GocronOption: []gocron.SchedulerOption{gocron.WithClock(clock)},
		Skipped: func(target, _, reason string) {
			mu.Lock()
			skips[target+"/"+reason]++
			mu.Unlock()
		},
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			n := inFlight.Add(1)
			for {
				m := maxSeen.Load()
				if n <= m || maxSeen.CompareAndSwap(m, n) {
					break
				}
			}
			if p.Target == "slow" {
				<-release
			}
			inFlight.Add(-1)
			mu.Lock()
			runs[p.Target]++
			mu.Unlock()
			return &verdict.Run{Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load([]*probe.Probe{slow, fast}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()

	// Move time on while the slow run holds the canary: its next tick
	// must be skipped as an overlap.
	advanceUntil(t, clock, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return skips["slow/overlap"] >= 1
	}, "an overlap skip of the slow probe")
	close(release)
	advanceUntil(t, clock, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs["slow"] >= 1 && runs["fast"] >= 1
	}, "both probes to run")
	if maxSeen.Load() > 1 {
		t.Fatalf("%d runs on one canary overlapped", maxSeen.Load())
	}
}

// advanceUntil moves the fake clock a second at a time until cond holds.
// gocron's goroutines register their timers asynchronously, so a fixed
// number of steps can all pass before a job is even scheduled; polling
// the condition (bounded in steps and in real time) cannot.
func advanceUntil(t *testing.T, clock *clockwork.FakeClock, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for step := 0; !cond(); step++ {
		if step > 5000 || time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		clock.Advance(time.Second)
		runtime.Gosched()
		time.Sleep(2 * time.Millisecond) // let the scheduler's goroutines run
	}
}

// BenchmarkLoad10k measures what 10,000 idle probes cost the scheduler:
// the time to (re)load them, and that idle probes hold no goroutine each.
func BenchmarkLoad10k(b *testing.B) {
	probes := make([]*probe.Probe, 10000)
	for i := range probes {
		probes[i] = testProbe(fmt.Sprintf("tenant-%05d", i), time.Minute)
	}
	for i := 0; i < b.N; i++ {
		s, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Run: func(context.Context, *probe.Probe) *verdict.Run { return &verdict.Run{} }})
		if err != nil {
			b.Fatal(err)
		}
		g0 := runtime.NumGoroutine()
		if err := s.Load(probes); err != nil {
			b.Fatal(err)
		}
		s.Start()
		b.ReportMetric(float64(runtime.NumGoroutine()-g0), "goroutines-added")
		_ = s.Shutdown()
	}
}

// TestIdleProbesHoldNoGoroutine: after every probe has run, idle probes
// cost no goroutine each (gocron's singleton mode kept one per job, plus a
// 1000-slot queue, once the job had run: 10,000 probes held 10,000).
func TestIdleProbesHoldNoGoroutine(t *testing.T) {
	const n = 1000
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	var ran atomic.Int32
	s, err := New(Options{
		Now: clock.Now, GocronOption: []gocron.SchedulerOption{gocron.WithClock(clock)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			ran.Add(1)
			return &verdict.Run{Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	probes := make([]*probe.Probe, n)
	for i := range probes {
		probes[i] = testProbe(fmt.Sprintf("tenant-%04d", i), time.Minute)
		probes[i].Canaries = []probe.Canary{{Name: "c", Username: fmt.Sprintf("canary-%04d", i)}}
	}
	g0 := runtime.NumGoroutine()
	if err := s.Load(probes); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	advanceUntil(t, clock, func() bool { return ran.Load() >= n }, "every probe to run once")
	settle := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine()-g0 > 50 && time.Now().Before(settle) {
		time.Sleep(10 * time.Millisecond) // finished runs' goroutines exit
	}
	if extra := runtime.NumGoroutine() - g0; extra > 50 {
		t.Fatalf("%d probes that have run and are idle hold %d goroutines", n, extra)
	}
}

// TestShutdownRecordsInterruptedRuns: a run cut short because the daemon
// stops is recorded, with the reason the run gives (interrupted): it may
// have revoked the canary, and the evidence must account for every
// revocation. The run's context says why it ended (ErrShuttingDown).
func TestShutdownRecordsInterruptedRuns(t *testing.T) {
	var recorded []*verdict.Run
	var cause error
	s, err := New(Options{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Recorders: []Recorder{RecorderFunc(func(r *verdict.Run) { recorded = append(recorded, r) })},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.opts.Run = func(ctx context.Context, _ *probe.Probe) *verdict.Run {
		_ = s.Shutdown() // the daemon stops while the run is under way
		<-ctx.Done()
		cause = context.Cause(ctx)
		return &verdict.Run{Result: verdict.Error, Reason: verdict.Interrupted}
	}
	run, _, err := s.RunOnce(s.ctx, testProbe("t", time.Minute), time.Now())
	if err != nil || run == nil {
		t.Fatalf("RunOnce: %v, %v", run, err)
	}
	if len(recorded) != 1 || recorded[0].Reason != verdict.Interrupted {
		t.Fatalf("recorded %d runs (%+v), want the interrupted one", len(recorded), recorded)
	}
	if !errors.Is(cause, ErrShuttingDown) {
		t.Fatalf("the run's context ended with %v, want ErrShuttingDown", cause)
	}
}

// probeSetter is an in-process coordinator that records what Load told it.
type probeSetter struct {
	*LocalCoordinator
	mu     sync.Mutex
	loaded [][]string
}

func (p *probeSetter) SetProbes(probes []*probe.Probe) {
	var ids []string
	for _, pr := range probes {
		ids = append(ids, pr.ID())
	}
	p.mu.Lock()
	p.loaded = append(p.loaded, ids)
	p.mu.Unlock()
}

// TestLoadTellsTheCoordinator: a coordinator that sizes its waits from
// the probes (Redis, after a data loss) learns every probe at each Load,
// before any of them can run.
func TestLoadTellsTheCoordinator(t *testing.T) {
	ps := &probeSetter{LocalCoordinator: NewLocalCoordinator()}
	s, err := New(Options{Coordinator: ps, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if err := s.Load([]*probe.Probe{testProbe("a", time.Minute), testProbe("b", time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Load([]*probe.Probe{testProbe("c", time.Minute)}); err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if got := fmt.Sprint(ps.loaded); got != "[[a/e b/e] [c/e]]" {
		t.Fatalf("SetProbes calls %s, want [[a/e b/e] [c/e]]", got)
	}
}

// TestLagIsTheDelayFromTheTick: a tick that gocron hands over 300 ms after
// its slot on the probe's grid (here: the clock jumps past it, as when the
// replica is too busy to fire it on time) is observed as 300 ms of lag; the
// next tick, fired on its slot, as none.
func TestLagIsTheDelayFromTheTick(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(t0)
	p := testProbe("lagging", 10*time.Second)
	lags := make(chan time.Duration, 10)
	s, err := New(Options{
		Now:          clock.Now,
		GocronOption: []gocron.SchedulerOption{gocron.WithClock(clock)},
		Lag:          func(d time.Duration) { lags <- d },
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			return &verdict.Run{Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load([]*probe.Probe{p}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	first := FirstTick(t0.Add(startMargin), p.ID(), p.Interval)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // gocron's timer for the first tick
		t.Fatal(err)
	}
	clock.Advance(first.Sub(t0) + 300*time.Millisecond)
	if got := awaitLag(t, lags); got != 300*time.Millisecond {
		t.Errorf("lag of a tick fired 300ms late = %s", got)
	}
	clock.Advance(p.Interval - 300*time.Millisecond) // exactly the next slot
	if got := awaitLag(t, lags); got != 0 {
		t.Errorf("lag of a tick fired on its slot = %s", got)
	}
}

func awaitLag(t *testing.T, lags chan time.Duration) time.Duration {
	t.Helper()
	select {
	case d := <-lags:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no tick observed")
		return 0
	}
}
