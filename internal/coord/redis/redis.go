// Package rediscoord shares probes between revprober replicas through Redis.
//
// It implements schedule.Coordinator with three Redis primitives and no
// protocol of its own:
//
//   - The tick claim. Every replica schedules every probe on the same
//     deterministic ticks (schedule.TickAt). Before running a tick, a replica
//     claims it with one atomic SET key NX PX on "<prefix>tick:<probe id>:<tick>"
//     (TTL two intervals). Exactly one SET succeeds; the others skip the tick
//     as not_leader. The claim is never released at the end of the run, so a
//     replica whose timer fires late cannot run the tick again (the trap of
//     gocron#841, where a lock released at job end let every replica run
//     every tick).
//   - The canary lease. The replica that won the tick then takes a redsync
//     mutex on "<prefix>canary:<canary key>" (the same key for every probe that
//     logs in the same canary users), so at most one run at a time uses a
//     canary, across replicas. It is a short lease (Options.Lease, default
//     5 s), renewed every quarter lease while the run goes on (clean-up
//     included) and released when the run ends. A replica that dies
//     (kill -9) frees the canary within one lease, whatever the probe's
//     timeout. A replica that cannot renew (Redis unreachable, or the lease
//     gone) stops its run a quarter lease before the lease can end, through
//     schedule.StopRun: the run is recorded as an error, never a pass, and
//     its clean-up still runs.
//   - The preference delay. Replicas heartbeat into a sorted set; each ranks
//     itself for a probe by rendezvous hashing of (probe id, replica) over the
//     live set and waits rank × stagger after the tick before claiming. The
//     preferred replica claims first, so probes spread evenly and stay put;
//     when it dies, the next one claims a stagger later, in the same tick.
//     The preference only delays, it never excludes: a dead or slow replica
//     costs one stagger, not a lost tick.
//
// When Redis is unreachable the replica does not probe: Acquire skips with
// coordination_down, the state callback and a log line say so, and probing
// resumes when a heartbeat succeeds again.
//
// The data epoch. Canary locks and tick claims live only in Redis: if Redis
// comes back empty (a restart without persistence, a fail-over to an empty
// replica) or with old data (a restored snapshot, a fail-over to a lagging
// replica), the locks of runs still in flight are gone. Redis holds one
// epoch value, "<random>.<created, Redis' clock in ms>.<run_id>", written by
// a script that also reads Redis' own run_id (INFO server; it changes at
// every start of a Redis process). The heartbeat replaces the epoch when it
// is missing (data lost) or stamped with another run_id (Redis restarted or
// failed over, whatever data it kept), so a restart is noticed by every
// replica from Redis itself, not from what this replica saw before: a
// replica that first meets Redis after the loss reads the same creation
// time. A probe then runs only from the epoch's creation plus the longest
// hold (timeout + clean-up + margin) of any loaded probe that shares one of
// its canary users: no run started before the epoch can still use them.
// A fresh Redis (the first start of a deployment) looks the same and waits
// the same: it cannot be told from a loss. Every tick claim and every
// canary lock taken is checked, in the same script, against the epoch and
// the run_id, so nothing is claimed on a restarted Redis in the heartbeat
// before the replacement.
package rediscoord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
)

// DefaultLease is the canary lease's default duration.
const DefaultLease = 5 * time.Second

// CleanupBound is how long a run may last past its timeout (probe.Run
// cleans up on a fresh context). The canary lock and the quarantine after
// a Redis data loss cover Timeout + CleanupBound.
const CleanupBound = probe.CleanupTimeout

// Options configure a Coordinator.
type Options struct {
	// Client is the Redis client (required).
	Client redis.UniversalClient
	// Prefix starts every key; default "revprober:".
	Prefix string
	// Replica names this replica (required, unique per replica).
	Replica string
	// Heartbeat is how often the replica refreshes its liveness and checks
	// Redis; default 1 s. A replica silent for ReplicaTTL (default 5 ×
	// Heartbeat) leaves the live set.
	Heartbeat  time.Duration
	ReplicaTTL time.Duration
	// Stagger is the delay between two preference ranks; default
	// interval/20, clamped to [50 ms, 1 s]. It must exceed the clock skew
	// between replicas plus a Redis round trip.
	Stagger time.Duration
	// LockMargin is added to the probe timeout and clean-up for the wait
	// after Redis lost its data; default 2 s.
	LockMargin time.Duration
	// Lease is the canary lock's expiry, renewed every Lease/4 while the
	// run goes on; default 5 s. A replica killed during a run blocks its
	// canary for at most this long. It must exceed a few Redis round
	// trips: a run that cannot renew for 3/4 of it is stopped.
	Lease time.Duration
	// RetryDelay is the pause between two attempts at a busy canary; default 25 ms.
	RetryDelay time.Duration
	// OnState is called with true or false whenever Redis becomes
	// reachable or unreachable (and once at Start). SetStateFunc may set it later.
	OnState func(up bool)
	Logger  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Coordinator is the Redis backend of schedule.Coordinator.
type Coordinator struct {
	opts Options
	rs   *redsync.Redsync

	mu         sync.Mutex
	up         bool
	known      bool      // up has been observed at least once
	epoch      string    // the data epoch last seen in Redis
	epochStart time.Time // its creation, on this replica's clock
	noRunID    bool      // Redis did not report its run_id (warned once)
	live       []string  // live replicas, from the last heartbeat
	// holds is, per canary key, the longest hold of any loaded probe
	// using it (SetProbes); longest is the longest of all.
	holds   map[string]time.Duration
	longest time.Duration
	onState func(up bool)
	// reported is the state last given to onState (and logged): whether
	// every probe runs, not just whether Redis answers (see ready).
	reported, reportedKnown bool

	stop chan struct{}
	done chan struct{}
}

// New returns a coordinator; Start begins its heartbeat.
func New(opts Options) (*Coordinator, error) {
	if opts.Client == nil {
		return nil, errors.New("redis coordination: no client")
	}
	if opts.Replica == "" {
		return nil, errors.New("redis coordination: no replica name")
	}
	if opts.Prefix == "" {
		opts.Prefix = "revprober:"
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = time.Second
	}
	if opts.ReplicaTTL <= 0 {
		opts.ReplicaTTL = 5 * opts.Heartbeat
	}
	if opts.LockMargin <= 0 {
		opts.LockMargin = 2 * time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 25 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// go-redis logs every failed dial (tens of lines per replica in an
	// outage); the coordinator logs each change of state once itself.
	redis.SetLogger(goRedisLogger{opts.Logger})
	c := &Coordinator{
		opts:    opts,
		rs:      redsync.New(goredis.NewPool(opts.Client)),
		onState: opts.OnState,
		live:    []string{opts.Replica},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	return c, nil
}

// goRedisLogger sends go-redis's own log lines to debug level.
type goRedisLogger struct{ log *slog.Logger }

func (l goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...), "backend", "redis")
}

// SetStateFunc sets the state callback (the daemon's metrics exist only
// after the coordinator is built) and calls it with the current state if
// one is known. The state is what the scheduler does: true when Redis
// answers and no probe waits after a new data epoch, false while ticks are
// skipped as coordination_down (Redis unreachable, or its data new).
func (c *Coordinator) SetStateFunc(f func(up bool)) {
	c.mu.Lock()
	c.onState = f
	up, known := c.reported, c.reportedKnown
	c.mu.Unlock()
	if f != nil && known {
		f(up)
	}
}

// ready reports whether every loaded probe may run now: Redis answered at
// the last contact, its data epoch is known and the wait after it (for
// the probes with the longest hold) is over. A probe with a shorter hold
// may run earlier; until the last one may, the state says "down": ticks
// are still being skipped as coordination_down. c.mu held.
func (c *Coordinator) ready(now time.Time) (bool, time.Time) {
	settled := c.epochStart.Add(c.longest)
	return c.up && c.epoch != "" && !now.Before(settled), settled
}

// report tells the callback, and logs, each change of what the scheduler
// does (not each change of reachability: after Redis came back empty,
// it answers while every probe still waits).
func (c *Coordinator) report() {
	c.mu.Lock()
	ok, settled := c.ready(c.opts.Now())
	up := c.up
	changed := !c.reportedKnown || c.reported != ok
	c.reported, c.reportedKnown = ok, true
	f := c.onState
	c.mu.Unlock()
	if !changed {
		return
	}
	switch {
	case ok:
		c.opts.Logger.Info("coordination backend reachable; probing", "backend", "redis", "replica", c.opts.Replica)
	case up:
		c.opts.Logger.Warn("coordination backend reachable, but its data is new (first start, data lost or Redis restarted): probes wait until runs of before can have ended, skipped as coordination_down",
			"backend", "redis", "replica", c.opts.Replica, "until", settled.Format(time.RFC3339))
	}
	if f != nil {
		f(ok)
	}
}

// hold is how long a run of a probe with this timeout can use its canary:
// the wait after a new epoch (a run of before may still be cleaning up).
func (c *Coordinator) hold(timeout time.Duration) time.Duration {
	return timeout + CleanupBound + c.opts.LockMargin
}

// SetProbes tells the coordinator every loaded probe (schedule.Scheduler.Load
// calls it at start and at each reload). After a new epoch a probe waits
// for the longest hold of the probes that share any of its canary users:
// only their runs, started before the epoch, can still be using them. A
// probe that shares no user with a slower one does not wait for it (one
// probe with a 20-minute timeout does not stop every probe for 20 minutes).
//
// The map is this replica's config, replaced at each reload: replicas are
// assumed to load the same probes (they already must to agree on ticks).
// Acquire also counts the probe's own hold, so a probe never waits less
// than its own runs can last, even before SetProbes.
func (c *Coordinator) SetProbes(probes []*probe.Probe) {
	holds := map[string]time.Duration{}
	var longest time.Duration
	for _, p := range probes {
		h := c.hold(p.Timeout)
		longest = max(longest, h)
		for _, k := range p.CanaryKeys() {
			holds[k] = max(holds[k], h)
		}
	}
	c.mu.Lock()
	c.holds, c.longest = holds, longest
	c.mu.Unlock()
}

// settledAt is when no run started before the current epoch can still use
// any of keys, for a probe whose own runs hold them for hold. c.mu held.
func (c *Coordinator) settledAt(keys []string, hold time.Duration) time.Time {
	for _, k := range keys {
		hold = max(hold, c.holds[k])
	}
	return c.epochStart.Add(hold)
}

// Start runs one heartbeat now, then one every Heartbeat until Close.
// A Redis that is down at start is not an error: the replica waits for it
// (skipping ticks as coordination_down) and says so.
func (c *Coordinator) Start(ctx context.Context) {
	c.beat(ctx)
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				c.beat(ctx)
			}
		}
	}()
}

// Close stops the heartbeat and leaves the live set, so the others take
// this replica's probes over at once instead of one stagger late.
func (c *Coordinator) Close() error {
	select {
	case <-c.stop:
		return nil
	default:
	}
	close(c.stop)
	<-c.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.opts.Client.ZRem(ctx, c.key("replicas"), c.opts.Replica).Err()
}

func (c *Coordinator) key(parts ...string) string {
	k := c.opts.Prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

// Lua shared by the scripts: Redis' run_id (INFO server), "" where the
// server does not report it; the run_id an epoch value is stamped with, nil
// for a value of another format. pcall: where INFO is refused, the script
// goes on without run_id (no restart detection, see checkEpoch).
const luaRunID = `
local function server_run_id()
  local ok, info = pcall(redis.call, 'INFO', 'server')
  if not ok or type(info) ~= 'string' then return '' end
  return string.match(info, 'run_id:(%w+)') or ''
end
local function stamped_run_id(e)
  return string.match(e, '^%w+%.%d+%.(%w*)$')
end
`

// epochScript returns the data epoch and Redis' clock (ms), first
// replacing the epoch if it is missing (Redis lost its data) or stamped
// with another run_id (Redis restarted or failed over, with whatever data
// it kept). Every replica runs it; the first after a loss replaces, the
// others read the replacement. KEYS[1]: the epoch; ARGV[1]: a fresh id.
var epochScript = luaRunID + `
local run = server_run_id()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = redis.call('GET', KEYS[1])
if not e or stamped_run_id(e) ~= run then
  e = ARGV[1] .. '.' .. string.format('%.0f', now) .. '.' .. run
  redis.call('SET', KEYS[1], e)
end
return {e, now}`

// beat refreshes this replica's liveness, reads the live set and the data
// epoch (replacing it after a loss or a restart of Redis).
func (c *Coordinator) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Heartbeat)
	defer cancel()
	now := c.opts.Now()
	set := c.key("replicas")
	var live *redis.StringSliceCmd
	var epoch *redis.Cmd
	_, err := c.opts.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		epoch = p.Eval(ctx, epochScript, []string{c.key("epoch")}, newEpoch())
		p.ZAdd(ctx, set, redis.Z{Score: float64(now.UnixMilli()), Member: c.opts.Replica})
		p.ZRemRangeByScore(ctx, set, "-inf", strconv.FormatInt(now.Add(-c.opts.ReplicaTTL).UnixMilli(), 10))
		live = p.ZRange(ctx, set, 0, -1)
		return nil
	})
	var e string
	var redisNow int64
	if err == nil {
		e, redisNow, err = epochReply(epoch)
	}
	if err != nil {
		c.setUp(false, err)
		return
	}
	c.mu.Lock()
	c.live = live.Val()
	if !contains(c.live, c.opts.Replica) {
		c.live = append(c.live, c.opts.Replica)
	}
	c.mu.Unlock()
	c.checkEpoch(e, redisNow)
	c.setUp(true, nil)
}

func epochReply(cmd *redis.Cmd) (string, int64, error) {
	v, err := cmd.Slice()
	if err != nil {
		return "", 0, err
	}
	if len(v) != 2 {
		return "", 0, fmt.Errorf("redis coordination: epoch script returned %v", v)
	}
	e, ok1 := v[0].(string)
	now, ok2 := v[1].(int64)
	if !ok1 || !ok2 {
		return "", 0, fmt.Errorf("redis coordination: epoch script returned %v", v)
	}
	return e, now, nil
}

// parseEpoch splits "<id>.<created ms>.<run_id>".
func parseEpoch(e string) (created int64, runID string, ok bool) {
	parts := strings.SplitN(e, ".", 3)
	if len(parts) != 3 {
		return 0, "", false
	}
	created, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return created, parts[2], true
}

// checkEpoch adopts a new data epoch and its creation time, converted to
// this replica's clock through Redis' clock read in the same script (so
// the skew between Redis and the replicas does not count).
func (c *Coordinator) checkEpoch(e string, redisNow int64) {
	local := c.opts.Now()
	c.mu.Lock()
	if e == "" || e == c.epoch {
		c.mu.Unlock()
		return
	}
	first := c.epoch == ""
	created, runID, ok := parseEpoch(e)
	age := time.Duration(redisNow-created) * time.Millisecond
	if !ok || age < 0 {
		age = 0 // unreadable: as if created now, the cautious side
	}
	c.epoch = e
	c.epochStart = local.Add(-age)
	longest := c.longest
	warnRunID := runID == "" && !c.noRunID
	if runID == "" {
		c.noRunID = true
	}
	c.mu.Unlock()
	if warnRunID {
		c.opts.Logger.Warn("Redis does not report its run_id (INFO server); a Redis restart that keeps old data (a restored snapshot, a fail-over to a lagging replica) is not detected",
			"backend", "redis")
	}
	if first {
		c.opts.Logger.Info("coordination data epoch", "backend", "redis", "epoch_age", age.Round(time.Millisecond))
		return
	}
	c.opts.Logger.Warn("coordination backend lost its state or restarted (Redis restarted, restored or failed over); each probe waits until runs started before on its canaries can have ended",
		"backend", "redis", "longest_wait", longest)
}

// setUp records reachability, logs its loss and reports the state.
func (c *Coordinator) setUp(up bool, err error) {
	c.mu.Lock()
	lost := (!c.known || c.up) && !up
	c.up, c.known = up, true
	c.mu.Unlock()
	if lost {
		c.opts.Logger.Error("coordination backend unreachable; this replica does not probe until it returns",
			"backend", "redis", "replica", c.opts.Replica, "err", err)
	}
	c.report()
}

// Up reports whether Redis was reachable at the last contact.
func (c *Coordinator) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// Acquire implements schedule.Coordinator.
func (c *Coordinator) Acquire(ctx context.Context, p *probe.Probe, tick time.Time) (func(), string, error) {
	return c.acquire(ctx, p.ID(), p.CanaryKeys(), p.Interval, p.Timeout, tick)
}

// TryAcquire implements schedule.TryAcquirer (the status page's run-now):
// it takes the canary only if it is free now, on any replica.
func (c *Coordinator) TryAcquire(p *probe.Probe) (func(), bool) {
	return c.TryAcquireContext(context.Background(), p)
}

// TryAcquireContext implements schedule.ContextTryAcquirer: TryAcquire for
// the run of ctx, which is stopped if the lease cannot be renewed.
func (c *Coordinator) TryAcquireContext(ctx context.Context, p *probe.Probe) (func(), bool) {
	release, skip, err := c.acquire(ctx, p.ID(), p.CanaryKeys(), 0, p.Timeout, time.Time{})
	return release, skip == "" && err == nil
}

// WhyRefused implements schedule.RefusalExplainer: Redis unreachable, or
// its data new (a run of before may still hold the canary), are not a busy
// canary.
func (c *Coordinator) WhyRefused(p *probe.Probe) error {
	c.mu.Lock()
	up, epoch := c.up, c.epoch
	settled := c.settledAt(p.CanaryKeys(), c.hold(p.Timeout))
	c.mu.Unlock()
	switch {
	case !up || epoch == "":
		return errRedisDown
	case c.opts.Now().Before(settled):
		return newDataError(settled)
	}
	return nil
}

// errRedisDown is why no run starts while Redis is unreachable.
var errRedisDown = errors.New("redis coordination: Redis unreachable")

// newDataError is why no run starts on a canary until settled after Redis
// lost its data.
func newDataError(settled time.Time) error {
	return fmt.Errorf("redis coordination: Redis' data is new (first start, data lost or Redis restarted); a run started before may still use this canary until %s", settled.Format(time.RFC3339))
}

// claimScript claims a tick only within the data epoch this replica knows,
// on the Redis process that epoch was stamped by: after Redis lost its
// data or restarted, no claim succeeds until the heartbeat has replaced
// the epoch and this replica has begun to wait. Without KEYS[2] it only
// checks (after taking the canary locks).
var claimScript = redis.NewScript(luaRunID + `
local e = redis.call('GET', KEYS[1])
if e ~= ARGV[1] or stamped_run_id(e) ~= server_run_id() then return -1 end
if #KEYS < 2 then return 1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0`)

func (c *Coordinator) acquire(ctx context.Context, id string, canaries []string, interval, timeout time.Duration, tick time.Time) (func(), string, error) {
	// After Redis lost its data, wait out any run of before: its lease
	// vanished with the data, and it stops within a lease, but its
	// clean-up may go on (the hold covers timeout and clean-up).
	hold := c.hold(timeout)
	c.mu.Lock()
	up, epoch, live := c.up, c.epoch, c.live
	settled := c.settledAt(canaries, hold)
	c.mu.Unlock()
	if !up || epoch == "" {
		return nil, schedule.SkipCoordinationDown, errRedisDown
	}
	if c.opts.Now().Before(settled) {
		c.report()
		return nil, schedule.SkipCoordinationDown, newDataError(settled)
	}
	if tick.IsZero() {
		// A run outside the schedule (run-now): no tick to claim, only the
		// canary, and only if it is free now.
		return c.lockCanaries(ctx, id, canaries, c.opts.Now(), epoch)
	}

	// Wait for our preference rank, counted from the tick, not from now.
	delay := time.Duration(Rank(id, c.opts.Replica, live)) * c.stagger(interval)
	if max := interval / 4; delay > max {
		delay = max
	}
	if !sleepUntil(ctx, c.opts.Now, tick.Add(delay)) {
		return nil, schedule.SkipNotLeader, ctx.Err()
	}
	if late := c.opts.Now().Sub(tick); late > interval {
		// The claim outlives the tick by two intervals; later than one
		// interval, the tick is someone else's or lost, never ours twice.
		return nil, schedule.SkipNotLeader, fmt.Errorf("redis coordination: tick %s is %s old", tick.Format(time.RFC3339Nano), late)
	}

	claim := c.key("tick", id, strconv.FormatInt(tick.UnixNano(), 10))
	cctx, cancel := context.WithTimeout(ctx, c.opts.Heartbeat)
	res, err := claimScript.Run(cctx, c.opts.Client, []string{c.key("epoch"), claim},
		epoch, c.opts.Replica, (2 * interval).Milliseconds()).Int()
	cancel()
	switch {
	case err != nil:
		c.setUp(false, err)
		return nil, schedule.SkipCoordinationDown, fmt.Errorf("redis coordination: claiming the tick: %w", err)
	case res < 0:
		return nil, schedule.SkipCoordinationDown, errors.New("redis coordination: Redis lost its state; waiting for the heartbeat")
	case res == 0:
		return nil, schedule.SkipNotLeader, nil
	}
	// The tick is ours. Wait for the canary up to the point where the run
	// would still end before the next tick (as the in-process coordinator).
	return c.lockCanaries(ctx, id, canaries, tick.Add(interval-timeout), epoch)
}

// lockCanaries takes the redsync mutex of every canary user, in the
// given (sorted) order so overlapping groups cannot deadlock, retrying
// each until deadline (at least one try), and returns their release.
// Once it holds them all it checks that Redis is still the one of epoch:
// a Redis restarted with old data during the wait would hand out a lock
// that a run in flight held before the restart.
func (c *Coordinator) lockCanaries(ctx context.Context, id string, canaries []string, deadline time.Time, epoch string) (func(), string, error) {
	var held []*redsync.Mutex
	for _, canary := range canaries {
		m := c.rs.NewMutex(c.key("canary", canary), redsync.WithExpiry(c.opts.Lease), redsync.WithTries(1))
		if skip, err := c.lockOne(ctx, m, deadline); skip != "" || err != nil {
			c.unlock(held)
			return nil, skip, err
		}
		held = append(held, m)
	}
	cctx, cancel := context.WithTimeout(ctx, c.opts.Heartbeat)
	res, err := claimScript.Run(cctx, c.opts.Client, []string{c.key("epoch")}, epoch).Int()
	cancel()
	if err != nil || res < 0 {
		c.unlock(held)
		if err != nil {
			c.setUp(false, err)
			return nil, schedule.SkipCoordinationDown, fmt.Errorf("redis coordination: checking the epoch: %w", err)
		}
		return nil, schedule.SkipCoordinationDown, errors.New("redis coordination: Redis lost its state or restarted while taking the canary; waiting for the heartbeat")
	}
	// Renew the leases while the run lasts.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.renew(ctx, id, held, stop)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			wg.Wait()
			c.unlock(held)
		})
	}, "", nil
}

// renew extends the canary leases every quarter lease until stop. When
// they cannot be renewed (Redis unreachable: retried; the lease gone or
// taken: at once) it stops the run (schedule.StopRun) a quarter lease
// before the first lease can end, so the run ends before another replica
// can take the canary. It logs once when renewals start failing and once
// when they work again, not at every attempt.
func (c *Coordinator) renew(ctx context.Context, id string, held []*redsync.Mutex, stop <-chan struct{}) {
	quarter := c.opts.Lease / 4
	t := time.NewTicker(quarter)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		deadline := leaseEnd(held).Add(-quarter)
		err := extend(held, deadline)
		if err == nil {
			if failing {
				failing = false
				c.opts.Logger.Info("canary lease renewed again", "backend", "redis", "probe", id)
			}
			continue
		}
		gone := errors.As(err, new(*redsync.ErrTaken)) || errors.Is(err, redsync.ErrExtendFailed)
		if !gone && time.Now().Before(deadline) {
			if !failing {
				failing = true
				c.opts.Logger.Warn("canary lease not renewed; retrying, and stopping the run if it is not renewed before "+deadline.Format(time.RFC3339Nano),
					"backend", "redis", "probe", id, "err", err)
			}
			continue
		}
		why := fmt.Errorf("%w (redis coordination, probe %s): %v", schedule.ErrLeaseLost, id, err)
		if gone {
			why = fmt.Errorf("%w (redis coordination, probe %s): the lease was gone from Redis (expired, taken, or Redis lost its data)", schedule.ErrLeaseLost, id)
		}
		c.opts.Logger.Error("canary lease lost; stopping the run before another replica can take the canary (its clean-up still runs)",
			"backend", "redis", "probe", id, "err", why)
		if f := schedule.StopRun(ctx); f != nil {
			f(why)
		}
		return
	}
}

// leaseEnd is when the first of the leases ends (redsync's validity,
// measured from before the request that set it, less clock drift).
func leaseEnd(held []*redsync.Mutex) time.Time {
	var end time.Time
	for i, m := range held {
		if u := m.Until(); i == 0 || u.Before(end) {
			end = u
		}
	}
	return end
}

// extend renews every lease, giving up at deadline.
func extend(held []*redsync.Mutex, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, m := range held {
		ok, err := m.ExtendContext(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return redsync.ErrExtendFailed
		}
	}
	return nil
}

// lockOne takes one mutex, retrying until deadline.
func (c *Coordinator) lockOne(ctx context.Context, m *redsync.Mutex, deadline time.Time) (string, error) {
	for {
		lctx, cancel := context.WithTimeout(ctx, c.opts.Heartbeat)
		err := m.TryLockContext(lctx)
		cancel()
		if err == nil {
			return "", nil
		}
		var taken *redsync.ErrTaken
		if !errors.As(err, &taken) && !errors.Is(err, redsync.ErrFailed) {
			c.setUp(false, err)
			return schedule.SkipCoordinationDown, fmt.Errorf("redis coordination: locking the canary: %w", err)
		}
		if !c.opts.Now().Add(c.opts.RetryDelay).Before(deadline) {
			return schedule.SkipCanaryBusy, nil
		}
		if !sleepUntil(ctx, c.opts.Now, c.opts.Now().Add(c.opts.RetryDelay)) {
			return schedule.SkipCanaryBusy, ctx.Err()
		}
	}
}

// unlock releases mutexes; one that expired by itself is no error.
func (c *Coordinator) unlock(held []*redsync.Mutex) {
	for _, m := range held {
		uctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := m.UnlockContext(uctx); err != nil && !errors.Is(err, redsync.ErrLockAlreadyExpired) {
			c.opts.Logger.Warn("canary lock not released; it expires by itself", "backend", "redis", "err", err)
		}
		cancel()
	}
}

func (c *Coordinator) stagger(interval time.Duration) time.Duration {
	if c.opts.Stagger > 0 {
		return c.opts.Stagger
	}
	s := interval / 20
	return min(max(s, 50*time.Millisecond), time.Second)
}

// Rank is replica's place in the preference order of probe id over the
// live replicas (0: preferred). Rendezvous (highest random weight)
// hashing: every replica computes the same order from the same set, each
// replica is preferred for about 1/n of the probes, and when a replica
// leaves, only its own probes change hands.
func Rank(id, replica string, live []string) int {
	mine := weight(id, replica)
	r := 0
	for _, o := range live {
		if o == replica {
			continue
		}
		if w := weight(id, o); w > mine || (w == mine && o < replica) {
			r++
		}
	}
	return r
}

func weight(id, replica string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(replica))
	// splitmix64 finaliser: FNV of strings that differ only at the end
	// is poorly mixed in its high bits.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func newEpoch() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
