//go:build kubernetes

package kubecoord

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
)

const (
	leaseDuration = 2 * time.Second // whole seconds: the Lease stores seconds
	renewDeadline = 800 * time.Millisecond
	retryPeriod   = 100 * time.Millisecond
)

func newCoord(t *testing.T, cs *fake.Clientset, replica string) *Coordinator {
	t.Helper()
	c, err := New(Options{
		Client: cs, Namespace: "probing", LeaseName: "revprober", Replica: replica,
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		Holdoff: time.Millisecond, // the hand-over wait has a test of its own
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// ticker calls Acquire on every replica for each tick, as every replica's
// scheduler does, and counts the ticks that ran more than once.
type ticker struct {
	coords         []*Coordinator
	p              *probe.Probe
	ran, doubleRun atomic.Int32
	byReplica      sync.Map // replica → *atomic.Int32
	stop, done     chan struct{}
	once           sync.Once
}

func startTicker(coords []*Coordinator) *ticker {
	tk := &ticker{coords: coords, stop: make(chan struct{}), done: make(chan struct{}),
		p: &probe.Probe{Target: "t", Endpoint: "e", Interval: time.Second, Timeout: 500 * time.Millisecond}}
	go func() {
		defer close(tk.done)
		for {
			select {
			case <-tk.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			tick := time.Now()
			var n atomic.Int32
			var wg sync.WaitGroup
			for _, c := range tk.coords {
				wg.Add(1)
				go func() {
					defer wg.Done()
					release, skip, _ := c.Acquire(context.Background(), tk.p, tick)
					if skip != "" {
						return
					}
					n.Add(1)
					v, _ := tk.byReplica.LoadOrStore(c.opts.Replica, new(atomic.Int32))
					v.(*atomic.Int32).Add(1)
					time.Sleep(5 * time.Millisecond)
					release()
				}()
			}
			wg.Wait()
			if n.Load() > 1 {
				tk.doubleRun.Add(1)
			}
			if n.Load() > 0 {
				tk.ran.Add(1)
			}
		}
	}()
	return tk
}

func (tk *ticker) halt() { tk.once.Do(func() { close(tk.stop) }); <-tk.done }

func leader(coords []*Coordinator) *Coordinator {
	var l *Coordinator
	for _, c := range coords {
		if c.Leading() {
			if l != nil {
				return nil // two leaders: reported by the caller
			}
			l = c
		}
	}
	return l
}

// The leader's Lease lapses (it can no longer renew it): it stops
// leading, another replica leads, and no tick ever runs twice.
func TestFailoverNoDoubleRuns(t *testing.T) {
	cs := fake.NewClientset()
	var partitioned atomic.Value // identity whose Lease updates fail
	partitioned.Store("")
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		// The partitioned leader can neither renew nor release (a release
		// writes an empty holder): its Lease must lapse.
		if id := partitioned.Load().(string); id != "" && (holder == id || holder == "") {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	coords := []*Coordinator{newCoord(t, cs, "revprober-0"), newCoord(t, cs, "revprober-1"), newCoord(t, cs, "revprober-2")}
	waitFor(t, 5*time.Second, "a first leader", func() bool { return leader(coords) != nil })

	tk := startTicker(coords)
	defer tk.halt()
	var twoLeaders atomic.Int32
	watch := make(chan struct{})
	go func() { // sample the leadership all along
		for {
			select {
			case <-watch:
				return
			case <-time.After(2 * time.Millisecond):
			}
			n := 0
			for _, c := range coords {
				if c.Leading() {
					n++
				}
			}
			if n > 1 {
				twoLeaders.Add(1)
			}
		}
	}()
	defer close(watch)

	time.Sleep(300 * time.Millisecond) // a few ticks under the first leader
	old := leader(coords)
	if old == nil {
		t.Fatal("no single leader")
	}
	partitioned.Store(old.opts.Replica)
	start := time.Now()
	waitFor(t, 5*time.Second, "the old leader stepping down", func() bool { return !old.Leading() })
	stepDown := time.Since(start)
	took := waitFor(t, 5*time.Second, "a new leader", func() bool {
		l := leader(coords)
		return l != nil && l != old
	})
	failover := stepDown + took
	t.Logf("old leader stepped down after %s; new leader after %s (lease %s, renew deadline %s)",
		stepDown.Round(time.Millisecond), failover.Round(time.Millisecond), leaseDuration, renewDeadline)
	if failover > leaseDuration+renewDeadline+5*retryPeriod {
		t.Errorf("failover took %s", failover)
	}
	if _, skip, _ := old.Acquire(context.Background(), tk.p, time.Now()); skip == "" {
		t.Error("the partitioned old leader still runs probes")
	}
	time.Sleep(300 * time.Millisecond) // a few ticks under the new leader
	tk.halt()

	if n := tk.doubleRun.Load(); n != 0 {
		t.Errorf("%d ticks ran on two replicas", n)
	}
	if n := twoLeaders.Load(); n != 0 {
		t.Errorf("two replicas led at once in %d samples", n)
	}
	var per []string
	tk.byReplica.Range(func(k, v any) bool {
		per = append(per, k.(string))
		return true
	})
	if len(per) < 2 {
		t.Errorf("runs only on %v: no failover seen", per)
	}
	t.Logf("ticks run: %d, on replicas %v", tk.ran.Load(), per)
}

// A clean shutdown releases the Lease: the standby leads at once, without
// waiting for the Lease to lapse.
func TestCloseHandsOver(t *testing.T) {
	cs := fake.NewClientset()
	coords := []*Coordinator{newCoord(t, cs, "a"), newCoord(t, cs, "b")}
	waitFor(t, 5*time.Second, "a first leader", func() bool { return leader(coords) != nil })
	old := leader(coords)
	_ = old.Close()
	took := waitFor(t, 5*time.Second, "a new leader", func() bool {
		l := leader(coords)
		return l != nil && l != old
	})
	t.Logf("hand-over after a clean shutdown: %s", took.Round(time.Millisecond))
}

// The API server unreachable: nobody probes (coordination_down), the
// callback says so; back: the replicas probe again.
func TestAPIServerDown(t *testing.T) {
	cs := fake.NewClientset()
	var down atomic.Bool
	cs.PrependReactor("*", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
		}
		return false, nil, nil
	})
	coords := []*Coordinator{newCoord(t, cs, "a"), newCoord(t, cs, "b")}
	var mu sync.Mutex
	var states []bool
	coords[0].SetStateFunc(func(up bool) { mu.Lock(); states = append(states, up); mu.Unlock() })
	// Both replicas must have reached the API server once before it goes
	// away, or the first state a replica reports is "down".
	waitFor(t, 5*time.Second, "a first leader, both replicas up", func() bool {
		return leader(coords) != nil && coords[0].Up() && coords[1].Up()
	})
	p := &probe.Probe{Target: "t", Endpoint: "e", Interval: time.Second, Timeout: 500 * time.Millisecond}

	down.Store(true)
	waitFor(t, 2*time.Second, "both replicas seeing the API server down", func() bool { return !coords[0].Up() && !coords[1].Up() })
	for _, c := range coords {
		if _, skip, _ := c.Acquire(context.Background(), p, time.Now()); skip != schedule.SkipCoordinationDown {
			t.Errorf("%s: skip %q, want coordination_down", c.opts.Replica, skip)
		}
		if err := c.WhyRefused(p); err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("%s: run-now with the API server down: WhyRefused = %v, want it unreachable", c.opts.Replica, err)
		}
	}
	down.Store(false)
	waitFor(t, 5*time.Second, "a leader again", func() bool { return leader(coords) != nil && coords[0].Up() && coords[1].Up() })
	l := leader(coords)
	for _, c := range coords {
		if err := c.WhyRefused(p); c != l && (err == nil || !strings.Contains(err.Error(), "standby")) {
			t.Errorf("%s: run-now on a standby: WhyRefused = %v, want it a standby", c.opts.Replica, err)
		}
	}
	release, skip, err := l.Acquire(context.Background(), p, time.Now())
	if skip != "" || err != nil {
		t.Fatalf("after recovery: skip %q err %v", skip, err)
	}
	release()
	// The callback runs just after Up() turns (after the log line): wait
	// for it rather than read it at once.
	waitFor(t, 5*time.Second, "state callbacks up, down, …, up", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) >= 3 && states[0] && !states[1] && states[len(states)-1]
	})
}

// A new leader does not run a probe while a run the previous leader
// started on the same canary may still be going: its timeout plus the
// clean-up bound after it began to lead.
func TestNewLeaderHoldsOff(t *testing.T) {
	cs := fake.NewClientset()
	c, err := New(Options{Client: cs, Namespace: "probing", Replica: "a",
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, 5*time.Second, "leading", c.Leading)
	canary := []probe.Canary{{Name: "c", Username: "canary01"}}
	p := &probe.Probe{Target: "t", Endpoint: "e", Interval: time.Minute, Timeout: 30 * time.Second, Canaries: canary}
	if _, skip, _ := c.Acquire(context.Background(), p, time.Now()); skip != schedule.SkipNotLeader {
		t.Fatalf("a leader of a few milliseconds ran a probe whose runs last 30 s + clean-up: skip %q", skip)
	}
	// A probe of its own short timeout waits for the longest probe that
	// shares its canary: the previous leader may have been running that one.
	short := &probe.Probe{Target: "t", Endpoint: "short", Interval: time.Minute, Timeout: time.Millisecond, Canaries: canary}
	c.mu.Lock()
	c.since = time.Now().Add(-15 * time.Second) // led long enough for short's own timeout + clean-up
	c.mu.Unlock()
	release, skip, _ := c.Acquire(context.Background(), short, time.Now())
	if skip != "" {
		t.Fatalf("alone, a 1 ms probe waits 10 s + 1 ms at most: skip %q after 15 s", skip)
	}
	release()
	c.SetProbes([]*probe.Probe{p, short})
	if _, skip, _ := c.Acquire(context.Background(), short, time.Now()); skip != schedule.SkipNotLeader {
		t.Fatalf("a 1 ms probe sharing a canary with a 30 s probe ran after 15 s of leading: skip %q", skip)
	}
	c.mu.Lock()
	c.since = time.Now() // back to a new leader, for the rest of the test
	c.mu.Unlock()
	if _, ok := c.TryAcquire(p); ok {
		t.Fatal("run-now was allowed during the hand-over wait")
	}
	if err := c.WhyRefused(p); err == nil || !strings.Contains(err.Error(), "previous leader") {
		t.Fatalf("run-now during the hand-over wait: WhyRefused = %v, want the previous leader's run named", err)
	}
	c.mu.Lock()
	c.opts.Holdoff = 50 * time.Millisecond // a short wait, to see it end
	c.mu.Unlock()
	waitFor(t, 5*time.Second, "a run after the hand-over wait", func() bool {
		release, skip, _ := c.Acquire(context.Background(), p, time.Now())
		if skip != "" {
			return false
		}
		release()
		return true
	})
}

var (
	_ schedule.ProbeSetter = (*Coordinator)(nil)
	_ schedule.Coordinator = (*Coordinator)(nil)
	_ schedule.TryAcquirer = (*Coordinator)(nil)
)
