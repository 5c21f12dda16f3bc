package cli

import (
	"context"
	"fmt"
	"io"
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
	hold := fs.Duration("hold", time.Second, "how long every dead artifact must stay dead (deadline + hold < the demo's 10s timeout)")
	var faults multiFlag
	fs.Var(&faults, "fault", "simulator fault, repeatable: "+fmt.Sprint(idpsim.FaultNames)+" (delay=DURATION, slow=DURATION, resurrect=DURATION)")
	var o onceOptions
	fs.StringVar(&o.endpoint, "endpoint", "", "only this endpoint (with --once)")
	fs.BoolVar(&o.json, "json", false, "print one JSON document (with --once)")
	addOnceOutputs(fs, &o)
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	sim, f, code := startSim(*simListen, faults, stderr)
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
	d, err := daemon.New(daemon.Options{Load: func() (*config.Config, error) { return demo.Config(params, loadOptions()) }, Logger: log, Build: buildInfo(), Recorders: x.recorders(), Loaded: x.loaded})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	x.attach(d)
	// The simulator's fault switch, so a demo can be broken on purpose.
	d.Mux.Handle("/_sim/", sim.Server)
	fmt.Fprintf(stderr, "simulator at %s (faults: %v); status page at http://%s/ and metrics at http://%s/metrics; switch faults with\n  curl -X PUT -d '{\"faults\":[\"ignore-revocation\"]}' http://%s/_sim/faults\n", sim.URL, f.Names(), *listen, *listen, *listen)
	return serveDaemon(d, *listen, log)
}

func cmdIdpsim(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("idpsim", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "listen address")
	var faults multiFlag
	fs.Var(&faults, "fault", "fault to switch on, repeatable: "+fmt.Sprint(idpsim.FaultNames)+" (delay=DURATION, slow=DURATION, resurrect=DURATION)")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	sim, _, code := startSim(*listen, faults, stderr)
	if sim == nil {
		return code
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "simulator listening on %s (issuer %s/jans-auth)\n", sim.URL, sim.URL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}

// startSim parses the --fault flags and starts the simulator; on error it
// says why and returns the exit code.
func startSim(listen string, faults []string, stderr io.Writer) (*demo.Sim, idpsim.Faults, int) {
	f, err := idpsim.ParseFaults(faults)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, f, ExitConfig
	}
	sim, err := demo.StartSim(listen, f)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, f, 1
	}
	return sim, f, 0
}
