package rediscoord

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
)

// TestCoordinationUpSaysWhatSchedulerDoes: after Redis came back with new
// data, Redis answers but every probe waits out the runs of before,
// skipped as coordination_down. The state (revprober_coordination_up and
// its log line) says "down" for as long as the scheduler skips, and "up"
// once it runs again: at every step, the state and the decision agree.
func TestCoordinationUpSaysWhatSchedulerDoes(t *testing.T) {
	f := newEmptyFixture(t) // a Redis that lost its data: no epoch
	var clockMu sync.Mutex
	clock := time.Now()
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	c := f.add(t, "a", func(o *Options) { o.Now = now })
	p := &probe.Probe{Target: "t", Endpoint: "e", Issuer: "https://idp.example", Interval: time.Minute, Timeout: timeout,
		Canaries: []probe.Canary{{Name: "c", Username: "canary01"}}}
	c.SetProbes([]*probe.Probe{p})
	var mu sync.Mutex
	state, known := false, false
	c.SetStateFunc(func(up bool) { mu.Lock(); state, known = up, true; mu.Unlock() })

	// check compares the reported state with what Acquire decides now.
	check := func(when string, wantRun bool) {
		t.Helper()
		release, skip, err := c.acquire(context.Background(), p.ID(), p.CanaryKeys(), 0, p.Timeout, time.Time{})
		ran := skip == "" && err == nil
		if ran {
			release()
		}
		if ran != wantRun {
			t.Fatalf("%s: ran %v (skip %q, err %v), want %v", when, ran, skip, err, wantRun)
		}
		if wantRun == false && skip != schedule.SkipCoordinationDown {
			t.Fatalf("%s: skip %q, want coordination_down", when, skip)
		}
		mu.Lock()
		defer mu.Unlock()
		if !known || state != ran {
			t.Fatalf("%s: coordination_up says %v (known %v) while the scheduler %s", when, state, known, map[bool]string{true: "runs", false: "skips"}[ran])
		}
	}

	c.beat(context.Background()) // Redis answers; a new epoch: wait
	check("Redis back with new data", false)
	advance(c.hold(timeout) / 2)
	c.beat(context.Background())
	check("halfway through the wait", false)
	advance(c.hold(timeout)/2 + time.Millisecond)
	c.beat(context.Background())
	check("the wait over", true)

	f.mr.Close() // Redis gone
	c.beat(context.Background())
	check("Redis unreachable", false)
}
