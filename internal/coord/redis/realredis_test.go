//go:build redis

package rediscoord

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/testenv"
)

// startRedis runs a real redis-server that persists to dir only on SAVE.
func startRedis(t *testing.T, dir string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--dir", dir, "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (apt-get install redis-server)", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	cl := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer cl.Close()
	waitFor(t, 10*time.Second, func() bool { return cl.Ping(context.Background()).Err() == nil })
	return cmd
}

// A real Redis restarted from a snapshot that holds the epoch: its new
// run_id (INFO server, read inside the scripts) is noticed before a
// heartbeat, and the heartbeat starts a new epoch.
func TestRealRedisRestartFromSnapshot(t *testing.T) {
	dir, port := t.TempDir(), testenv.FreePort(t)
	srv := startRedis(t, dir, port)
	cl := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer cl.Close()
	c, err := New(Options{Client: cl, Replica: "a", Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.beat(ctx)
	c.mu.Lock()
	old := c.epoch
	c.mu.Unlock()
	if _, runID, ok := parseEpoch(old); !ok || len(runID) != 40 {
		t.Fatalf("epoch %q: not stamped with a run_id", old)
	}
	if err := cl.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Established: pretend the epoch is an hour old, in memory only (the
	// snapshot has the same epoch value, which is what matters).
	c.mu.Lock()
	c.epochStart = time.Now().Add(-time.Hour)
	c.mu.Unlock()
	release, skip, err := c.acquire(ctx, "p/e", []string{"k"}, 10*time.Second, timeout, time.Now())
	if err != nil || skip != "" {
		t.Fatalf("before the restart: skip %q err %v", skip, err)
	}
	release()

	_ = srv.Process.Kill()
	_ = srv.Wait()
	startRedis(t, dir, port) // loads dump.rdb: the old epoch is back
	if got, _ := cl.Get(ctx, "revprober:epoch").Result(); got != old {
		t.Fatalf("the snapshot did not keep the epoch: %q, want %q", got, old)
	}
	if _, skip, _ := c.acquire(ctx, "p/e", []string{"k"}, 10*time.Second, timeout, time.Now()); skip != schedule.SkipCoordinationDown {
		t.Fatalf("restarted Redis, before a heartbeat: skip %q, want coordination_down", skip)
	}
	c.beat(ctx)
	c.mu.Lock()
	now := c.epoch
	q := c.settledAt([]string{"k"}, c.hold(timeout))
	c.mu.Unlock()
	if now == old || strings.HasSuffix(now, old[strings.LastIndex(old, "."):]) {
		t.Fatalf("epoch after the restart %q, before %q: want a new one with the new run_id", now, old)
	}
	if want := c.hold(timeout); time.Until(q) > want || time.Until(q) < want-time.Second {
		t.Fatalf("wait ends in %s, want about %s", time.Until(q), want)
	}
	t.Logf("epoch %s → %s; probes on k wait %s", old, now, time.Until(q).Round(time.Millisecond))
}
