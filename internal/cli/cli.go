// Package cli is revprober's command line. Main returns the exit code, so
// tests drive the real commands without building a binary.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/coord"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/metrics"
	_ "github.com/revprober/revprober/probes/all" // every endpoint driver
)

// Exit codes of `once` and `demo --once`.
const (
	ExitPass   = 0
	ExitFail   = 1 // revocation not enforced somewhere
	ExitError  = 2 // some probe reached no verdict, none failed
	ExitConfig = 3 // bad usage or config
)

// Version and Revision are set at build time (-ldflags "-X …cli.Version=v1.2.3
// -X …cli.Revision=<git commit>"; the Makefile and the Dockerfile do).
// Without a Revision, the one Go stamped from VCS is used, if any.
var (
	Version  = "dev"
	Revision = ""
)

const usage = `revprober proves that revoking a user's sessions and tokens really works.

Usage:
  revprober run -c FILE                 run the probes on their schedules, serve /metrics and the status page
  revprober once -c FILE [flags]        run every selected probe once; exit 0 pass, 1 fail, 2 error, 3 bad config
  revprober demo [--once] [flags]       probe the built-in simulator (make demo)
  revprober check-config -c FILE        validate a config offline (--no-secrets: without them); exit 0 or 3
  revprober preflight -c FILE [flags]   log in and run the positive control of every probe, revoke nothing; exit 0, 2 or 3
  revprober idpsim --listen ADDR        serve the Janssen-compatible simulator (--users N: canary00001 …)
  revprober drivers                     list the revocation endpoint drivers
  revprober version

Run 'revprober COMMAND -h' for a command's flags.
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitConfig
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "once":
		return cmdOnce(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "idpsim":
		return cmdIdpsim(rest, stdout, stderr)
	case "drivers":
		return cmdDrivers(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "revprober", Version, revision())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if extra, ok := extraCommands[cmd]; ok {
		return extra(rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "revprober: unknown command %q\n\n%s", cmd, usage)
	return ExitConfig
}

// extraCommands lets other files of this package add commands (evidence).
var extraCommands = map[string]func(args []string, stdout, stderr io.Writer) int{}

func revision() string {
	if Revision != "" {
		return Revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func buildInfo() metrics.BuildInfo { return metrics.BuildInfo{Version: Version, Revision: revision()} }

// loadOptions checks drivers and their params at load time, and tells the
// config which params the drivers declare secret and what its warnings
// need to know of a driver.
func loadOptions() config.LoadOptions {
	return config.LoadOptions{
		CheckDriver: func(kind string, params map[string]string) error {
			_, err := driver.Build(kind, params)
			return err
		},
		SecretParam: driver.IsSecretParam,
		DriverFacts: func(kind string, params map[string]string) config.DriverFacts {
			info, _ := driver.Lookup(kind)
			f := config.DriverFacts{KeepsOfflineTokens: info.KeepsOfflineTokens, Doc: info.Doc}
			if d, err := driver.Build(kind, params); err == nil {
				f.Async = d.Profile().Async
			}
			return f
		},
	}
}

// printWarnings writes the config's warnings, one per line.
func printWarnings(w io.Writer, cfg *config.Config) {
	for _, fe := range cfg.Warnings {
		fmt.Fprintln(w, fe.Warning())
	}
}

func loadConfig(path string) (*config.Config, error) {
	return loadConfigWith(path, loadOptions())
}

func loadConfigWith(path string, opts config.LoadOptions) (*config.Config, error) {
	if path == "" {
		return nil, errors.New("no config file: use -c FILE")
	}
	return config.Load(path, opts)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("revprober "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(w io.Writer, level string, json bool) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check-config", stderr)
	path := fs.String("c", "", "config file")
	noSecrets := fs.Bool("no-secrets", false, "check the structure only: an unset ${VAR} or an unreadable *_file is a warning, not an error")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	opts := loadOptions()
	opts.NoSecrets = *noSecrets
	cfg, err := loadConfigWith(*path, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	printWarnings(stderr, cfg) // advice only: the exit code stays 0
	n := 0
	for _, t := range cfg.Targets {
		n += len(t.Endpoints)
	}
	only := ""
	if *noSecrets {
		only = ", structure only: secrets not checked"
	}
	fmt.Fprintf(stdout, "%s: OK, %d targets, %d probes (digest %s%s)\n", cfg.Path, len(cfg.Targets), n, cfg.Digest[:12], only)
	return 0
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("c", "", "config file")
	listen := fs.String("listen", "", "HTTP listen address (default: global.listen of the config)")
	web := addWebFlags(fs)
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "log as JSON")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	log := newLogger(stderr, *level, *logJSON)
	log.Debug("garbage collector target", "gogc", setDaemonGOGC(lookupEnv))
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	x, err := newDaemonExtras(cfg, log) // evidence log and status page
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	defer x.close()
	// Coordination is read at start; a reload does not switch backends.
	cb, err := coord.New(context.Background(), cfg.Coordination, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	defer cb.Close()
	web.Listen = *listen
	if web.Listen == "" {
		web.Listen = cfg.Global.Listen // read at start, like the coordination backend
	}
	d, err := daemon.New(daemon.Options{Load: func() (*config.Config, error) { return loadConfig(*path) }, Logger: log, Build: buildInfo(), Recorders: x.recorders(), Coordinator: cb.Coordinator, Replica: cb.Replica, Loaded: x.loaded, HTTP: *web})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	cb.Report(d.Metrics.SetCoordination)
	x.attach(d)
	return serveDaemon(d, log)
}

// serveDaemon runs d until SIGINT/SIGTERM; SIGHUP reloads the config.
func serveDaemon(d *daemon.Daemon, log *slog.Logger) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				_ = d.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := d.Serve(ctx, nil); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// cmdDrivers lists the drivers; --markdown prints the README's table of
// what each endpoint promises, straight from the drivers' own profiles.
func cmdDrivers(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("drivers", stderr)
	md := fs.Bool("markdown", false, "print a Markdown table of the drivers' expectation profiles")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	if !*md {
		for _, k := range driver.Kinds() {
			info, _ := driver.Lookup(k)
			fmt.Fprintf(stdout, "%-36s %s\n", k, info.Summary)
		}
		return 0
	}
	fmt.Fprint(stdout, driverTable())
	return 0
}

func driverTable() string {
	var b strings.Builder
	b.WriteString("| driver | endpoint | access token | refresh token | OP session | resource | async |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, k := range driver.Kinds() {
		info, _ := driver.Lookup(k)
		d, err := driver.Build(k, nil)
		if err != nil {
			continue
		}
		p := d.Profile()
		async := ""
		if p.Async {
			async = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", k, strings.ReplaceAll(info.Summary, "|", "\\|"),
			p.Expect("access_token"), p.Expect("refresh_token"), p.Expect("session"), p.Expect("resource"), async)
	}
	return b.String()
}

// addWebFlags adds the flags of the daemon's HTTP surface
// (docs/security.md), named as Prometheus exporters name theirs.
func addWebFlags(fs *flag.FlagSet) *daemon.HTTPOptions {
	o := &daemon.HTTPOptions{}
	fs.StringVar(&o.WebConfigFile, "web.config.file", "", "exporter-toolkit web configuration (TLS, client certificates, basic auth) for every endpoint of the listener; re-read on every request")
	fs.StringVar(&o.BackchannelListen, "web.backchannel-listen-address", "", "serve /backchannel-logout on this address only (for an identity provider that cannot authenticate to the main listener)")
	fs.StringVar(&o.BackchannelWebConfigFile, "web.backchannel-config.file", "", "web configuration (TLS) of the back-channel listener; basic_auth_users is refused")
	fs.Var((*multiFlag)(&o.AllowedHosts), "web.allowed-host", "a host name the status pages, /config, run now and /-/reload answer to, besides the listen address, the host name and loopback (repeatable)")
	fs.StringVar(&o.ExternalURL, "web.external-url", "", "the prober's URL behind a reverse proxy (https://prober.example.com/): its host is answered to and its origin may reload and run now")
	fs.IntVar(&o.Limits.MaxConnections, "web.max-connections", daemon.DefaultLimits.MaxConnections, "open connections per listener at most")
	return o
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
