package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/daemon"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/idpsim"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr)
	once := fs.Bool("once", false, "run every probe once and exit (like `once`)")
	listen := fs.String("listen", "127.0.0.1:9543", "HTTP listen address of the prober (metrics, status page)")
	simListen := fs.String("sim-listen", "127.0.0.1:0", "listen address of the simulator")
	deadline := fs.Duration("deadline", 5*time.Second, "propagation deadline of every demo probe (the Auth0 and Entra emulations revoke after 300 ms and 500 ms)")
	web := addWebFlags(fs)
	hold := fs.Duration("hold", 250*time.Millisecond, "how long every dead artifact must stay dead (deadline + hold < the demo's 10s timeout)")
	var faults multiFlag
	fs.Var(&faults, "fault", "simulator fault, repeatable: "+fmt.Sprint(idpsim.FaultNames)+" (delay=DURATION, slow=DURATION, resurrect=DURATION)")
	var o onceOptions
	fs.StringVar(&o.endpoint, "endpoint", "", "only this endpoint (with --once)")
	fs.BoolVar(&o.json, "json", false, "print one JSON document (with --once)")
	fs.IntVar(&o.parallel, "parallel", 0, "with --once, probe at most `N` canaries at a time (0: all)")
	addOnceOutputs(fs, &o)
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	sim, f, code := startSim(*simListen, faults, idpsim.DefaultCanaries, stderr) // one canary per demo probe
	if sim == nil {
		return code
	}
	defer sim.Close()
	params := demo.Params{SimURL: sim.URL, Listen: *listen, Deadline: deadline.String(), Hold: hold.String()}
	cfg, err := demo.Config(params, loadOptions())
	if err != nil {
		fmt.Fprintln(stderr, "the built-in demo config is invalid (a bug):", err)
		return ExitConfig
	}
	if *once {
		printWarnings(stderr, cfg) // the daemon logs them itself
		return runOnce(cfg, o, stdout, stderr)
	}
	log := newLogger(stderr, "info", false)
	x, err := newDaemonExtras(cfg, log) // status page (and evidence, if configured)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	defer x.close()
	web.Listen = *listen
	d, err := daemon.New(daemon.Options{Load: func() (*config.Config, error) { return demo.Config(params, loadOptions()) }, Logger: log, Build: buildInfo(), Recorders: x.recorders(), Loaded: x.loaded, HTTP: *web})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	x.attach(d)
	// The simulator's fault switch, so a demo can be broken on purpose.
	d.Mux.Handle("/_sim/", sim.Server)
	fmt.Fprintf(stderr, "simulator at %s (faults: %v); status page at http://%s/ and metrics at http://%s/metrics; switch faults with\n  curl -X PUT -d '{\"faults\":[\"ignore-revocation\"]}' http://%s/_sim/faults\n", sim.URL, f.Names(), *listen, *listen, *listen)
	return serveDaemon(d, log)
}

func cmdIdpsim(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("idpsim", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address")
	var faults multiFlag
	fs.Var(&faults, "fault", "fault to switch on, repeatable: "+fmt.Sprint(idpsim.FaultNames)+" (delay=DURATION, slow=DURATION, resurrect=DURATION)")
	printConfig := fs.Bool("print-config", false, "print a ready revprober config for the simulator at --listen (its clients, users and passwords) and exit")
	users := fs.Int("users", idpsim.DefaultCanaries, "generated canary users besides canary01 and canary02: canary00001 … with password canary-password-00001 … (the number zero-padded to 5 digits, wider past 99999); mail canaryN@example.com, inum CANARYN")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	if *users < 0 {
		fmt.Fprintln(stderr, "--users: give 0 or more canaries")
		return ExitConfig
	}
	if *printConfig {
		return printSimConfig(*listen, *users, stdout, stderr)
	}
	sim, _, code := startSim(*listen, faults, *users, stderr)
	if sim == nil {
		return code
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "simulator listening on %s (issuer %s/jans-auth, %d users)\n", sim.URL, sim.URL, len(sim.Server.Users()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}

// startSim parses the --fault flags and starts the simulator with that many
// generated canaries (0: the default); on error it says why and returns the
// exit code.
func startSim(listen string, faults []string, canaries int, stderr io.Writer) (*demo.Sim, idpsim.Faults, int) {
	f, err := idpsim.ParseFaults(faults)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, f, ExitConfig
	}
	sim, err := demo.StartSimWith(listen, idpsim.Options{Faults: f, Canaries: simCanaries(canaries)})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, f, 1
	}
	return sim, f, 0
}

// simCanaries turns --users into idpsim.Options.Canaries, whose 0 means
// the default.
func simCanaries(users int) int {
	if users == 0 {
		return -1
	}
	return users
}

// printSimConfig prints a ready config for a simulator served at listen,
// built from the data of a simulator made as `idpsim --users` makes it.
func printSimConfig(listen string, users int, stdout, stderr io.Writer) int {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" || port == "" {
		fmt.Fprintf(stderr, "--listen %q: give the simulator's fixed host:port\n", listen)
		return ExitConfig
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every address: reach it on loopback
	}
	y, err := demo.SimConfig(idpsim.New(idpsim.Options{Canaries: simCanaries(users)}), "http://"+net.JoinHostPort(host, port))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	_, _ = stdout.Write(y)
	return 0
}
