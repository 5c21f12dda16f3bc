//go:build kubernetes

// Package kubecoord coordinates revprober replicas with a Kubernetes Lease,
// through client-go's leader election (no protocol of our own).
//
// One replica holds the Lease and runs every probe; the others stand by and
// skip their ticks as not_leader. This is high availability, not load
// spreading: use the Redis backend to share the probes among replicas. The
// leader keeps runs on one canary apart with the in-process canary lock
// (schedule.LocalCoordinator), which is enough because only the leader runs.
//
// Why a tick runs at most once: client-go's elector stops leading when it
// could not renew the Lease within RenewDeadline, which is shorter than the
// LeaseDuration another candidate must wait, without seeing a renewal,
// before it may take the Lease (New insists on a margin of more than a
// second: the Lease stores whole seconds). A replica runs a tick only while its
// leading context is alive, so two replicas never lead at the same time.
// Ticks that fall in the failover gap (at most LeaseDuration + RetryPeriod
// after the leader's last renewal) are not run; with ReleaseOnCancel a
// replica that shuts down cleanly hands the Lease over at once.
//
// Why a new leader waits before its first run: a leader that lost the
// Lease (a partition) stops starting runs, but a run it had started goes on
// for up to its timeout plus the clean-up. A new leader starting a run on
// the same canary meanwhile would have its tokens killed by the other
// run's revocation: a no-op endpoint could pass. So a replica runs a probe
// only once it has led for that probe's timeout plus the clean-up bound
// (Options.Holdoff). A leader that ran for a while keeps running at once.
//
// When the API server is unreachable (or RBAC refuses the Lease) the
// replica does not probe: Acquire skips with coordination_down, and the
// state callback and a log line say so.
//
// Build with -tags kubernetes; the default binary does not carry client-go.
package kubecoord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
)

// Options configure a Coordinator.
type Options struct {
	// Client talks to the API server; nil: in-cluster config, or $KUBECONFIG.
	Client kubernetes.Interface
	// Namespace of the Lease; default: the pod's namespace ($POD_NAMESPACE
	// or the service account's), else "default".
	Namespace string
	// LeaseName; default "revprober".
	LeaseName string
	// Replica is this candidate's identity (required, unique: the pod name).
	Replica string
	// Leader election timings; defaults 15 s, 10 s, 2 s (client-go's usual).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnState is called when the API server becomes reachable or not.
	OnState func(up bool)
	// Holdoff is how long a new leader waits before running a probe;
	// default: the probe's timeout plus probe.CleanupTimeout (see above).
	Holdoff time.Duration
	Logger  *slog.Logger
}

// Coordinator is the Kubernetes Lease backend of schedule.Coordinator.
type Coordinator struct {
	opts  Options
	local *schedule.LocalCoordinator
	lock  resourcelock.Interface

	mu      sync.Mutex
	up      bool
	known   bool
	leading context.Context // alive while this replica leads
	since   time.Time       // when this replica started leading
	// holds is, per canary key, the longest timeout of the loaded probes
	// that use it: the previous leader's run on that canary may have been
	// any of them (SetProbes).
	holds   map[string]time.Duration
	onState func(up bool)

	cancel context.CancelFunc
	done   chan struct{}
}

// New builds a coordinator; Start joins the election.
func New(opts Options) (*Coordinator, error) {
	if opts.Replica == "" {
		return nil, errors.New("kubernetes coordination: no replica name")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LeaseName == "" {
		opts.LeaseName = "revprober"
	}
	if opts.Namespace == "" {
		opts.Namespace = podNamespace()
	}
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.RenewDeadline <= 0 {
		opts.RenewDeadline = 10 * time.Second
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = 2 * time.Second
	}
	// The Lease records its duration in whole seconds and the renew time
	// at one-second precision, so a candidate may take a lapsed Lease up
	// to a second early: the leader must have stepped down by then.
	if opts.LeaseDuration.Truncate(time.Second)-time.Second <= opts.RenewDeadline {
		return nil, fmt.Errorf("kubernetes coordination: lease duration %s must exceed the renew deadline %s by more than a second (whole seconds)", opts.LeaseDuration, opts.RenewDeadline)
	}
	if opts.Client == nil {
		cfg, err := restConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes coordination: %w", err)
		}
		if opts.Client, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, fmt.Errorf("kubernetes coordination: %w", err)
		}
	}
	c := &Coordinator{opts: opts, local: schedule.NewLocalCoordinator(), onState: opts.OnState}
	c.lock = &observedLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.LeaseName},
		Client:     opts.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: opts.Replica},
	}, c: c}
	return c, nil
}

func restConfig() (*rest.Config, error) {
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		return clientcmd.BuildConfigFromFlags("", kc)
	}
	return nil, errors.New("not running in a cluster and $KUBECONFIG is not set")
}

func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "default"
}

// SetStateFunc sets the reachability callback and calls it with the
// current state if one is known.
func (c *Coordinator) SetStateFunc(f func(up bool)) {
	c.mu.Lock()
	c.onState = f
	up, known := c.up, c.known
	c.mu.Unlock()
	if f != nil && known {
		f(up)
	}
}

// Start joins the election in the background, and keeps rejoining after
// losing the Lease, until Close or ctx ends.
func (c *Coordinator) Start(ctx context.Context) error {
	ctx, c.cancel = context.WithCancel(ctx)
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(c.opts.Logger.Handler()))
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            c.lock,
		LeaseDuration:   c.opts.LeaseDuration,
		RenewDeadline:   c.opts.RenewDeadline,
		RetryPeriod:     c.opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            c.opts.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				c.mu.Lock()
				c.leading, c.since = lctx, time.Now()
				c.mu.Unlock()
				c.opts.Logger.Info("leading: this replica runs the probes", "backend", "kubernetes", "lease", c.opts.Namespace+"/"+c.opts.LeaseName, "replica", c.opts.Replica)
			},
			OnStoppedLeading: func() {
				c.mu.Lock()
				was := c.leading != nil
				c.leading = nil
				c.mu.Unlock()
				if was {
					c.opts.Logger.Warn("stopped leading: this replica stands by", "backend", "kubernetes", "replica", c.opts.Replica)
				}
			},
		},
	})
	if err != nil {
		c.cancel()
		return fmt.Errorf("kubernetes coordination: %w", err)
	}
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			le.Run(ctx) // returns when ctx ends or the Lease is lost
		}
	}()
	return nil
}

// Close leaves the election and releases the Lease if held, so a standby
// takes over without waiting for it to lapse.
func (c *Coordinator) Close() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	<-c.done
	return nil
}

// Leading reports whether this replica holds the Lease now.
func (c *Coordinator) Leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading != nil && c.leading.Err() == nil
}

// SetProbes implements schedule.ProbeSetter: it learns, per canary user,
// the longest timeout of the probes sharing it.
func (c *Coordinator) SetProbes(probes []*probe.Probe) {
	holds := map[string]time.Duration{}
	for _, p := range probes {
		for _, k := range p.CanaryKeys() {
			holds[k] = max(holds[k], p.Timeout)
		}
	}
	c.mu.Lock()
	c.holds = holds
	c.mu.Unlock()
}

// settled reports whether this replica has led long enough that no run a
// previous leader started on p's canaries can still be going: the longest
// timeout of the probes sharing one of p's canary users, plus the clean-up.
func (c *Coordinator) settled(p *probe.Probe) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	wait := c.opts.Holdoff
	if wait <= 0 {
		longest := p.Timeout
		for _, k := range p.CanaryKeys() {
			longest = max(longest, c.holds[k])
		}
		wait = longest + probe.CleanupTimeout
	}
	return time.Since(c.since) >= wait
}

// Up reports whether the API server answered the last Lease call.
func (c *Coordinator) Up() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

// Acquire implements schedule.Coordinator.
func (c *Coordinator) Acquire(ctx context.Context, p *probe.Probe, tick time.Time) (func(), string, error) {
	if !c.Up() {
		return nil, schedule.SkipCoordinationDown, errors.New("kubernetes coordination: the API server did not answer the last Lease call")
	}
	if !c.Leading() || !c.settled(p) {
		return nil, schedule.SkipNotLeader, nil
	}
	release, skip, err := c.local.Acquire(ctx, p, tick)
	if skip != "" || err != nil {
		return release, skip, err
	}
	if !c.Leading() { // lost the Lease while waiting for the canary
		release()
		return nil, schedule.SkipNotLeader, nil
	}
	return release, "", nil
}

// WhyRefused implements schedule.RefusalExplainer: the API unreachable, a
// standby, or a new leader's hand-over wait are not a busy canary.
func (c *Coordinator) WhyRefused(p *probe.Probe) error {
	switch {
	case !c.Up():
		return errors.New("kubernetes coordination: the Kubernetes API is unreachable")
	case !c.Leading():
		return errors.New("kubernetes coordination: this replica is a standby; the replica holding the Lease runs the probes (use its status page)")
	case !c.settled(p):
		return errors.New("kubernetes coordination: this replica became leader moments ago; a run of the previous leader may still use this canary")
	}
	return nil
}

// TryAcquire implements schedule.TryAcquirer (the status page's run-now):
// only the leader runs probes, so a standby refuses.
func (c *Coordinator) TryAcquire(p *probe.Probe) (func(), bool) {
	if !c.Up() || !c.Leading() || !c.settled(p) {
		return nil, false
	}
	return c.local.TryAcquire(p)
}

func (c *Coordinator) observe(err error) {
	up := err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	c.mu.Lock()
	changed := !c.known || c.up != up
	c.up, c.known = up, true
	f := c.onState
	c.mu.Unlock()
	if !changed {
		return
	}
	if up {
		c.opts.Logger.Info("coordination backend reachable", "backend", "kubernetes", "replica", c.opts.Replica)
	} else {
		c.opts.Logger.Error("coordination backend unreachable; this replica does not probe until it returns",
			"backend", "kubernetes", "replica", c.opts.Replica, "err", err)
	}
	if f != nil {
		f(up)
	}
}

// observedLock reports the outcome of every Lease call: that is how a
// replica knows the API server is reachable, leader or not.
type observedLock struct {
	resourcelock.Interface
	c *Coordinator
}

func (l *observedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r, b, err := l.Interface.Get(ctx)
	l.c.observe(err)
	return r, b, err
}

func (l *observedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, ler)
	l.c.observe(err)
	return err
}

func (l *observedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, ler)
	l.c.observe(err)
	return err
}
