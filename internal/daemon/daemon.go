// Package daemon is `revprober run`: it loads the config, schedules the
// probes, serves /metrics, /-/healthy, /-/ready and /-/reload, and reloads
// on request. A bad config at reload keeps the old one running.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/metrics"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/verdict"
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
}

// Daemon is a running prober.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	Registry *prometheus.Registry
	Metrics  *metrics.Metrics
	Sched    *schedule.Scheduler
	Mux      *http.ServeMux
	// Backchannel receives OIDC back-channel logout tokens at
	// /backchannel-logout for the probes that set login.backchannel_logout_uri.
	Backchannel *backchannel.Receiver

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
	d := &Daemon{opts: opts, log: opts.Logger, Registry: prometheus.NewRegistry(), Mux: http.NewServeMux(),
		Backchannel: backchannel.New()}
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.Metrics = metrics.New(d.Registry, opts.Build)
	recs := append([]schedule.Recorder{schedule.RecorderFunc(d.Metrics.Observe)}, opts.Recorders...)
	s, err := schedule.New(schedule.Options{
		Recorders:   recs,
		Skipped:     func(t, e, r string) { d.Metrics.Skipped(t, e, metrics.SkipReason(r)) },
		Coordinator: opts.Coordinator,
		Replica:     opts.Replica,
		Logger:      opts.Logger,
	})
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
func (d *Daemon) Reload() error {
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
	d.cfg, d.probes, d.ready = cfg, probes, true
	d.mu.Unlock()
	if d.opts.Loaded != nil {
		d.opts.Loaded(cfg, probes)
	}
	d.log.Info("config loaded", "file", cfg.Path, "probes", len(probes), "digest", cfg.Digest)
	for _, w := range cfg.Warnings {
		d.log.Warn("config warning", "warning", w.Warning())
	}
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
	d.Mux.Handle(backchannel.Path, d.Backchannel)
	d.Mux.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry}))
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
	d.Mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := d.Reload(); err != nil {
			http.Error(w, "reload failed, the previous config keeps running:\n"+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "reloaded")
	})
}

// Serve starts the scheduler and the HTTP server on listen and blocks
// until ctx ends. ready (if not nil) receives the bound address.
func (d *Daemon) Serve(ctx context.Context, listen string, ready chan<- string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	srv := &http.Server{Handler: d.Mux, ReadHeaderTimeout: 10 * time.Second}
	d.Sched.Start()
	d.log.Info("revprober serving", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	return d.Sched.Shutdown()
}

// Record lets the daemon's own recorders see runs started elsewhere
// (the status page's run-now).
func (d *Daemon) Record(r *verdict.Run) {
	d.Metrics.Observe(r)
	for _, rec := range d.opts.Recorders {
		rec.Record(r)
	}
}
