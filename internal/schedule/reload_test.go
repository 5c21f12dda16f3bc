package schedule

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// TestReloadStormLosesNoTick: 1,000 reloads, 40 ms of (fake) time apart,
// each with freshly compiled probes as the daemon makes them. The probe
// whose schedule did not change runs on every tick of its grid, no more and
// no fewer; the probe whose interval changed halfway runs on its old grid
// until then and on its new grid after. (Re-creating every job at each
// reload re-planned each probe from "now + 50 ms": with reloads 40 ms
// apart, every tick was dropped and nothing ran at all.)
func TestReloadStormLosesNoTick(t *testing.T) {
	const (
		reloads = 1000
		step    = 40 * time.Millisecond
		steady  = 10 * time.Second
		before  = 10 * time.Second // the moving probe's interval, then
		after   = 7 * time.Second  // after reload number `switchAt`
	)
	const switchAt = reloads / 2
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	var (
		mu    sync.Mutex
		ticks = map[string][]time.Time{}
	)
	s, err := New(Options{
		Now: clock.Now, GocronOption: []gocron.SchedulerOption{gocron.WithClock(clock)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Run: func(_ context.Context, p *probe.Probe) *verdict.Run {
			return &verdict.Run{Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass}
		},
		Recorders: []Recorder{RecorderFunc(func(r *verdict.Run) {
			mu.Lock()
			ticks[r.Target] = append(ticks[r.Target], *r.Tick)
			mu.Unlock()
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	compile := func(i int) []*probe.Probe { // a reload compiles new probe values
		moving := testProbe("moving", before)
		if i >= switchAt {
			moving = testProbe("moving", after)
		}
		return []*probe.Probe{testProbe("steady", steady), moving}
	}
	if err := s.Load(compile(0)); err != nil {
		t.Fatal(err)
	}
	s.Start()
	var switched time.Time
	for i := 1; i <= reloads; i++ {
		clock.Advance(step)
		if i == switchAt {
			switched = clock.Now()
		}
		if err := s.Load(compile(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // let gocron's goroutines see the new time
	}
	end := clock.Now()

	// The grid ticks in (start, end], per probe: what must have run.
	grid := func(id string, interval time.Duration, from, to time.Time) []time.Time {
		var out []time.Time
		for tk := FirstTick(from.Add(startMargin), id, interval); !tk.After(to); tk = tk.Add(interval) {
			out = append(out, tk)
		}
		return out
	}
	want := map[string][]time.Time{
		"steady": grid("steady/e", steady, start, end),
		"moving": append(grid("moving/e", before, start, switched.Add(-step)), grid("moving/e", after, switched, end)...),
	}
	if len(want["steady"]) < 3 || len(want["moving"]) < 4 {
		t.Fatalf("the storm spans too few ticks to prove anything: %v", want)
	}
	// Await the runs of the last ticks (gocron hands them over
	// asynchronously), bounded in real time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := len(ticks["steady"]) >= len(want["steady"]) && len(ticks["moving"]) >= len(want["moving"])
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		var got []time.Time
		for _, tk := range ticks[id] {
			// The old grid's tick, if any, between the last reload before
			// the change and the change itself may or may not have run:
			// the change removed its job then.
			if id == "moving" && tk.After(switched.Add(-step)) && !tk.After(switched) {
				continue
			}
			got = append(got, tk)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].Before(got[j]) })
		if !equalTimes(got, w) {
			t.Errorf("%s ran on ticks %v; want every tick of its grid %v", id, got, w)
		}
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
