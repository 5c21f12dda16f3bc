package rediscoord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/status"
	"github.com/revprober/revprober/internal/verdict"
)

const (
	interval = 2 * time.Second
	timeout  = time.Second
)

type fixture struct {
	mr     *miniredis.Miniredis
	coords []*Coordinator
	runID  atomic.Pointer[string]
}

// newFixture is an established deployment: Redis holds a data epoch
// created an hour ago, so no run of before can still be going. (miniredis
// does not report a run_id: the epoch is stamped with none.)
func newFixture(t *testing.T, replicas ...string) *fixture {
	t.Helper()
	f := newEmptyFixture(t, replicas...)
	f.seed()
	return f
}

// seed writes an epoch created an hour ago, stamped with the run_id
// miniredis reports now.
func (f *fixture) seed() {
	id := ""
	if p := f.runID.Load(); p != nil {
		id = *p
	}
	f.mr.Set("revprober:epoch", fmt.Sprintf("seed.%d.%s", time.Now().Add(-time.Hour).UnixMilli(), id))
}

// serveRunID makes miniredis answer INFO server with run_id id, as a Redis
// process does (miniredis has no server section). Changing id is a restart
// of Redis that kept whatever data miniredis holds.
func (f *fixture) serveRunID(id string) {
	if f.runID.Swap(&id) != nil {
		return
	}
	f.mr.Server().SetPreHook(func(c *server.Peer, cmd string, args ...string) bool {
		if cmd != "INFO" || len(args) != 1 || !strings.EqualFold(args[0], "server") {
			return false
		}
		c.WriteBulk("# Server\r\nredis_version:7.0.15\r\nrun_id:" + *f.runID.Load() + "\r\ntcp_port:6379\r\n")
		return true
	})
}

// newEmptyFixture is a Redis that holds nothing yet.
func newEmptyFixture(t *testing.T, replicas ...string) *fixture {
	t.Helper()
	mr := miniredis.RunT(t)
	f := &fixture{mr: mr}
	for _, r := range replicas {
		f.coords = append(f.coords, f.add(t, r))
	}
	return f
}

func (f *fixture) add(t *testing.T, replica string, opts ...func(*Options)) *Coordinator {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: f.mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = cl.Close() })
	o := Options{
		Client: cl, Replica: replica, Heartbeat: 100 * time.Millisecond, Stagger: 30 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range opts {
		f(&o)
	}
	c, err := New(o)
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

// The canary lock is a lease, not the run's timeout: a holder that
// renews nothing (it died) blocks the canary for one lease, however long
// the probe's timeout. miniredis expires keys only when told to:
// FastForward is Redis' clock.
func TestCanaryLeaseExpiresByItself(t *testing.T) {
	f := newFixture(t, "a", "b")
	f.start(t)
	const timeout = 10 * time.Minute
	release, skip, err := f.coords[0].acquire(context.Background(), "x/e", []string{"k"}, 10*time.Second, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	defer release()
	_, skip, _ = f.coords[1].acquire(context.Background(), "y/e", []string{"k"}, time.Second, 800*time.Millisecond, time.Now())
	if skip != schedule.SkipCanaryBusy {
		t.Fatalf("the canary was not held: skip %q", skip)
	}
	f.mr.FastForward(DefaultLease + time.Millisecond)
	release2, skip, err := f.coords[1].acquire(context.Background(), "z/e", []string{"k"}, 10*time.Second, time.Second, time.Now())
	if err != nil || skip != "" {
		t.Fatalf("a lease nobody renewed did not end within the lease: skip %q err %v", skip, err)
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
	c.mu.Lock()
	before := c.epoch
	c.mu.Unlock()
	waitFor(t, 2*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.epoch != before
	})
	_, skip, _ = c.acquire(context.Background(), "t/e", []string{"k"}, interval, timeout, time.Now())
	if skip != schedule.SkipCoordinationDown {
		t.Fatalf("in quarantine: skip %q, want coordination_down", skip)
	}
	c.mu.Lock()
	q := c.settledAt([]string{"k"}, c.hold(timeout))
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

// Redis restarted from a snapshot (or failed over to a lagging replica):
// the epoch survived, the tick claims and canary locks since are gone.
// The new run_id gives it away: nothing is claimed or locked on the
// restarted Redis, even before a heartbeat, and after it every replica
// waits as after a data loss.
func TestRestartWithOldData(t *testing.T) {
	f := newEmptyFixture(t, "a", "b")
	f.serveRunID("run1")
	f.seed()
	a, b := f.coords[0], f.coords[1]
	ctx := context.Background()
	a.beat(ctx)
	b.beat(ctx)
	tick := time.Now()
	relA, skip, err := a.acquire(ctx, "p/e", []string{"k"}, 10*time.Second, timeout, tick)
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	defer relA()

	old, _ := f.mr.Get("revprober:epoch")
	f.mr.FlushAll()
	f.mr.Set("revprober:epoch", old) // the snapshot predates a's claim and lock
	f.serveRunID("run2")

	// Before any heartbeat: no claim of the tick a ran, no lock on the
	// canary a still uses.
	if _, skip, _ := b.acquire(ctx, "p/e", []string{"k2"}, 10*time.Second, timeout, tick); skip != schedule.SkipCoordinationDown {
		t.Fatalf("tick already run, claimed again on the restarted Redis: skip %q, want coordination_down", skip)
	}
	if _, skip, _ := b.acquire(ctx, "q/e", []string{"k"}, 10*time.Second, timeout, time.Time{}); skip != schedule.SkipCoordinationDown {
		t.Fatalf("canary held by a run in flight, locked on the restarted Redis: skip %q, want coordination_down", skip)
	}
	if f.mr.Exists("revprober:canary:k") {
		t.Fatal("the refused lock was not released")
	}

	// The heartbeat replaces the epoch; both replicas adopt it and wait.
	b.beat(ctx)
	a.beat(ctx)
	b.mu.Lock()
	eb := b.epoch
	b.mu.Unlock()
	a.mu.Lock()
	ea := a.epoch
	a.mu.Unlock()
	if eb == old || ea != eb || !strings.HasSuffix(eb, ".run2") {
		t.Fatalf("epoch before %q, after: a %q b %q; want one new epoch stamped run2", old, ea, eb)
	}
	if _, skip, _ := b.acquire(ctx, "q/e", []string{"k"}, 10*time.Second, timeout, time.Now()); skip != schedule.SkipCoordinationDown {
		t.Fatalf("after the restart: skip %q, want coordination_down", skip)
	}
	if _, skip, _ := b.acquire(ctx, "p/e", []string{"k2"}, 10*time.Second, timeout, tick); skip == "" {
		t.Fatal("after the restart: the tick a ran was claimed again")
	}
	b.mu.Lock()
	q := b.settledAt([]string{"k"}, b.hold(timeout))
	b.mu.Unlock()
	if want := b.hold(timeout); time.Until(q) > want || time.Until(q) < want-time.Second {
		t.Fatalf("wait ends in %s, want about %s", time.Until(q), want)
	}
}

// A replica whose first contact with Redis comes after the loss (a new
// pod) waits like the others: the epoch's creation time is in Redis, not
// in the replicas' memory.
func TestNewcomerAfterLossWaits(t *testing.T) {
	f := newFixture(t, "a")
	f.start(t)
	a := f.coords[0]
	relA, skip, err := a.acquire(context.Background(), "p/e", []string{"k"}, 10*time.Second, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatal(skip, err)
	}
	defer relA()
	f.mr.FlushAll()
	time.Sleep(50 * time.Millisecond)
	c := f.add(t, "c")
	c.Start(context.Background())
	t.Cleanup(func() { _ = c.Close() })
	if _, skip, _ := c.acquire(context.Background(), "q/e", []string{"k"}, 10*time.Second, timeout, time.Now()); skip != schedule.SkipCoordinationDown {
		t.Fatalf("newcomer after the loss: skip %q, want coordination_down", skip)
	}
	waitFor(t, 2*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		return a.epoch == c.epoch
	})
	a.mu.Lock()
	qa := a.settledAt([]string{"k"}, a.hold(timeout))
	a.mu.Unlock()
	c.mu.Lock()
	qc := c.settledAt([]string{"k"}, c.hold(timeout))
	c.mu.Unlock()
	if d := qa.Sub(qc); d > 100*time.Millisecond || d < -100*time.Millisecond {
		t.Fatalf("the replicas' waits end %s apart: a %s, c %s", d, qa, qc)
	}
	if time.Until(qc) < c.hold(timeout)-time.Second {
		t.Fatalf("newcomer's wait ends in %s, want about %s", time.Until(qc), c.hold(timeout))
	}
}

// After a new epoch each probe waits for the longest hold of the probes
// sharing one of its canary users, known from SetProbes before any run:
// a slow probe holds back the probes on its canaries, not the others.
func TestWaitPerCanary(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	f := newEmptyFixture(t) // a fresh Redis: its epoch is new
	c := f.add(t, "a", func(o *Options) { o.Now = now })
	mk := func(target string, timeout time.Duration, users ...string) *probe.Probe {
		p := &probe.Probe{Target: target, Endpoint: "e", Interval: time.Hour, Timeout: timeout}
		for _, u := range users {
			p.Canaries = append(p.Canaries, probe.Canary{Username: u})
		}
		return p
	}
	slow := mk("slow", 20*time.Minute, "u1")
	shared := mk("shared", time.Second, "u1", "u3")
	fast := mk("fast", time.Second, "u2")
	c.SetProbes([]*probe.Probe{slow, shared, fast})
	c.beat(context.Background())
	try := func(p *probe.Probe) bool {
		release, ok := c.TryAcquire(p)
		if ok {
			release()
		}
		return ok
	}
	for _, p := range []*probe.Probe{slow, shared, fast} {
		if try(p) {
			t.Fatalf("%s ran right after the epoch began", p.Target)
		}
	}
	skew.Store(int64(c.hold(time.Second) + 100*time.Millisecond))
	if !try(fast) {
		t.Fatal("fast, alone on its canary, still waits after its own hold")
	}
	if try(shared) {
		t.Fatal("shared ran while a run of slow, on one of its canaries, could still be going")
	}
	if try(slow) {
		t.Fatal("slow ran before its own hold")
	}
	skew.Store(int64(c.hold(20*time.Minute) + 100*time.Millisecond))
	if !try(shared) || !try(slow) {
		t.Fatal("still waiting after the longest hold")
	}
}

var (
	_ schedule.Coordinator = (*Coordinator)(nil)
	_ schedule.TryAcquirer = (*Coordinator)(nil)
	_ schedule.ProbeSetter = (*Coordinator)(nil)
)

// Run-now while Redis is unreachable is refused as "this replica cannot
// run probes now: Redis unreachable", not as a busy canary: an operator
// told "busy" waits for a run that does not exist. Through the status
// page: 503 and the reason, no 409.
func TestRunNowWhileRedisDownSaysWhy(t *testing.T) {
	f := newFixture(t, "a")
	f.start(t)
	c := f.coords[0]
	ran := 0
	s, err := schedule.New(schedule.Options{Coordinator: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Run: func(context.Context, *probe.Probe) *verdict.Run { ran++; return &verdict.Run{Result: verdict.Pass} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	p := &probe.Probe{Target: "t", Endpoint: "e", Interval: time.Hour, Timeout: timeout, Canaries: []probe.Canary{{Name: "c", Username: "canary01"}}}
	if err := s.Load([]*probe.Probe{p}); err != nil {
		t.Fatal(err)
	}
	if err := c.WhyRefused(p); err != nil {
		t.Fatalf("Redis up: WhyRefused = %v, want nil", err)
	}
	if _, err := s.RunNow(context.Background(), p.ID()); err != nil {
		t.Fatalf("Redis up: run now: %v", err)
	}

	f.mr.Close()
	waitFor(t, 2*time.Second, func() bool { return !c.Up() })
	_, err = s.RunNow(context.Background(), p.ID())
	if !errors.Is(err, schedule.ErrCannotRunHere) || errors.Is(err, schedule.ErrBusy) || !strings.Contains(err.Error(), "Redis unreachable") {
		t.Fatalf("Redis down: run now: %v, want ErrCannotRunHere naming Redis", err)
	}
	page := status.New(status.Options{Probes: func() []*probe.Probe { return []*probe.Probe{p} }, RunNow: s.RunNow})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/probes/"+p.ID()+"/run", nil)
	page.Handler().ServeHTTP(rec, req)
	if body := rec.Body.String(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "Redis unreachable") || strings.Contains(body, "busy") {
		t.Fatalf("status page, Redis down: %d %s", rec.Code, body)
	}
	if ran != 1 {
		t.Fatalf("%d runs, want the one while Redis was up", ran)
	}
}
