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
//   - The canary lock. The replica that won the tick then takes a redsync
//     mutex on "<prefix>canary:<canary key>" (the same key for every probe that
//     logs in the same canary users), so at most one run at a time uses a
//     canary, across replicas. Its expiry outlasts the probe's timeout, it is
//     extended while the run lasts (clean-up may outlive the timeout) and it is
//     released when the run ends.
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
// resumes when a heartbeat succeeds again. If Redis came back empty (a
// restart without persistence, a fail-over to an empty replica), the canary
// locks held before are gone; the replica then waits for the longest probe
// timeout (plus clean-up) it knows before probing again, so runs started
// before the loss have ended.
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
	"sync"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
)

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
	// LockMargin is added to the probe timeout for the canary lock's
	// expiry; default 2 s.
	LockMargin time.Duration
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
	quarantine time.Time // no probing before this (Redis lost its state)
	live       []string  // live replicas, from the last heartbeat
	maxHold    time.Duration
	onState    func(up bool)

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
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 25 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
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

// SetStateFunc sets the reachability callback (the daemon's metrics exist
// only after the coordinator is built) and calls it with the current state
// if one is known.
func (c *Coordinator) SetStateFunc(f func(up bool)) {
	c.mu.Lock()
	c.onState = f
	up, known := c.up, c.known
	c.mu.Unlock()
	if f != nil && known {
		f(up)
	}
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

// beat refreshes this replica's liveness, reads the live set and checks
// that Redis still holds the data epoch seen before.
func (c *Coordinator) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Heartbeat)
	defer cancel()
	now := c.opts.Now()
	set := c.key("replicas")
	fresh := newEpoch()
	var live *redis.StringSliceCmd
	var epoch *redis.StringCmd
	_, err := c.opts.Client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, c.key("epoch"), fresh, 0)
		epoch = p.Get(ctx, c.key("epoch"))
		p.ZAdd(ctx, set, redis.Z{Score: float64(now.UnixMilli()), Member: c.opts.Replica})
		p.ZRemRangeByScore(ctx, set, "-inf", strconv.FormatInt(now.Add(-c.opts.ReplicaTTL).UnixMilli(), 10))
		live = p.ZRange(ctx, set, 0, -1)
		return nil
	})
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
	c.checkEpoch(epoch.Val())
	c.setUp(true, nil)
}

// checkEpoch notices that Redis lost its data (the epoch key changed) and
// holds probing back until every run started before can have ended.
func (c *Coordinator) checkEpoch(e string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e == "" || e == c.epoch {
		return
	}
	first := c.epoch == ""
	c.epoch = e
	if first {
		return
	}
	wait := c.maxHold
	c.quarantine = c.opts.Now().Add(wait)
	c.opts.Logger.Warn("coordination backend lost its state (Redis restarted empty?); not probing until runs started before have ended",
		"backend", "redis", "wait", wait)
}

// setUp records reachability, logs transitions and tells the callback.
func (c *Coordinator) setUp(up bool, err error) {
	c.mu.Lock()
	changed := !c.known || c.up != up
	c.up, c.known = up, true
	f := c.onState
	c.mu.Unlock()
	if !changed {
		return
	}
	if up {
		c.opts.Logger.Info("coordination backend reachable; probing", "backend", "redis", "replica", c.opts.Replica)
	} else {
		c.opts.Logger.Error("coordination backend unreachable; this replica does not probe until it returns",
			"backend", "redis", "replica", c.opts.Replica, "err", err)
	}
	if f != nil {
		f(up)
	}
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
	release, skip, err := c.acquire(context.Background(), p.ID(), p.CanaryKeys(), 0, p.Timeout, time.Time{})
	return release, skip == "" && err == nil
}

// claimScript claims a tick only within the data epoch this replica knows:
// after Redis lost its data, no claim succeeds until the heartbeat has
// seen the new epoch and the quarantine has begun.
var claimScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0`)

func (c *Coordinator) acquire(ctx context.Context, id string, canaries []string, interval, timeout time.Duration, tick time.Time) (func(), string, error) {
	// The lock outlives the whole run, clean-up included, even if no
	// extension gets through (a partition): it must not expire while the
	// run still uses the canary.
	hold := timeout + CleanupBound + c.opts.LockMargin
	c.mu.Lock()
	if hold > c.maxHold {
		c.maxHold = hold
	}
	up, epoch, quarantine, live := c.up, c.epoch, c.quarantine, c.live
	c.mu.Unlock()
	if !up || epoch == "" {
		return nil, schedule.SkipCoordinationDown, errors.New("redis coordination: Redis unreachable")
	}
	if c.opts.Now().Before(quarantine) {
		return nil, schedule.SkipCoordinationDown, fmt.Errorf("redis coordination: Redis lost its state; waiting until %s", quarantine.Format(time.RFC3339))
	}
	if tick.IsZero() {
		// A run outside the schedule (run-now): no tick to claim, only the
		// canary, and only if it is free now.
		return c.lockCanaries(ctx, canaries, hold, c.opts.Now())
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
	return c.lockCanaries(ctx, canaries, hold, tick.Add(interval-timeout))
}

// lockCanaries takes the redsync mutex of every canary user, in the
// given (sorted) order so overlapping groups cannot deadlock, retrying
// each until deadline (at least one try), and returns their release.
func (c *Coordinator) lockCanaries(ctx context.Context, canaries []string, hold time.Duration, deadline time.Time) (func(), string, error) {
	var held []*redsync.Mutex
	for _, canary := range canaries {
		m := c.rs.NewMutex(c.key("canary", canary), redsync.WithExpiry(hold), redsync.WithTries(1))
		if skip, err := c.lockOne(ctx, m, deadline); skip != "" || err != nil {
			c.unlock(held)
			return nil, skip, err
		}
		held = append(held, m)
	}
	// Keep the locks while the run lasts.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(hold / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, m := range held {
					ectx, cancel := context.WithTimeout(context.Background(), hold/3)
					ok, err := m.ExtendContext(ectx)
					cancel()
					if !ok || err != nil {
						c.opts.Logger.Warn("canary lock could not be extended; it still holds until the run's timeout and clean-up have passed",
							"backend", "redis", "err", err)
					}
				}
			}
		}
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
