//go:build redis

package replicas

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	rediscoord "github.com/revprober/revprober/internal/coord/redis"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/testenv"
)

// tcpProxy forwards a loopback port to Redis; cutting it is a network
// partition between one replica and Redis (connections dropped, new ones
// refused), healing it opens the same port again.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), target: target, conns: map[net.Conn]bool{}}
	p.heal()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) heal() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) pipe(c net.Conn) {
	d, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		d.Close()
		return
	}
	p.conns[c], p.conns[d] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(d, c); d.Close() }()
	_, _ = io.Copy(c, d)
	c.Close()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// seedEpoch makes the Redis of e an established deployment (a data epoch
// an hour old, stamped with its run_id), so the replicas start probing at
// once instead of waiting out a new epoch.
func (e *env) seedEpoch(prefix string) {
	e.t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: e.redisAt})
	defer cl.Close()
	info, err := cl.Info(context.Background(), "server").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	i := strings.Index(info, "run_id:")
	if i < 0 {
		e.t.Fatal("redis-server reports no run_id")
	}
	runID := strings.TrimSpace(strings.SplitN(info[i+len("run_id:"):], "\n", 2)[0])
	v := fmt.Sprintf("seed.%d.%s", time.Now().Add(-time.Hour).UnixMilli(), runID)
	if err := cl.Set(context.Background(), prefix+"epoch", v, 0).Err(); err != nil {
		e.t.Fatal(err)
	}
}

// blockedFor polls the canary lease key until it no longer holds value
// (expired, or taken by another replica) and says how long that took
// after from.
func blockedFor(t *testing.T, cl *redis.Client, key, value string, from time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		v, err := cl.Get(context.Background(), key).Result()
		if err == redis.Nil || (err == nil && v != value) {
			return time.Since(from)
		}
		if time.Since(from) > limit {
			t.Fatalf("canary lease %s still held %s after its holder went away", key, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicasMidRunKillAndPartition: three replicas, two probes on two
// canaries, runs made long by the simulator's revocation delay. A replica
// killed with SIGKILL in the middle of a run blocks its canary for about
// one lease (measured from Redis: when the lease key of the killed run
// ends), not the probe's timeout + clean-up + margin as before; then a
// replica cut from Redis in the middle of a run (a TCP proxy in front of
// Redis that the test cuts) stops that run before its lease ends and
// records it as an error, not a pass. Throughout: no tick twice, no two
// runs on one canary at once, no tick lost but the one in flight on the
// killed replica.
func TestReplicasMidRunKillAndPartition(t *testing.T) {
	tm := timing{interval: 10 * time.Second, timeout: 7 * time.Second, deadline: 6 * time.Second, request: time.Second}
	const delay = 5 * time.Second // each run lasts over 5 s
	e, simURL := newEnv(t, "--fault", fmt.Sprintf("delay=%s", delay))
	prefix := fmt.Sprintf("rpmid%d:", time.Now().UnixNano())
	e.seedEpoch(prefix)
	proxies := map[string]*tcpProxy{}
	// Each replica reaches Redis through a proxy of its own.
	e.startReplicas(func(name, listen, evidence string) string {
		proxies[name] = newProxy(t, e.redisAt)
		return configWith(tm, 2, simURL, proxies[name].addr, prefix, name, listen, evidence)
	})
	// On failure, also a fatal one, the replicas' last log lines.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range e.procs {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 25 {
				lines = lines[len(lines)-25:]
			}
			t.Logf("%s log tail:\n%s", p.name, strings.Join(lines, "\n"))
		}
	})
	windowStart := time.Now().Add(tm.interval)
	ids := []string{"t01/gtr", "t02/gtr"}
	// Lease keys, as the coordinator names them.
	leaseKey := func(target string) string {
		p := &probe.Probe{Issuer: simURL + "/jans-auth", Canaries: []probe.Canary{{Username: canaryOf(target)}}}
		return prefix + "canary:" + p.CanaryKeys()[0]
	}
	cl := redis.NewClient(&redis.Options{Addr: e.redisAt})
	defer cl.Close()
	// runner is the replica that ran probe id's latest tick at or after t0.
	runner := func(id string, t0 time.Time) *proc {
		var last record
		for _, r := range e.all() {
			if r.probe() == id && r.Run.Tick != nil && !r.Run.Tick.Before(t0) && (last.Run.Tick == nil || r.Run.Tick.After(*last.Run.Tick)) {
				last = r
			}
		}
		for _, p := range e.procs {
			if last.Run.Tick != nil && p.name == last.replica() {
				return p
			}
		}
		return nil
	}
	// midRun waits until probe id's next tick is 1 s into its run and
	// returns the value of its lease key (the run's lease).
	midRun := func(id string) string {
		t.Helper()
		next := schedule.FirstTick(time.Now().Add(500*time.Millisecond), id, tm.interval)
		time.Sleep(time.Until(next.Add(time.Second)))
		v, err := cl.Get(context.Background(), leaseKey(strings.Split(id, "/")[0])).Result()
		if err != nil {
			t.Fatalf("%s: no lease held 1 s into the run of tick %s: %v", id, next.Format("15:04:05.000"), err)
		}
		return v
	}
	poll(t, 6*tm.interval, "both probes running", func() bool {
		return runner(ids[0], windowStart) != nil && runner(ids[1], windowStart) != nil
	})

	// Phase 1: kill -9 the replica running t01, in the middle of a run.
	victim := runner(ids[0], windowStart)
	lease := midRun(ids[0])
	killAt := time.Now()
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	blockedKill := blockedFor(t, cl, leaseKey("t01"), lease, killAt, 2*tm.interval)
	t.Logf("mid-run kill of %s: canary of t01 blocked %s (lease %s, interval %s; before the lease: timeout + clean-up + 2 s = %s)",
		victim.name, blockedKill.Round(time.Millisecond), rediscoord.DefaultLease, tm.interval, tm.timeout+rediscoord.CleanupBound+2*time.Second)
	if blockedKill > tm.interval {
		t.Errorf("a replica killed mid-run blocked its canary for %s, more than one interval (%s)", blockedKill, tm.interval)
	}
	nextAfterKill := schedule.FirstTick(killAt, ids[0], tm.interval)
	poll(t, 2*tm.interval, "t01's first tick after the kill", func() bool {
		p := runner(ids[0], nextAfterKill)
		return p != nil
	})
	if p := runner(ids[0], nextAfterKill); p == victim {
		t.Errorf("t01's tick after the kill ran on the killed replica")
	}

	// Phase 2: cut the replica running t02 from Redis, mid-run. Once the
	// killed replica has left the live set the preference order is
	// stable: the replica that ran t02's last tick runs the next one.
	poll(t, 2*tm.interval, "the killed replica leaving the live set", func() bool {
		err := cl.ZScore(context.Background(), prefix+"replicas", victim.name).Err()
		return err == redis.Nil
	})
	stable := time.Now()
	poll(t, 2*tm.interval, "t02 running on a survivor", func() bool {
		return runner(ids[1], stable) != nil
	})
	cutOff := runner(ids[1], stable)
	lease = midRun(ids[1])
	cutAt := time.Now()
	cutTick := schedule.TickAt(cutAt, ids[1], tm.interval)
	proxies[cutOff.name].cut()
	blockedCut := blockedFor(t, cl, leaseKey("t02"), lease, cutAt, 2*tm.interval)
	t.Logf("partition of %s from Redis mid-run: canary of t02 blocked %s after the cut", cutOff.name, blockedCut.Round(time.Millisecond))
	if blockedCut > tm.interval {
		t.Errorf("a replica cut from Redis mid-run blocked its canary for %s, more than one interval", blockedCut)
	}
	poll(t, 3*tm.interval, "two ticks of t02 after the cut", func() bool {
		return runner(ids[1], cutTick.Add(2*tm.interval)) != nil
	})
	// The cut replica stopped its run when it could not renew the lease:
	// recorded as an error, before the lease could end.
	var cutRun *record
	for _, r := range readEvidence(t, cutOff.ev) {
		if r.probe() == ids[1] && r.Run.Tick != nil && r.Run.Tick.Equal(cutTick) {
			cutRun = &r
		}
	}
	switch {
	case cutRun == nil:
		t.Errorf("%s: no record of the run of tick %s it was cut off in", cutOff.name, cutTick.Format("15:04:05.000"))
	case cutRun.Run.Result == "pass":
		t.Errorf("%s: the run cut off from Redis passed; want an error (lease lost)", cutOff.name)
	default:
		end := cutRun.Run.Started.Add(cutRun.Run.Duration)
		t.Logf("%s: the cut-off run ended %s after the cut, its lease %s after the cut: %s/%s", cutOff.name,
			end.Sub(cutAt).Round(time.Millisecond), blockedCut.Round(time.Millisecond), cutRun.Run.Result, cutRun.Run.Reason)
		if end.After(cutAt.Add(blockedCut)) {
			t.Errorf("%s: the cut-off run ended %s after its lease", cutOff.name, end.Sub(cutAt.Add(blockedCut)))
		}
	}
	proxies[cutOff.name].heal()
	healAt := time.Now()
	poll(t, 5*tm.interval, "two more ticks of each probe after the heal", func() bool {
		return runner(ids[0], healAt.Add(2*tm.interval)) != nil && runner(ids[1], healAt.Add(2*tm.interval)) != nil
	})
	endAt := time.Now()

	// No tick twice; no tick lost but the one killed in flight; one run
	// at a time per canary.
	recs := e.all()
	for _, id := range ids {
		seen := map[int64]string{}
		for _, r := range recs {
			if r.probe() != id || r.Run.Tick == nil {
				continue
			}
			k := r.Run.Tick.UnixNano()
			if other, dup := seen[k]; dup {
				t.Errorf("%s: tick %s ran twice (%s and %s)", id, r.Run.Tick.Format("15:04:05.000"), other, r.replica())
			}
			seen[k] = r.replica()
		}
		var lost []string
		for _, tick := range ticksInEvery(id, windowStart, endAt.Add(-tm.interval), tm.interval) {
			if _, ok := seen[tick.UnixNano()]; !ok {
				if id == ids[0] && !tick.After(killAt) && killAt.Sub(tick) < tm.interval {
					continue // in flight on the killed replica
				}
				lost = append(lost, tick.Format("15:04:05.000"))
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s: ticks lost: %v", id, lost)
		}
	}
	byCanary := map[string][]record{}
	for _, r := range recs {
		byCanary[canaryOf(r.Run.Target)] = append(byCanary[canaryOf(r.Run.Target)], r)
	}
	for c, rs := range byCanary {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Run.Started.Before(rs[j].Run.Started) })
		for i := 1; i < len(rs); i++ {
			if prevEnd := rs[i-1].Run.Started.Add(rs[i-1].Run.Duration); rs[i].Run.Started.Before(prevEnd) {
				t.Errorf("%s: %s on %s overlaps %s on %s", c, rs[i].probe(), rs[i].replica(), rs[i-1].probe(), rs[i-1].replica())
			}
		}
	}
	results := map[string]int{}
	for _, r := range recs {
		results[r.replica()+":"+r.Run.Result+"/"+r.Run.Reason]++
	}
	t.Logf("runs: %d; %v", len(recs), results)
}

// ticksInEvery lists the ticks of probe id in [from, to] for interval iv
// (ticksIn is this for the package's interval).
func ticksInEvery(id string, from, to time.Time, iv time.Duration) []time.Time {
	var out []time.Time
	for t := schedule.FirstTick(from, id, iv); !t.After(to); t = t.Add(iv) {
		out = append(out, t)
	}
	return out
}
