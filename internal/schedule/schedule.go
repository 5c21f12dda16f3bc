// Package schedule runs probes on their intervals with gocron: one job per
// probe, no overlap (a tick that finds the previous run still going is
// skipped and counted; our own flag per probe, not gocron's singleton mode,
// which keeps a goroutine and a 1000-slot queue per job once it has run), a deterministic start offset per probe so restarts
// do not bunch probes together, and at most one run at a time per canary.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// Skip reasons, the closed list of the skipped-runs counter.
const (
	SkipOverlap          = "overlap"           // the previous run of this probe was still running
	SkipCanaryBusy       = "canary_busy"       // another probe held the canary for too long
	SkipNotLeader        = "not_leader"        // another replica owns this tick
	SkipCoordinationDown = "coordination_down" // the coordination backend is unreachable
)

// Recorder receives every finished run (metrics, evidence, status page).
type Recorder interface {
	Record(*verdict.Run)
}

// Coordinator decides whether this replica runs a tick and keeps runs on
// one canary apart. The default is in-process; the Redis and Kubernetes
// backends span replicas.
type Coordinator interface {
	// Acquire blocks until this replica holds the canary for the tick, or
	// returns a skip reason. release must be called after the run.
	Acquire(ctx context.Context, p *probe.Probe, tick time.Time) (release func(), skip string, err error)
}

// ProbeSetter is a Coordinator that wants to know every loaded probe:
// Load tells it, at start and at each reload, before scheduling them.
// (The Redis coordinator sizes its wait after Redis lost its data from the
// timeouts of the probes sharing each canary user.)
type ProbeSetter interface {
	SetProbes(probes []*probe.Probe)
}

// Options configure a Scheduler.
type Options struct {
	Recorders []Recorder
	Skipped   func(target, endpoint, reason string)
	// Lag, when set, receives each scheduled tick's lag: the time from the
	// tick on the probe's grid to the moment gocron handed it over (before
	// the canary is taken: waiting on a shared canary is a skip, not lag).
	// It grows when the replica is overloaded.
	Lag         func(time.Duration)
	Coordinator Coordinator // nil: LocalCoordinator
	// Replica names this process in run records.
	Replica string
	Logger  *slog.Logger
	// Run is the run function; nil is probe.Run (tests inject their own).
	Run func(context.Context, *probe.Probe) *verdict.Run
	// Now and the scheduler options let tests use a fake clock.
	Now          func() time.Time
	GocronOption []gocron.SchedulerOption
}

// Scheduler owns the gocron scheduler and the probes' jobs.
type Scheduler struct {
	opts Options
	cron gocron.Scheduler
	mu   sync.Mutex
	jobs map[string]gocron.Job // probe id → job
	// probes are the loaded probes by id. A job looks its probe up here at
	// each tick, so a reload that keeps a probe's schedule swaps the probe
	// without touching the job.
	probes map[string]*probe.Probe
	// running holds, per probe id, whether a scheduled run is in flight.
	// It outlives reloads, so a run of the old config still counts.
	running sync.Map // probe id → *atomic.Bool
	ctx     context.Context
	cancel  context.CancelCauseFunc
	// clockJob looks for steps of the wall clock (clockstep.go); lastCheck
	// is its previous reading. Both under mu.
	clockJob  gocron.Job
	lastCheck time.Time
}

// ErrShuttingDown is the cause of the runs Shutdown interrupts: their
// records say so (reason interrupted).
var ErrShuttingDown = errors.New("revprober is shutting down")

// ShutdownGrace bounds how long Shutdown waits for the runs it
// interrupted: each still revokes what it issued (probe.CleanupTimeout,
// shorter) and is recorded. A daemon exits within this grace after
// SIGTERM; give its container at least as long (terminationGracePeriodSeconds).
const ShutdownGrace = 15 * time.Second

// New creates a stopped scheduler.
func New(opts Options) (*Scheduler, error) {
	if opts.Run == nil {
		opts.Run = probe.Run
	}
	if opts.Coordinator == nil {
		opts.Coordinator = NewLocalCoordinator()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Scheduler{opts: opts, jobs: map[string]gocron.Job{}, probes: map[string]*probe.Probe{}}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	cron, err := gocron.NewScheduler(append([]gocron.SchedulerOption{gocron.WithStopTimeout(ShutdownGrace)}, opts.GocronOption...)...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.cron = cron
	return s, nil
}

// Offset is the probe's deterministic start offset within its interval:
// a hash of its id, so a restart keeps the spread and 10,000 probes do not
// all start at second zero.
func Offset(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// TickAt is the tick a run at now belongs to: ticks sit at
// k·interval + offset in Unix time, the same on every replica and after
// every restart, which is what lets replicas agree on "this tick".
func TickAt(now time.Time, id string, interval time.Duration) time.Time {
	off := int64(Offset(id, interval))
	n := now.UnixNano() - off
	k := n / int64(interval)
	if n < 0 && n%int64(interval) != 0 {
		k-- // floor, not truncation toward zero
	}
	return time.Unix(0, k*int64(interval)+off)
}

// FirstTick is the first tick at or after now.
func FirstTick(now time.Time, id string, interval time.Duration) time.Time {
	t := TickAt(now, id, interval)
	if t.Before(now) {
		t = t.Add(interval)
	}
	return t
}

// startMargin keeps a first tick from falling into the past between
// computing it and handing it to gocron.
const startMargin = 50 * time.Millisecond

// Load applies the probes, at startup and at every reload. A probe whose
// schedule is unchanged (same id, same interval) keeps its job: its next
// tick is neither lost nor delayed, however often the config is reloaded
// (the job runs whatever probe is loaded under its id when it fires). A new
// probe, or one whose interval changed, gets a job whose first tick is the
// next one on its grid; a removed probe loses its job.
//
// Re-creating every job instead, as an earlier version did, re-planned each
// probe from "now + startMargin": a reload less than startMargin before a
// tick, or while gocron was handing the tick to its executor, dropped that
// tick, and a stream of reloads stopped every probe.
func (s *Scheduler) Load(probes []*probe.Probe) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*probe.Probe, len(probes))
	// One ID string per probe, shared by the maps, the job and its name
	// (each p.ID() is a new string: at 10,000 probes, copies add up).
	ids := make([]string, len(probes))
	for i, p := range probes {
		ids[i] = p.ID()
		next[ids[i]] = p
	}
	for id, j := range s.jobs {
		if p, ok := next[id]; ok && p.Interval == s.probes[id].Interval {
			continue
		}
		if err := s.cron.RemoveJob(j.ID()); err != nil {
			return fmt.Errorf("removing job %s: %w", id, err)
		}
		delete(s.jobs, id)
	}
	s.probes = next
	if ps, ok := s.opts.Coordinator.(ProbeSetter); ok {
		ps.SetProbes(probes)
	}
	for i, p := range probes {
		if _, ok := s.jobs[ids[i]]; ok {
			continue
		}
		if err := s.addJob(ids[i], p); err != nil {
			return err
		}
	}
	return nil
}

// addJob schedules p, whose ID is id, from its next tick on the grid.
// Callers hold s.mu.
func (s *Scheduler) addJob(id string, p *probe.Probe) error {
	// Per probe, with a margin: loading 10,000 probes takes long
	// enough that a start computed once up front is in the past for
	// the last ones, and gocron refuses a start in the past.
	start := FirstTick(s.opts.Now().Add(startMargin), id, p.Interval)
	j, err := s.cron.NewJob(
		gocron.DurationJob(p.Interval),
		gocron.NewTask(func() { s.tick(id) }),
		gocron.WithName(id),
		gocron.WithStartAt(gocron.WithStartDateTime(start)),
	)
	if err != nil {
		return fmt.Errorf("scheduling %s: %w", id, err)
	}
	s.jobs[id] = j
	return nil
}

// Start starts the scheduler, and its watch for steps of the wall clock.
func (s *Scheduler) Start() {
	s.mu.Lock()
	if err := s.startClockCheck(); err != nil {
		s.opts.Logger.Error("the wall clock's steps will go unnoticed", "err", err)
	}
	s.mu.Unlock()
	s.cron.Start()
}

// Shutdown stops scheduling, interrupts the runs under way (each cleans
// up and is recorded, reason interrupted) and waits for them, at most
// ShutdownGrace.
func (s *Scheduler) Shutdown() error {
	s.cancel(ErrShuttingDown)
	return s.cron.Shutdown()
}

// tick is one scheduled run. The tick time is the run's slot: replicas
// agree on it, which is what lets coordination run each tick once.
func (s *Scheduler) tick(id string) {
	now := s.opts.Now()
	p := s.Probe(id)
	if p == nil {
		return // removed by a reload while gocron was handing over the tick
	}
	// gocron fires a little after the slot; the slot is the tick.
	tick := TickAt(now.Add(p.Interval/100), p.ID(), p.Interval)
	if s.opts.Lag != nil {
		s.opts.Lag(now.Sub(tick))
	}
	flag, _ := s.running.LoadOrStore(id, new(atomic.Bool))
	busy := flag.(*atomic.Bool)
	if !busy.CompareAndSwap(false, true) {
		s.skipped(p, SkipOverlap)
		return
	}
	defer busy.Store(false)
	_, skip, err := s.RunOnce(s.ctx, p, tick)
	switch {
	case err != nil && skip != "":
		// A skip's streak is logged once by the skip recorders (the status
		// page), and the coordinator logs its own state changes: a line per
		// probe per tick would be 10,000 lines a minute during an outage.
		s.opts.Logger.Debug("probe not run", "probe", p.ID(), "reason", skip, "err", err)
	case err != nil:
		s.opts.Logger.Warn("probe not run", "probe", p.ID(), "err", err)
	}
	if skip != "" {
		s.skipped(p, skip)
	}
}

// ErrBusy is returned by RunNow when the canary is in use.
var ErrBusy = errors.New("the canary is in use by another run")

// RunOnce runs p now under the coordinator, records the run and returns
// it; or returns the skip reason when it did not run.
func (s *Scheduler) RunOnce(ctx context.Context, p *probe.Probe, tick time.Time) (*verdict.Run, string, error) {
	runCtx, stop := runContext(ctx)
	defer stop(nil)
	release, skip, err := s.opts.Coordinator.Acquire(runCtx, p, tick)
	if skip != "" || err != nil {
		return nil, skip, err
	}
	defer release()
	run := s.opts.Run(runCtx, p)
	// A run cut short by shutdown is recorded all the same (its reason is
	// interrupted, not an IdP error): it may have revoked the canary, and
	// the evidence must account for every revocation the prober made.
	leaseLost(runCtx, run)
	run.Replica = s.opts.Replica
	if !tick.IsZero() {
		run.Tick = &tick
	}
	for _, r := range s.opts.Recorders {
		r.Record(run)
	}
	s.opts.Logger.Info("probe run", "probe", p.ID(), "run_id", run.ID, "result", run.Result, "reason", run.Reason, "duration", run.Duration.Round(time.Millisecond))
	return run, "", nil
}

// Probe finds a loaded probe by id.
func (s *Scheduler) Probe(id string) *probe.Probe {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes[id]
}

// LocalCoordinator keeps runs on one canary apart within this process. A
// run waits for its canaries up to the probe's interval minus its timeout,
// then gives up the tick as canary_busy.
type LocalCoordinator struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

// NewLocalCoordinator returns an in-process coordinator.
func NewLocalCoordinator() *LocalCoordinator {
	return &LocalCoordinator{locks: map[string]chan struct{}{}}
}

func (l *LocalCoordinator) sem(key string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.locks[key]
	if !ok {
		c = make(chan struct{}, 1)
		l.locks[key] = c
	}
	return c
}

// releaseAll frees the semaphores taken so far.
func releaseAll(sems []chan struct{}) func() {
	return func() {
		for _, s := range sems {
			<-s
		}
	}
}

// Acquire implements Coordinator. It takes one semaphore per canary user,
// in the probe's key order (so overlapping groups cannot deadlock).
func (l *LocalCoordinator) Acquire(ctx context.Context, p *probe.Probe, _ time.Time) (func(), string, error) {
	wait := p.Interval - p.Timeout
	if wait <= 0 {
		wait = time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	var held []chan struct{}
	for _, key := range p.CanaryKeys() {
		sem := l.sem(key)
		select {
		case sem <- struct{}{}:
			held = append(held, sem)
		case <-t.C:
			releaseAll(held)()
			return nil, SkipCanaryBusy, nil
		case <-ctx.Done():
			releaseAll(held)()
			return nil, SkipCanaryBusy, ctx.Err()
		}
	}
	return releaseAll(held), "", nil
}

// TryAcquire takes the canaries only if they are all free (the status
// page's run-now button must not queue behind a running probe).
func (l *LocalCoordinator) TryAcquire(p *probe.Probe) (func(), bool) {
	var held []chan struct{}
	for _, key := range p.CanaryKeys() {
		sem := l.sem(key)
		select {
		case sem <- struct{}{}:
			held = append(held, sem)
		default:
			releaseAll(held)()
			return nil, false
		}
	}
	return releaseAll(held), true
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(*verdict.Run)

// Record implements Recorder.
func (f RecorderFunc) Record(r *verdict.Run) { f(r) }
