package schedule

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// steppedClock is the machine's clock: timers run on the monotonic clock
// (real ones), and Now reads a wall clock that the test can step, as NTP
// or a resumed VM steps it, with the monotonic reading going on.
type steppedClock struct {
	clockwork.Clock
	step atomic.Int64
}

func (c *steppedClock) Now() time.Time {
	n := time.Now()
	s, ok := testenv.WallStepped(n, time.Duration(c.step.Load()))
	if !ok {
		panic("testenv.WallStepped cannot step this Go's time.Time")
	}
	return s
}

func (c *steppedClock) stepBy(d time.Duration) { c.step.Add(int64(d)) }

// TestWallClockStepsLoseNoTicksAndDoubleNone: the wall clock steps back an
// hour, then forward two, while a probe runs every 300 ms. After each
// step the probe runs on (the next run comes within a few intervals, not
// after the hour gocron would wait for the wall clock to catch up), and no
// tick slot runs twice, nor do runs bunch (at most one per interval of
// monotonic time, plus one).
func TestWallClockStepsLoseNoTicksAndDoubleNone(t *testing.T) {
	const interval = 300 * time.Millisecond
	clock := &steppedClock{Clock: clockwork.NewRealClock()}
	var (
		mu    sync.Mutex
		ticks []time.Time
		start = time.Now()
	)
	runs := make(chan struct{}, 64)
	s, err := New(Options{
		Now: clock.Now, GocronOption: []gocron.SchedulerOption{gocron.WithClock(clock)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			return &verdict.Run{Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass}
		},
		Recorders: []Recorder{RecorderFunc(func(r *verdict.Run) {
			mu.Lock()
			ticks = append(ticks, *r.Tick)
			mu.Unlock()
			runs <- struct{}{}
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := testProbe("stepped", interval)
	p.Timeout = interval / 3
	if err := s.Load([]*probe.Probe{p}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	await := func(n int, what string) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case <-runs:
			case <-time.After(20 * interval): // a lost tick waits an hour: a wide margin
				t.Fatalf("no run within %s %s: ticks are lost", 20*interval, what)
			}
		}
	}
	await(3, "at start")
	clock.stepBy(-time.Hour)
	await(4, "after the wall clock stepped back an hour")
	clock.stepBy(2 * time.Hour)
	await(4, "after the wall clock stepped forward two hours")
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	seen := map[time.Time]bool{}
	for _, tick := range ticks {
		if seen[tick] {
			t.Errorf("tick %s ran twice (ticks %v)", tick, ticks)
		}
		seen[tick] = true
	}
	if most := int(elapsed/interval) + 2; len(ticks) > most {
		t.Errorf("%d runs in %s of monotonic time at a %s interval (at most %d): ticks doubled", len(ticks), elapsed, interval, most)
	}
}
