package rediscoord

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
)

const (
	interval = 2 * time.Second
	timeout  = time.Second
)

type fixture struct {
	mr     *miniredis.Miniredis
	coords []*Coordinator
}

func newFixture(t *testing.T, replicas ...string) *fixture {
	t.Helper()
	mr := miniredis.RunT(t)
	f := &fixture{mr: mr}
	for _, r := range replicas {
		f.coords = append(f.coords, f.add(t, r))
	}
	return f
}

func (f *fixture) add(t *testing.T, replica string) *Coordinator {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: f.mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = cl.Close() })
	c, err := New(Options{
		Client: cl, Replica: replica, Heartbeat: 100 * time.Millisecond, Stagger: 30 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) start(t *testing.T) {
	t.Helper()
	for _, c := range f.coords {
		c.Start(context.Background())
		t.Cleanup(func() { _ = c.Close() })
	}
	// Every replica must see every other in the live set before ranks mean anything.
	waitFor(t, 2*time.Second, func() bool {
		for _, c := range f.coords {
			c.mu.Lock()
			n := len(c.live)
			c.mu.Unlock()
			if n != len(f.coords) {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A tick of one probe runs on exactly one replica, and it is the
// preferred one when every replica is alive.
func TestTickRunsOnce(t *testing.T) {
	f := newFixture(t, "a", "b", "c")
	f.start(t)
	wins := map[string]int{}
	notPreferred := 0
	for i := range 30 {
		id := fmt.Sprintf("target%02d/ep", i)
		tick := time.Now().Truncate(time.Millisecond)
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		for _, c := range f.coords {
			wg.Add(1)
			go func() {
				defer wg.Done()
				release, skip, err := c.acquire(context.Background(), id, []string{"canary-" + id}, interval, timeout, tick)
				if err != nil {
					t.Errorf("%s: %v", c.opts.Replica, err)
					return
				}
				if skip != "" {
					if skip != schedule.SkipNotLeader {
						t.Errorf("%s: skip %q, want not_leader", c.opts.Replica, skip)
					}
					return
				}
				mu.Lock()
				winners = append(winners, c.opts.Replica)
				mu.Unlock()
				release()
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("%s: winners %v, want exactly one", id, winners)
		}
		live := []string{"a", "b", "c"}
		if Rank(id, winners[0], live) != 0 {
			notPreferred++ // allowed now and then: the preference only delays
		}
		wins[winners[0]]++
	}
	for _, r := range []string{"a", "b", "c"} {
		if wins[r] == 0 {
			t.Errorf("replica %s never ran: %v", r, wins)
		}
	}
	if notPreferred > 3 {
		t.Errorf("%d of 30 ticks ran on a replica that is not preferred", notPreferred)
	}
	t.Logf("ticks per replica: %v", wins)
}

// The gocron#841 trap: the first replica runs the tick and releases
// everything; a second replica whose timer fires after that must not run
// the same tick again.
func TestLateReplicaDoesNotRerunTick(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.start(t)
	tick := time.Now()
	release, skip, err := f.coords[0].acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, tick)
	if err != nil || skip != "" {
		t.Fatalf("first: skip %q err %v", skip, err)
	}
	release()
	time.Sleep(50 * time.Millisecond) // the run is over; b's timer is late
	_, skip, err = f.coords[1].acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, tick)
	if skip != schedule.SkipNotLeader {
		t.Fatalf("late replica: skip %q err %v, want not_leader", skip, err)
	}
	// The next tick is a new claim.
	release, skip, err = f.coords[1].acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, tick.Add(time.Millisecond))
	if err != nil || skip != "" {
		t.Fatalf("next tick: skip %q err %v", skip, err)
	}
	release()
}

// Two probes on one canary never overlap, across replicas: the second
// waits for the first, or gives the tick up as canary_busy.
func TestCanaryLockSerializes(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.start(t)
	var running, maxRunning atomic.Int32
	var ran atomic.Int32
	var wg sync.WaitGroup
	tick := time.Now()
	for i := range 6 {
		c := f.coords[i%2]
		id := fmt.Sprintf("t%d/e", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, skip, err := c.acquire(context.Background(), id, []string{"shared"}, interval, timeout, tick)
			if err != nil {
				t.Error(err)
				return
			}
			if skip != "" {
				t.Errorf("%s: skip %q", id, skip)
				return
			}
			n := running.Add(1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(40 * time.Millisecond)
			running.Add(-1)
			ran.Add(1)
			release()
		}()
	}
	wg.Wait()
	if maxRunning.Load() != 1 || ran.Load() != 6 {
		t.Fatalf("max concurrent runs on the canary %d (want 1), runs %d (want 6)", maxRunning.Load(), ran.Load())
	}

	// A canary held past the wait budget: the tick is skipped, not queued.
	hold, skip, err := f.coords[0].acquire(context.Background(), "x/e", []string{"busy"}, interval, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	defer hold()
	start := time.Now()
	_, skip, _ = f.coords[1].acquire(context.Background(), "y/e", []string{"busy"}, 300*time.Millisecond+timeout, timeout, time.Now())
	if skip != schedule.SkipCanaryBusy {
		t.Fatalf("skip %q, want canary_busy", skip)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("waited %s for a busy canary, budget 300ms", waited)
	}
}

// The canary lock outlives the run's timeout and clean-up even if no
// extension reaches Redis (a partition), and still expires by itself, so a
// replica that died holding it does not block the canary forever.
// miniredis expires keys only when told to: FastForward is Redis' clock.
func TestCanaryLockOutlivesRunAndCleanup(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.start(t)
	const timeout = 100 * time.Millisecond
	release, skip, err := f.coords[0].acquire(context.Background(), "x/e", []string{"k"}, 10*time.Second, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	defer release()
	f.mr.FastForward(timeout + CleanupBound)
	_, skip, _ = f.coords[1].acquire(context.Background(), "y/e", []string{"k"}, timeout+200*time.Millisecond, timeout, time.Now())
	if skip != schedule.SkipCanaryBusy {
		t.Fatalf("the canary lock expired before the run's timeout and clean-up bound: skip %q", skip)
	}
	f.mr.FastForward(f.coords[0].opts.LockMargin + time.Second)
	release2, skip, err := f.coords[1].acquire(context.Background(), "z/e", []string{"k"}, 10*time.Second, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatalf("a lock whose holder is gone never expired: skip %q err %v", skip, err)
	}
	release2()
}

// Two probes whose canary groups share one user never hold it together,
// and taking the keys in order, they cannot deadlock.
func TestOverlappingCanaryGroups(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.start(t)
	release, skip, err := f.coords[0].acquire(context.Background(), "x/e", []string{"k1", "k2"}, 10*time.Second, 100*time.Millisecond, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	_, skip, _ = f.coords[1].acquire(context.Background(), "y/e", []string{"k2", "k3"}, 300*time.Millisecond, 100*time.Millisecond, time.Now())
	if skip != schedule.SkipCanaryBusy {
		t.Fatalf("a group sharing k2 ran while k2 was held: skip %q", skip)
	}
	release()
	release2, skip, err := f.coords[1].acquire(context.Background(), "y/e", []string{"k2", "k3"}, 10*time.Second, 100*time.Millisecond, time.Now())
	if err != nil || skip != "" {
		t.Fatalf("after release: skip %q err %v", skip, err)
	}
	release2()
}

// A dead preferred replica costs one stagger, never the tick: the next in
// rank claims it (d), and once the dead one leaves the live set the rest
// take its probes with no delay at all.
func TestFailover(t *testing.T) {
	f := newFixture(t, "a", "b", "c")
	f.start(t)
	live := []string{"a", "b", "c"}
	// A probe that a prefers.
	var id string
	for i := 0; ; i++ {
		id = fmt.Sprintf("p%d/e", i)
		if Rank(id, "a", live) == 0 {
			break
		}
	}
	_ = f.coords[0].Close() // a dies (Close also leaves the set; test the silent death below)
	f.mr.ZAdd("revprober:replicas", float64(time.Now().UnixMilli()), "a")

	tick := time.Now()
	var winners []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range f.coords[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, skip, err := c.acquire(context.Background(), id, []string{"k"}, interval, timeout, tick)
			if err != nil {
				t.Error(err)
			}
			if skip == "" {
				mu.Lock()
				winners = append(winners, c.opts.Replica)
				mu.Unlock()
				release()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners %v, want one", winners)
	}
	if late := time.Since(tick); late > interval {
		t.Fatalf("took over %s after the tick, more than one interval", late)
	}
	// a's heartbeat is silent: after ReplicaTTL it leaves the others' live set.
	waitFor(t, 3*time.Second, func() bool {
		f.coords[1].mu.Lock()
		defer f.coords[1].mu.Unlock()
		return !contains(f.coords[1].live, "a")
	})
}

// Redis unreachable: no probing (coordination_down), the callback says
// so; Redis back: probing resumes.
func TestRedisDown(t *testing.T) {
	f := newFixture(t, "a")
	var mu sync.Mutex
	var states []bool
	f.coords[0].SetStateFunc(func(up bool) {
		mu.Lock()
		states = append(states, up)
		mu.Unlock()
	})
	f.start(t)
	c := f.coords[0]
	release, skip, err := c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	release()

	f.mr.Close()
	waitFor(t, 2*time.Second, func() bool { return !c.Up() })
	_, skip, err = c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if skip != schedule.SkipCoordinationDown || err == nil {
		t.Fatalf("Redis down: skip %q err %v, want coordination_down", skip, err)
	}

	if err := f.mr.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, c.Up)
	release, skip, err = c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatalf("Redis back: skip %q err %v", skip, err)
	}
	release()
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(states) != "[true false true]" {
		t.Fatalf("state callbacks %v, want [true false true]", states)
	}
}

// Redis came back empty: the canary locks are gone, so the replica waits
// until every run started before can have ended.
func TestRedisLostState(t *testing.T) {
	f := newFixture(t, "a")
	f.start(t)
	c := f.coords[0]
	release, skip, err := c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	release()
	f.mr.FlushAll()
	// Before the heartbeat notices, the claim script refuses (epoch gone).
	_, skip, _ = c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if skip != schedule.SkipCoordinationDown {
		t.Fatalf("right after the loss: skip %q, want coordination_down", skip)
	}
	waitFor(t, 2*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.quarantine.IsZero()
	})
	_, skip, _ = c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if skip != schedule.SkipCoordinationDown {
		t.Fatalf("in quarantine: skip %q, want coordination_down", skip)
	}
	c.mu.Lock()
	q := c.quarantine
	c.mu.Unlock()
	if want := timeout + c.opts.LockMargin + CleanupBound; q.Sub(time.Now()) > want || q.Sub(time.Now()) < want-time.Second {
		t.Fatalf("quarantine ends in %s, want about %s", time.Until(q), want)
	}
}

func TestRankSpreads(t *testing.T) {
	live := []string{"revprober-0", "revprober-1", "revprober-2"}
	count := map[string]int{}
	for i := range 3000 {
		id := fmt.Sprintf("tenant-%d/global-token-revocation", i)
		n := 0
		for _, r := range live {
			if Rank(id, r, live) == 0 {
				count[r]++
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s: %d preferred replicas", id, n)
		}
	}
	for _, r := range live {
		if count[r] < 900 || count[r] > 1100 {
			t.Errorf("%s preferred for %d of 3000 probes, want about 1000", r, count[r])
		}
	}
	// A replica leaving moves only its own probes.
	moved := 0
	for i := range 3000 {
		id := fmt.Sprintf("tenant-%d/global-token-revocation", i)
		before := Rank(id, "revprober-0", live) == 0
		after := Rank(id, "revprober-0", live[:2]) == 0
		if before && !after {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d probes left a surviving replica", moved)
	}
}

// Run-now takes a free canary at once and refuses a busy one.
func TestTryAcquire(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.start(t)
	p := &probe.Probe{Target: "t", Endpoint: "e", Interval: interval, Timeout: timeout, Canaries: []probe.Canary{{Name: "c", Username: "canary01"}}}
	release, ok := f.coords[0].TryAcquire(p)
	if !ok {
		t.Fatal("a free canary was refused")
	}
	start := time.Now()
	if _, ok := f.coords[1].TryAcquire(p); ok {
		t.Fatal("a busy canary was taken")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusing took %s", d)
	}
	release()
	release, ok = f.coords[1].TryAcquire(p)
	if !ok {
		t.Fatal("a released canary was refused")
	}
	release()
}

var (
	_ schedule.Coordinator = (*Coordinator)(nil)
	_ schedule.TryAcquirer = (*Coordinator)(nil)
)
