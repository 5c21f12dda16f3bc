// Package daemon is `revprober run`: it loads the config, schedules the
// probes, serves /metrics, /-/healthy, /-/ready and /-/reload, and reloads
// on request. A bad config at reload keeps the old one running. Its HTTP
// surface (http.go, docs/security.md) goes through the exporter-toolkit's
// web config (TLS, client certificates, basic auth) and webguard (the Host
// names it answers to, same-origin state changes, a bounded refusal log).
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/metrics"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/internal/webguard"
)

// Options configure a daemon.
type Options struct {
	// Load reads and validates the config (called at start and reload).
	Load      func() (*config.Config, error)
	Logger    *slog.Logger
	Build     metrics.BuildInfo
	Recorders []schedule.Recorder
	// Coordinator spans replicas; nil is in-process only.
	Coordinator schedule.Coordinator
	// Replica names this process in run records.
	Replica string
	// Loaded, if set, sees every config that was loaded and applied (at
	// start and at each successful reload), with its compiled probes: the
	// evidence log takes each probe's interval and global.slo from it.
	Loaded func(cfg *config.Config, probes []*probe.Probe)
	// HTTP is the HTTP surface: listeners, web config files, names, limits.
	HTTP HTTPOptions
	// Clock and Run replace the scheduler's clock and run function
	// (tests); nil means the real ones.
	Clock clockwork.Clock
	Run   func(context.Context, *probe.Probe) *verdict.Run
}

// Daemon is a running prober.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	Registry *prometheus.Registry
	// Gatherer is what /metrics serves: Registry's families and the
	// per-probe families of Metrics.
	Gatherer prometheus.Gatherer
	Metrics  *metrics.Metrics
	Sched    *schedule.Scheduler
	// Mux holds the routes. The servers serve it through Handler (the
	// guard); register more routes before Serve.
	Mux *http.ServeMux
	// Backchannel receives OIDC back-channel logout tokens at
	// /backchannel-logout for the probes that set login.backchannel_logout_uri.
	Backchannel *backchannel.Receiver
	// Refusals logs (bounded) and counts every refused request; the
	// status page reports its own refusals (run now too soon, canary busy)
	// here too.
	Refusals *webguard.Refusals

	guard       *webguard.Guard
	reloadLimit *rate.Limiter
	reloadMu    sync.Mutex // one reload at a time (HTTP, SIGHUP)

	mu     sync.RWMutex
	cfg    *config.Config
	probes []*probe.Probe
	ready  bool
}

// New loads the config and prepares (but does not start) the daemon.
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.HTTP.setDefaults()
	if err := opts.HTTP.validate(); err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, log: opts.Logger, Registry: prometheus.NewRegistry(), Mux: http.NewServeMux()}
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.Metrics = metrics.New(d.Registry, opts.Build)
	d.Gatherer = d.Metrics.Gatherer(d.Registry)
	d.Refusals = webguard.NewRefusals(opts.Logger, 0, d.Metrics.Refused)
	d.Backchannel = backchannel.NewWithOptions(backchannel.Options{Refused: func(r *http.Request, reason, why string) {
		d.Refusals.Refuse(r, webguard.HandlerBackchannel, reason, "why", why)
	}})
	d.guard = opts.HTTP.newGuard(d.Refusals)
	d.reloadLimit = rate.NewLimiter(rate.Every(opts.HTTP.Limits.ReloadEvery), opts.HTTP.Limits.ReloadBurst)
	so := schedule.Options{
		Recorders:   append([]schedule.Recorder{schedule.RecorderFunc(d.Metrics.Observe)}, opts.Recorders...),
		Skipped:     func(t, e, r string) { d.Metrics.Skipped(t, e, metrics.SkipReason(r)) },
		Lag:         d.Metrics.ScheduleLag,
		Coordinator: opts.Coordinator,
		Replica:     opts.Replica,
		Logger:      opts.Logger,
		Run:         opts.Run,
	}
	if opts.Clock != nil {
		so.Now, so.GocronOption = opts.Clock.Now, []gocron.SchedulerOption{gocron.WithClock(opts.Clock)}
	}
	s, err := schedule.New(so)
	if err != nil {
		return nil, err
	}
	d.Sched = s
	if err := d.Reload(); err != nil {
		return nil, err
	}
	d.routes()
	return d, nil
}

// Reload loads the config again. On error the running config stays.
// Reloads run one at a time.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	err := d.reload()
	d.Metrics.ConfigReloaded(err == nil)
	if err != nil {
		d.log.Error("config reload failed; keeping the running config", "err", err)
	}
	return err
}

func (d *Daemon) reload() error {
	cfg, err := d.opts.Load()
	if err != nil {
		return err
	}
	probes, err := probe.Compile(cfg, d.log)
	if err != nil {
		return err
	}
	keys := make([]metrics.ProbeKey, 0, len(probes))
	for _, p := range probes {
		if p.BackchannelLogoutURI != "" {
			p.Backchannel = d.Backchannel
		}
		keys = append(keys, metrics.ProbeKey{Target: p.Target, Endpoint: p.Endpoint, Driver: p.Kind, Interval: p.Interval, Checks: p.PlannedChecks()})
	}
	// Series first: a run recorded right after Load finds them at zero.
	d.Metrics.SetProbes(keys)
	if err := d.Sched.Load(probes); err != nil {
		return err
	}
	d.mu.Lock()
	prev := d.cfg
	d.cfg, d.probes, d.ready = cfg, probes, true
	d.mu.Unlock()
	if d.opts.Loaded != nil {
		d.opts.Loaded(cfg, probes)
	}
	if prev != nil && prev.Path == cfg.Path && prev.Digest == cfg.Digest {
		// Applied all the same (a *_file secret may have been rotated),
		// but this file and its warnings are already in the log.
		d.log.Debug("config reloaded, file unchanged", "file", cfg.Path, "digest", cfg.Digest)
		return nil
	}
	d.log.Info("config loaded", "file", cfg.Path, "probes", len(probes), "digest", cfg.Digest)
	for _, w := range cfg.Warnings {
		d.log.Warn("config warning", "warning", w.Warning())
	}
	d.warnUnreachableBackchannel(probes)
	return nil
}

// Config returns the running config.
func (d *Daemon) Config() *config.Config {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cfg
}

// Probes returns the running probes.
func (d *Daemon) Probes() []*probe.Probe {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.probes
}

func (d *Daemon) routes() {
	if d.opts.HTTP.BackchannelListen == "" {
		d.Mux.Handle(backchannel.Path, d.Backchannel)
	}
	// gzip when the scraper accepts it (Prometheus does): a 10,000-probe
	// replica's exposition is about 9 MB plain, 0.3 MB compressed.
	d.Mux.Handle("GET /metrics", promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{Registry: d.Registry,
		OfferedCompressions: []promhttp.Compression{promhttp.Gzip}}))
	d.Mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	d.Mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		d.mu.RLock()
		ready := d.ready
		d.mu.RUnlock()
		if !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	d.Mux.HandleFunc("POST /-/reload", d.reloadHandler)
}

// reloadHandler is POST /-/reload, behind the guard (this daemon's Host
// names, same origin only). It is rate-limited: a reload re-reads and
// compiles everything, so a stream of requests must cost little (SIGHUP,
// the local way, is not limited). A failed reload's errors name files and
// values: they go to the log, and the caller learns only that it failed.
func (d *Daemon) reloadHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if res := d.reloadLimit.Reserve(); !res.OK() || res.Delay() > 0 {
		wait := res.Delay()
		res.Cancel()
		d.Refusals.Refuse(r, webguard.HandlerReload, webguard.RateLimited)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		http.Error(w, "too many reloads: try again later (or send the daemon SIGHUP)", http.StatusTooManyRequests)
		return
	}
	if err := d.Reload(); err != nil {
		http.Error(w, "reload failed: the previous configuration keeps running; the reason is in the prober's log", http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

// Record lets the daemon's own recorders see runs started elsewhere
// (the status page's run-now).
func (d *Daemon) Record(r *verdict.Run) {
	d.Metrics.Observe(r)
	for _, rec := range d.opts.Recorders {
		rec.Record(r)
	}
}
