//go:build redis

// Package replicas runs three `revprober run` processes coordinated by a
// real redis-server against the simulator, and proves from their evidence
// files what README.md (Replicas) and docs/deployment.md promise for several replicas:
//
//   - every scheduled tick of every probe runs exactly once across replicas;
//   - no two runs on one canary overlap (twenty probes share two canaries);
//   - every replica does some of the work;
//   - a replica killed with SIGKILL: its probes run on the others from the
//     next tick on (within one interval);
//   - Redis stopped: no replica probes, /metrics says
//     revprober_coordination_up{backend="redis"} 0; Redis back: probing resumes.
//   - (midrun_test.go) a replica killed with SIGKILL in the middle of a run
//     blocks its canary for about one lease (5 s), not the probe's timeout;
//     a replica cut from Redis mid-run stops its run before its lease ends
//     and records it as an error; no tick twice, none lost but the one in
//     flight on the killed replica;
//   - a new data epoch (the first start on a fresh Redis, Redis back empty):
//     no run starts before the epoch's creation plus the probes' hold
//     (timeout + clean-up bound + lock margin).
//
// Run it with `go test -tags redis -count=1 ./test/replicas/` (needs
// redis-server on $PATH: apt-get install redis-server).
package replicas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/revprober/revprober/internal/testenv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	rediscoord "github.com/revprober/revprober/internal/coord/redis"
	"github.com/revprober/revprober/internal/schedule"
)

const (
	interval = 2 * time.Second
	timeout  = time.Second
	nProbes  = 20
	replicas = 3
	// hold is how long a probe waits after a new data epoch: its timeout,
	// the clean-up bound and the coordinator's default lock margin (2 s).
	hold = timeout + rediscoord.CleanupBound + 2*time.Second
)

// record is the part of an evidence line this test reads.
type record struct {
	Replica string `json:"replica"`
	Run     struct {
		RunID    string        `json:"run_id"`
		Target   string        `json:"target"`
		Endpoint string        `json:"endpoint"`
		Started  time.Time     `json:"started"`
		Duration time.Duration `json:"duration_ns"`
		Tick     *time.Time    `json:"tick"`
		Replica  string        `json:"replica"`
		Result   string        `json:"result"`
		Reason   string        `json:"reason"`
	} `json:"run"`
}

func (r record) probe() string { return r.Run.Target + "/" + r.Run.Endpoint }

func (r record) replica() string {
	if r.Run.Replica != "" {
		return r.Run.Replica
	}
	return r.Replica
}

// canary of target tNN: the simulator has two canary users.
func canaryOf(target string) string {
	var n int
	fmt.Sscanf(target, "t%d", &n)
	return fmt.Sprintf("canary%02d", n%2+1)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	addr string
	ev   string
}

type env struct {
	t       *testing.T
	dir     string
	bin     string
	redis   *exec.Cmd
	redisAt string
	procs   []*proc
}

// poll calls ok every 50 ms until it returns true or d has passed.
func poll(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func (e *env) start(name string, args ...string) *exec.Cmd {
	e.t.Helper()
	f, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		f.Close()
	})
	return cmd
}

func (e *env) startRedis() {
	e.t.Helper()
	e.redis = e.start(fmt.Sprintf("redis-%d", time.Now().UnixNano()), "redis-server",
		"--bind", "127.0.0.1", "--port", strings.Split(e.redisAt, ":")[1], "--save", "", "--appendonly", "no")
	cl := redis.NewClient(&redis.Options{Addr: e.redisAt})
	defer cl.Close()
	poll(e.t, 10*time.Second, "redis-server answering PING", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return cl.Ping(ctx).Err() == nil
	})
}

func (e *env) stopRedis() {
	e.t.Helper()
	_ = e.redis.Process.Kill()
	_ = e.redis.Wait()
}

func get(url string) (int, string) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func readEvidence(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line being written
		}
		out = append(out, r)
	}
	return out
}

func (e *env) all() []record {
	var out []record
	for _, p := range e.procs {
		out = append(out, readEvidence(e.t, p.ev)...)
	}
	return out
}

func probeIDs() []string {
	var ids []string
	for i := 1; i <= nProbes; i++ {
		ids = append(ids, fmt.Sprintf("t%02d/gtr", i))
	}
	return ids
}

func config(simURL, redisAt, prefix, replica, listen, evidence string) string {
	return configWith(timing{interval: interval, timeout: timeout, deadline: 500 * time.Millisecond, request: 500 * time.Millisecond},
		nProbes, simURL, redisAt, prefix, replica, listen, evidence)
}

// timing is a cluster's global timing settings.
type timing struct{ interval, timeout, deadline, request time.Duration }

// configWith is the config of one replica with n probes t01..tNN.
func configWith(tm timing, n int, simURL, redisAt, prefix, replica, listen, evidence string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  listen: %q
  interval: %s
  timeout: %s
  deadline: %s
  hold: 20ms   # short: 10 probes share each canary within the 2s interval
  request_timeout: %s
evidence:
  path: %q
coordination:
  backend: redis
  replica: %s
  redis:
    addr: %q
    key_prefix: %q
targets:
`, listen, tm.interval, tm.timeout, tm.deadline, tm.request, evidence, replica, redisAt, prefix)
	for i := 1; i <= n; i++ {
		c := canaryOf(fmt.Sprintf("t%02d", i))
		fmt.Fprintf(&b, `  - name: t%02d
    issuer: %s/jans-auth
    admin_client: {client_id: revprober-admin, client_secret: admin-secret}
    login:
      method: password
      client: {client_id: canary-app, client_secret: canary-secret}
    canary:
      username: %s
      password: canary-password-%s
      attributes: {mail: %s@example.com, user_dn: "inum=CANARY%s,ou=people,o=jans"}
    endpoints:
      - name: gtr
        driver: janssen-global-token-revocation
        params: {format: uid}
`, i, simURL, c, c[len(c)-2:], c, c[len(c)-2:])
	}
	return b.String()
}

// ticksIn lists the ticks of probe id in [from, to].
func ticksIn(id string, from, to time.Time) []time.Time {
	return ticksInEvery(id, from, to, interval)
}

// epochCreated reads the creation time of the data epoch in Redis
// ("<id>.<created ms>.<run_id>"), waiting for a replica to write it.
func (e *env) epochCreated(prefix string) time.Time {
	e.t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: e.redisAt})
	defer cl.Close()
	var created time.Time
	poll(e.t, 10*time.Second, "a data epoch in Redis", func() bool {
		v, err := cl.Get(context.Background(), prefix+"epoch").Result()
		if err != nil {
			return false
		}
		parts := strings.SplitN(v, ".", 3)
		var ms int64
		if len(parts) != 3 || len(parts[2]) != 40 {
			e.t.Fatalf("epoch %q: not <id>.<created ms>.<run_id>", v)
		}
		if _, err := fmt.Sscan(parts[1], &ms); err != nil {
			e.t.Fatalf("epoch %q: %v", v, err)
		}
		created = time.UnixMilli(ms)
		return true
	})
	return created
}

// noRunBefore fails for every run that started after from and before
// the epoch created at created had waited out hold.
func (e *env) noRunBefore(from, created time.Time, what string) {
	e.t.Helper()
	for _, r := range e.all() {
		// 100 ms: Redis' clock is converted through one round trip.
		if r.Run.Started.After(from) && r.Run.Started.Before(created.Add(hold-100*time.Millisecond)) {
			e.t.Errorf("%s: %s started at %s, %s after the data epoch began (wait %s)", what, r.probe(),
				r.Run.Started.Format("15:04:05.000"), r.Run.Started.Sub(created).Round(time.Millisecond), hold)
		}
	}
}

// newEnv builds the binary, starts a redis-server and the simulator
// (with simArgs, e.g. faults).
func newEnv(t *testing.T, simArgs ...string) (*env, string) {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	t.Logf("logs and evidence in %s", e.dir)

	// One binary for the simulator and the three replicas.
	e.bin = filepath.Join(e.dir, "revprober")
	build := exec.Command("go", "build", "-o", e.bin, "./cmd/revprober")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	e.redisAt = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e.startRedis()

	simAt := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e.start("idpsim", append([]string{e.bin, "idpsim", "--listen", simAt}, simArgs...)...)
	simURL := "http://" + simAt
	poll(t, 10*time.Second, "the simulator", func() bool {
		code, _ := get(simURL + "/jans-auth/.well-known/openid-configuration")
		return code == 200
	})
	return e, simURL
}

// startReplicas starts the replicas, each with the config cfg gives for
// its name, listen address and evidence file, and waits until each is ready.
func (e *env) startReplicas(cfg func(name, listen, evidence string) string) {
	e.t.Helper()
	for i := range replicas {
		p := &proc{name: fmt.Sprintf("replica-%d", i)}
		p.addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(e.t))
		p.ev = filepath.Join(e.dir, p.name+".evidence.jsonl")
		cfgPath := filepath.Join(e.dir, p.name+".yml")
		if err := os.WriteFile(cfgPath, []byte(cfg(p.name, p.addr, p.ev)), 0o600); err != nil {
			e.t.Fatal(err)
		}
		p.log = filepath.Join(e.dir, p.name+".log")
		p.cmd = e.start(p.name, e.bin, "run", "-c", cfgPath)
		e.procs = append(e.procs, p)
	}
	for _, p := range e.procs {
		poll(e.t, 15*time.Second, p.name+" ready", func() bool {
			code, _ := get("http://" + p.addr + "/-/ready")
			return code == 200
		})
	}
}

func TestReplicas(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found: apt-get install -y --no-install-recommends redis-server")
	}
	e, simURL := newEnv(t)

	prefix := fmt.Sprintf("rptest%d:", time.Now().UnixNano())
	e.startReplicas(func(name, listen, evidence string) string {
		return config(simURL, e.redisAt, prefix, name, listen, evidence)
	})
	ids := probeIDs()
	// A fresh Redis is a new data epoch (it cannot be told from one that
	// lost its data): no replica probes before the epoch is hold old.
	firstEpoch := e.epochCreated(prefix)
	firstRun := poll(t, hold+4*interval, "every probe's first run", func() bool {
		seen := map[string]bool{}
		for _, r := range e.all() {
			seen[r.probe()] = true
		}
		return len(seen) == len(ids)
	})
	var earliest time.Time
	for _, r := range e.all() {
		if earliest.IsZero() || r.Run.Started.Before(earliest) {
			earliest = r.Run.Started
		}
	}
	t.Logf("first start: the first run began %s after the data epoch (wait %s); every probe had run %s after the replicas were ready",
		earliest.Sub(firstEpoch).Round(time.Millisecond), hold, firstRun.Round(time.Millisecond))
	e.noRunBefore(time.Time{}, firstEpoch, "first start")
	// Every replica has joined the live set, scheduled its probes and
	// waited out the first epoch: from the next interval on, every tick
	// must run.
	windowStart := time.Now().Add(interval)

	byProbe := func(recs []record) map[string][]record {
		m := map[string][]record{}
		for _, r := range recs {
			m[r.probe()] = append(m[r.probe()], r)
		}
		return m
	}
	// ranAfter: every probe has run a tick at or after t.
	ranAfter := func(t0 time.Time) func() bool {
		return func() bool {
			m := byProbe(e.all())
			for _, id := range ids {
				ok := false
				for _, r := range m[id] {
					if r.Run.Tick != nil && !r.Run.Tick.Before(t0) {
						ok = true
					}
				}
				if !ok {
					return false
				}
			}
			return true
		}
	}

	// Phase 1: three replicas, four intervals.
	poll(t, 6*interval, "four intervals of runs", ranAfter(windowStart.Add(4*interval)))

	// Phase 2: kill -9 the replica that ran the most.
	work := map[string]int{}
	for _, r := range e.all() {
		work[r.replica()]++
	}
	t.Logf("runs per replica before the kill: %v", work)
	for _, p := range e.procs {
		if work[p.name] == 0 {
			t.Errorf("%s did no work", p.name)
		}
	}
	victim := e.procs[0]
	for _, p := range e.procs {
		if work[p.name] > work[victim.name] {
			victim = p
		}
	}
	victimProbes := map[string]bool{}
	for _, r := range e.all() {
		if r.replica() == victim.name {
			victimProbes[r.probe()] = true
		}
	}
	killAt := time.Now()
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	t.Logf("killed %s (SIGKILL) at %s; it ran %d probes", victim.name, killAt.Format("15:04:05.000"), len(victimProbes))
	poll(t, 6*interval, "three intervals after the kill", ranAfter(killAt.Add(3*interval)))

	// Failover: each of the victim's probes ran its first tick after the
	// kill on a survivor.
	var worst, lag time.Duration
	m := byProbe(e.all())
	for id := range victimProbes {
		next := schedule.FirstTick(killAt, id, interval)
		found := false
		for _, r := range m[id] {
			if r.Run.Tick != nil && r.Run.Tick.Equal(next) {
				found = true
				if r.replica() == victim.name {
					t.Errorf("%s: tick after the kill ran on the killed replica", id)
				}
				if d := r.Run.Started.Sub(killAt); d > worst {
					worst = d
				}
				if d := r.Run.Started.Sub(next); d > lag {
					lag = d
				}
			}
		}
		if !found {
			t.Errorf("%s: its first tick after the kill (%s) did not run", id, next.Format("15:04:05.000"))
		}
	}
	t.Logf("failover: the killed replica's probes ran on the survivors at most %s after the kill (interval %s), at most %s after their tick",
		worst.Round(time.Millisecond), interval, lag.Round(time.Millisecond))
	if worst > interval+interval/4 {
		t.Errorf("failover took %s, more than one interval", worst)
	}

	// Phase 3: Redis stops. No replica probes; /metrics says so.
	survivors := []*proc{}
	for _, p := range e.procs {
		if p != victim {
			survivors = append(survivors, p)
		}
	}
	stopAt := time.Now()
	e.stopRedis()
	downFor := poll(t, 10*time.Second, "coordination_up 0 on the survivors", func() bool {
		for _, p := range survivors {
			_, body := get("http://" + p.addr + "/metrics")
			if !strings.Contains(body, `revprober_coordination_up{backend="redis"} 0`) {
				return false
			}
		}
		return true
	})
	t.Logf("Redis stopped; both survivors reported revprober_coordination_up 0 within %s", downFor.Round(time.Millisecond))
	before := len(e.all())
	// Absence can only be observed over a window: two intervals.
	quietUntil := time.Now().Add(2 * interval)
	for time.Now().Before(quietUntil) {
		time.Sleep(100 * time.Millisecond)
	}
	during := 0
	for _, r := range e.all() {
		if r.Run.Started.After(stopAt.Add(200 * time.Millisecond)) {
			during++
		}
	}
	if during != 0 || len(e.all()) != before {
		t.Errorf("%d runs started while Redis was down (evidence %d → %d records)", during, before, len(e.all()))
	}
	for _, p := range survivors {
		b, _ := os.ReadFile(p.log)
		if !bytes.Contains(b, []byte("coordination backend unreachable")) {
			t.Errorf("%s: no log line about the unreachable backend", p.name)
		}
	}

	// Phase 4: Redis back (empty: --save ''). Probing resumes once runs
	// started before the loss can have ended (the quarantine).
	startAt := time.Now()
	e.startRedis()
	secondEpoch := e.epochCreated(prefix)
	resumed := poll(t, 40*time.Second, "every probe running again", ranAfter(startAt))
	t.Logf("Redis back; every probe ran again within %s", resumed.Round(time.Millisecond))
	e.noRunBefore(startAt, secondEpoch, "Redis back empty")
	for _, p := range survivors {
		_, body := get("http://" + p.addr + "/metrics")
		if !strings.Contains(body, `revprober_coordination_up{backend="redis"} 1`) {
			t.Errorf("%s: coordination_up not back to 1", p.name)
		}
	}
	var firstAfter time.Time
	for _, r := range e.all() {
		if r.Run.Started.After(startAt) && (firstAfter.IsZero() || r.Run.Started.Before(firstAfter)) {
			firstAfter = r.Run.Started
		}
	}
	poll(t, 4*interval, "two more intervals", ranAfter(firstAfter.Add(2*interval)))
	endAt := time.Now()

	// The whole record.
	recs := e.all()
	perReplica := map[string]int{}
	results := map[string]int{}
	for _, r := range recs {
		perReplica[r.replica()]++
		results[r.Run.Result+"/"+r.Run.Reason]++
		if r.Run.Tick == nil {
			t.Errorf("%s: run %s has no tick", r.probe(), r.Run.RunID)
		}
	}
	t.Logf("runs: %d; per replica %v; results %v", len(recs), perReplica, results)

	// Exactly once: no tick twice, and every tick in the windows ran.
	m = byProbe(recs)
	missing := 0
	for _, id := range ids {
		seen := map[int64]string{}
		for _, r := range m[id] {
			if r.Run.Tick == nil {
				continue
			}
			k := r.Run.Tick.UnixNano()
			if other, dup := seen[k]; dup {
				t.Errorf("%s: tick %s ran twice (%s and %s)", id, r.Run.Tick.Format("15:04:05.000"), other, r.replica())
			}
			seen[k] = r.replica()
		}
		check := func(from, to time.Time, what string) {
			for _, tick := range ticksIn(id, from, to) {
				if _, ok := seen[tick.UnixNano()]; !ok {
					missing++
					t.Errorf("%s: tick %s (%s) did not run", id, tick.Format("15:04:05.000"), what)
				}
			}
		}
		// The killed replica may take in-flight ticks with it: those just
		// before the kill are excused.
		check(windowStart, killAt.Add(-timeout-interval/4), "three replicas")
		check(killAt, stopAt.Add(-interval/4), "two replicas")
		check(firstAfter.Add(interval), endAt.Add(-interval), "after Redis came back")
	}

	// One run at a time per canary, across replicas.
	byCanary := map[string][]record{}
	for _, r := range recs {
		c := canaryOf(r.Run.Target)
		byCanary[c] = append(byCanary[c], r)
	}
	for c, rs := range byCanary {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Run.Started.Before(rs[j].Run.Started) })
		for i := 1; i < len(rs); i++ {
			prevEnd := rs[i-1].Run.Started.Add(rs[i-1].Run.Duration)
			if rs[i].Run.Started.Before(prevEnd) {
				t.Errorf("%s: %s on %s started at %s, before %s on %s ended at %s", c,
					rs[i].probe(), rs[i].replica(), rs[i].Run.Started.Format("15:04:05.000000"),
					rs[i-1].probe(), rs[i-1].replica(), prevEnd.Format("15:04:05.000000"))
			}
		}
		t.Logf("%s: %d runs, none overlapping", c, len(rs))
	}
	if t.Failed() {
		for _, p := range e.procs {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			t.Logf("%s log tail:\n%s", p.name, strings.Join(lines, "\n"))
		}
	}
}
