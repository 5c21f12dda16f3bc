package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"
	"gopkg.in/yaml.v3"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/schedule"
	"github.com/revprober/revprober/internal/webguard"
)

// HTTPOptions are the daemon's HTTP surface (docs/security.md).
type HTTPOptions struct {
	// Listen is the main listener's address (global.listen, or --listen).
	Listen string
	// WebConfigFile is an exporter-toolkit web configuration
	// (--web.config.file): TLS, client certificates and basic auth for
	// every route of the main listener. Empty: plain HTTP, no auth.
	WebConfigFile string
	// BackchannelListen, when set, serves /backchannel-logout on a
	// listener of its own, and only there: an identity provider cannot
	// send the main listener's basic auth or client certificate, and a
	// logout token authenticates itself (a signed JWT).
	BackchannelListen string
	// BackchannelWebConfigFile is that listener's web configuration
	// (TLS). It must not require basic auth.
	BackchannelWebConfigFile string
	// AllowedHosts are host names the daemon answers to besides
	// webguard.DefaultHosts(Listen) (--web.allowed-host).
	AllowedHosts []string
	// ExternalURL is the daemon's URL as browsers reach it through a
	// reverse proxy (--web.external-url): its host is answered to and its
	// origin may change state.
	ExternalURL string
	Limits      Limits
}

// Limits bound what one client can hold of the HTTP servers.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's header (slowloris);
	// ReadTimeout the whole request, body included (every body the daemon
	// reads is small).
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds writing an answer: a /metrics page of 10,000
	// probes takes seconds, and run now, which waits for its run, extends
	// its own deadline to the probe's timeout.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends nothing.
	IdleTimeout time.Duration
	// MaxConnections bounds the open connections per listener; more wait
	// in the kernel's accept queue.
	MaxConnections int
	// ReloadEvery and ReloadBurst rate-limit POST /-/reload.
	ReloadEvery time.Duration
	ReloadBurst int
}

// DefaultLimits are the limits unless set.
var DefaultLimits = Limits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
	WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxConnections: 256,
	ReloadEvery: 5 * time.Second, ReloadBurst: 2}

func (o *HTTPOptions) setDefaults() {
	l, def := &o.Limits, DefaultLimits
	for _, f := range []struct{ v, d *time.Duration }{{&l.ReadHeaderTimeout, &def.ReadHeaderTimeout},
		{&l.ReadTimeout, &def.ReadTimeout}, {&l.WriteTimeout, &def.WriteTimeout}, {&l.IdleTimeout, &def.IdleTimeout},
		{&l.ReloadEvery, &def.ReloadEvery}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = def.MaxConnections
	}
	if l.ReloadBurst <= 0 {
		l.ReloadBurst = def.ReloadBurst
	}
}

// validate checks the web config files with the toolkit (certificates
// readable, bcrypt hashes valid) before anything starts, and that the
// back-channel listener asks for nothing an identity provider cannot send.
func (o *HTTPOptions) validate() error {
	if err := web.Validate(o.WebConfigFile); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", o.WebConfigFile, err)
	}
	if o.BackchannelWebConfigFile != "" && o.BackchannelListen == "" {
		return errors.New("--web.backchannel-config.file needs --web.backchannel-listen-address")
	}
	if err := web.Validate(o.BackchannelWebConfigFile); err != nil {
		return fmt.Errorf("--web.backchannel-config.file %s: %w", o.BackchannelWebConfigFile, err)
	}
	if users, _, err := webAuth(o.BackchannelWebConfigFile); err != nil || users {
		if err == nil {
			err = errors.New("basic_auth_users: an identity provider cannot send basic auth to the back-channel logout endpoint (logout tokens are signed, they authenticate themselves)")
		}
		return fmt.Errorf("--web.backchannel-config.file %s: %w", o.BackchannelWebConfigFile, err)
	}
	if o.ExternalURL != "" {
		if u, err := url.Parse(o.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--web.external-url %q: want an http:// or https:// URL", o.ExternalURL)
		}
	}
	return nil
}

// webAuth says what a web config file asks of every client: basic auth,
// a client certificate (the toolkit does not export its parsed config).
func webAuth(file string) (users, clientCert bool, err error) {
	if file == "" {
		return false, false, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false, false, err
	}
	var c struct {
		Users map[string]string `yaml:"basic_auth_users"`
		TLS   struct {
			ClientAuth string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return false, false, err
	}
	return len(c.Users) > 0, strings.HasPrefix(c.TLS.ClientAuth, "Require"), nil
}

// openPaths answer any Host and origin: what Prometheus and Kubernetes
// reach by IP address, and the back-channel receiver (the IdP posts from
// its servers to whatever URL was registered).
var openPaths = []string{"/metrics", "/-/healthy", "/-/ready", backchannel.Path}

func (o *HTTPOptions) newGuard(refusals *webguard.Refusals) *webguard.Guard {
	hosts := append(webguard.DefaultHosts(o.Listen), o.AllowedHosts...)
	var ext *url.URL
	if o.ExternalURL != "" {
		ext, _ = url.Parse(o.ExternalURL) // validated
	}
	return webguard.New(webguard.Options{Hosts: webguard.NewHosts(hosts...), ExternalURL: ext, Open: openPaths,
		Handler: handlerName, Refusals: refusals})
}

// handlerName labels a refused request's route (a closed list).
func handlerName(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/-/reload":
		return webguard.HandlerReload
	case strings.HasPrefix(p, "/probes/") && strings.HasSuffix(p, "/run"):
		return webguard.HandlerRunNow
	case p == backchannel.Path:
		return webguard.HandlerBackchannel
	case p == "/" || p == "/config" || strings.HasPrefix(p, "/runs/") || strings.HasPrefix(p, "/probes/"):
		return webguard.HandlerStatus
	}
	return webguard.HandlerOther
}

// Handler is what the main listener serves: the routes behind the guard.
func (d *Daemon) Handler() http.Handler { return d.guard.Wrap(d.Mux) }

// warnUnreachableBackchannel logs, at every config change, a probe whose
// identity provider could not deliver a logout token: it would fail for
// want of a notification the prober itself turned away.
func (d *Daemon) warnUnreachableBackchannel(probes []*probe.Probe) {
	if d.opts.HTTP.BackchannelListen != "" {
		return
	}
	users, cert, _ := webAuth(d.opts.HTTP.WebConfigFile)
	if !users && !cert {
		return
	}
	for _, p := range probes {
		if p.BackchannelLogoutURI != "" {
			d.log.Warn("back-channel logout tokens cannot reach the prober: --web.config.file requires basic auth or a client "+
				"certificate on every route of the main listener; serve /backchannel-logout on its own listener "+
				"(--web.backchannel-listen-address)", "probe", p.ID(), "backchannel_logout_uri", p.BackchannelLogoutURI)
			return
		}
	}
}

// Serve starts the scheduler and the HTTP servers (the main listener and,
// if configured, the back-channel one) and blocks until ctx ends. ready
// (if not nil) receives the main listener's bound address.
//
// Each listener goes through the exporter-toolkit's web.Serve with its web
// config file, as Prometheus exporters do: TLS, client certificates and
// basic auth are the toolkit's, re-read on every connection or request.
func (d *Daemon) Serve(ctx context.Context, ready chan<- string) error {
	h := d.opts.HTTP
	type listener struct {
		ln   net.Listener
		srv  *http.Server
		file string
	}
	var ls []listener
	defer func() {
		for _, l := range ls {
			_ = l.ln.Close()
		}
	}()
	listen := func(addr, file string, handler http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		ls = append(ls, listener{ln: netutil.LimitListener(ln, h.Limits.MaxConnections), srv: d.server(handler), file: file})
		return nil
	}
	if err := listen(h.Listen, h.WebConfigFile, d.Handler()); err != nil {
		return err
	}
	if h.BackchannelListen != "" {
		mux := http.NewServeMux()
		mux.Handle(backchannel.Path, d.Backchannel)
		if err := listen(h.BackchannelListen, h.BackchannelWebConfigFile, mux); err != nil {
			return err
		}
	}
	d.Sched.Start()
	d.log.Info("revprober serving", "addr", ls[0].ln.Addr().String(), "tls_and_auth", h.WebConfigFile != "")
	if h.BackchannelListen != "" {
		d.log.Info("back-channel logout receiver serving", "addr", ls[1].ln.Addr().String(), "path", backchannel.Path)
	}
	if ready != nil {
		ready <- ls[0].ln.Addr().String()
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		no := false
		flags := &web.FlagConfig{WebListenAddresses: &[]string{l.ln.Addr().String()}, WebSystemdSocket: &no, WebConfigFile: &l.file}
		go func() { errc <- web.Serve(l.ln, l.srv, flags, d.log) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	// The runs under way first, while /metrics still answers: each is
	// interrupted, revokes what it issued and is recorded (reason
	// interrupted). Then the listeners. All within schedule.ShutdownGrace.
	shutCtx, cancel := context.WithTimeout(context.Background(), schedule.ShutdownGrace)
	defer cancel()
	if err := d.Sched.Shutdown(); serveErr == nil {
		serveErr = err
	}
	for _, l := range ls {
		_ = l.srv.Shutdown(shutCtx)
	}
	return serveErr
}

// server is an http.Server with the daemon's limits. Its own error log
// (TLS handshake failures, malformed requests: one line per bad
// connection, which anyone can cause) goes to the debug level.
func (d *Daemon) server(h http.Handler) *http.Server {
	l := d.opts.HTTP.Limits
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
}
