//go:build redis

package rediscoord

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// leaseReplica is a coordinator on its own client to a real Redis, past
// the wait after a new epoch (an established deployment).
func leaseReplica(t *testing.T, addr, name string, lease time.Duration) (*Coordinator, *redis.Client) {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = cl.Close() })
	c, err := New(Options{Client: cl, Replica: name, Heartbeat: 100 * time.Millisecond, Lease: lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c.beat(context.Background())
	c.mu.Lock()
	c.epochStart = time.Now().Add(-time.Hour)
	c.mu.Unlock()
	return c, cl
}

// A replica that vanishes while it holds the canary (kill -9: no release,
// no renewal) blocks it for about one lease, not for the probe's timeout
// plus clean-up as the lock of before did (here 20 s + 10 s + 2 s).
func TestLeaseFreesCanaryOfDeadHolder(t *testing.T) {
	port := testenv.FreePort(t)
	startRedis(t, t.TempDir(), port)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	const lease = time.Second
	a, aClient := leaseReplica(t, addr, "a", lease)
	b, _ := leaseReplica(t, addr, "b", lease)
	ctx := context.Background()
	const probeTimeout = 20 * time.Second
	if _, skip, err := a.acquire(ctx, "p/e", []string{"k"}, time.Hour, probeTimeout, time.Time{}); skip != "" || err != nil {
		t.Fatalf("a takes the canary: skip %q err %v", skip, err)
	}
	// a dies: its connection to Redis is gone, nothing is released.
	_ = aClient.Close()
	died := time.Now()
	// b's tick: it may wait for the canary up to interval - timeout (1 min).
	release, skip, err := b.acquire(ctx, "q/e", []string{"k"}, time.Minute, probeTimeout, time.Now())
	blocked := time.Since(died)
	if skip != "" || err != nil {
		t.Fatalf("b never got the canary of the dead replica: skip %q err %v", skip, err)
	}
	release()
	t.Logf("canary blocked %s after its holder died (lease %s)", blocked.Round(time.Millisecond), lease)
	// Upper bound far from both sides: one lease plus scheduling slack,
	// against the 32 s of a lock held for timeout + clean-up + margin.
	if blocked > lease+3*time.Second {
		t.Fatalf("canary blocked %s after its holder died; want about one lease (%s)", blocked, lease)
	}
}

// A replica that cannot renew its lease (Redis stopped answering: here
// paused with SIGSTOP, a partition as seen from the replica) stops its
// run before the lease ends in Redis, and the run is recorded as an
// error, not the pass its run function returned.
func TestLeaseLostStopsRunBeforeLeaseEnds(t *testing.T) {
	port := testenv.FreePort(t)
	srv := startRedis(t, t.TempDir(), port)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	const lease = 2 * time.Second
	a, _ := leaseReplica(t, addr, "a", lease)
	observer := redis.NewClient(&redis.Options{Addr: addr})
	defer observer.Close()

	p := &probe.Probe{Target: "t", Endpoint: "e", Issuer: "https://idp.example", Interval: time.Hour, Timeout: time.Minute,
		Canaries: []probe.Canary{{Name: "c", Username: "canary01"}}}
	lockKey := "revprober:canary:" + p.CanaryKeys()[0]
	started := make(chan struct{})
	type ended struct {
		ttl time.Duration // the lease left in Redis when the run ended
		err error
	}
	endedCh := make(chan ended, 1)
	var recorded *verdict.Run
	s, err := schedule.New(schedule.Options{
		Coordinator: a,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Recorders:   []schedule.Recorder{schedule.RecorderFunc(func(r *verdict.Run) { recorded = r })},
		Run: func(ctx context.Context, p *probe.Probe) *verdict.Run {
			close(started)
			select {
			case <-ctx.Done():
			case <-time.After(10 * lease):
			}
			// Redis answers again the moment the run ends: how much of
			// the lease is left says whether the run ended in time.
			_ = srv.Process.Signal(syscall.SIGCONT)
			ttl, err := observer.PTTL(context.Background(), lockKey).Result()
			endedCh <- ended{ttl, err}
			return &verdict.Run{ID: "r1", Target: p.Target, Endpoint: p.Endpoint, Result: verdict.Pass, Reason: verdict.ReasonNone}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = s.RunOnce(context.Background(), p, time.Time{})
	}()
	<-started
	if err := srv.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer func() { _ = srv.Process.Signal(syscall.SIGCONT) }()
	e := <-endedCh
	<-done
	t.Logf("run stopped %s after Redis stopped answering; lease left in Redis: %s", time.Since(stopped).Round(time.Millisecond), e.ttl)
	if e.err != nil {
		t.Fatalf("reading the lease: %v", e.err)
	}
	if e.ttl <= 0 {
		t.Fatalf("the run ended after its lease ended (PTTL %s): another replica could have used the canary meanwhile", e.ttl)
	}
	if recorded == nil || recorded.Result != verdict.Error || recorded.Reason != verdict.Interference {
		t.Fatalf("run recorded as %+v; want an error (interference), never a pass", recorded)
	}
}
