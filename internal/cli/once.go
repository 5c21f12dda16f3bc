package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// onceOptions are the flags shared by `once` and `demo --once`.
type onceOptions struct {
	target, endpoint string
	json             bool
	// parallel bounds how many probes of different canaries run at once
	// (0: no bound).
	parallel int
	// checks run before any probe (an output that cannot be written is
	// bad usage, found before probing); hooks write the extra outputs
	// (JUnit) after the report.
	checks []func() error
	hooks  []func([]*verdict.Run) error
	// record gets every run as soon as it ends, from the goroutine that
	// ran it (the evidence log); an error goes to stderr.
	record []func(*verdict.Run) error
}

// defaultParallel is how many canaries `once` probes at a time: enough
// for a pipeline's smoke check to take about one run, few enough that the
// runs do not queue for the transport's connections to one IdP (64).
const defaultParallel = 16

func cmdOnce(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("once", stderr)
	path := fs.String("c", "", "config file")
	var o onceOptions
	fs.StringVar(&o.target, "target", "", "only the probes of this target")
	fs.StringVar(&o.endpoint, "endpoint", "", "only the probes of this endpoint name")
	fs.BoolVar(&o.json, "json", false, "print one JSON document instead of the report")
	fs.IntVar(&o.parallel, "parallel", defaultParallel, "probe at most `N` canaries at a time (probes sharing a canary always run one after another; 0: no limit)")
	addOnceOutputs(fs, &o)
	ev := addEvidenceFlags(fs)
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	printWarnings(stderr, cfg)
	ev.attach(cfg, &o, stderr)
	defer ev.close(stderr)
	return runOnce(cfg, o, stdout, stderr)
}

// addOnceOutputs is where other files add output flags (--junit).
var addOnceOutputs = func(*flag.FlagSet, *onceOptions) {}

// runOnce runs the selected probes, those of different canaries at the
// same time and those sharing a canary one after another, and reports
// them in config order.
func runOnce(cfg *config.Config, o onceOptions, stdout, stderr io.Writer) int {
	selected, err := selectProbes(cfg, o.target, o.endpoint, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	for _, c := range o.checks {
		if err := c(); err != nil {
			fmt.Fprintln(stderr, err)
			return ExitConfig
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	errw := &lockedWriter{w: stderr}
	runs := make([]*verdict.Run, len(selected))
	var started atomic.Int32
	forEachByCanary(selected, o.parallel, func(i int) {
		if !o.json {
			fmt.Fprintf(errw, "[%d/%d] %s …\n", started.Add(1), len(selected), selected[i].ID())
		}
		runs[i] = probe.Run(ctx, selected[i])
		for _, rec := range o.record {
			if err := rec(runs[i]); err != nil {
				fmt.Fprintln(errw, "revprober:", err, "(the exit code is still the run's)")
			}
		}
	})
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Results []*verdict.Run `json:"results"`
		}{runs})
	} else {
		writeReport(stdout, runs)
	}
	// An output that fails after the run does not hide the verdict: the
	// report is printed and the exit code stays the run's.
	for _, h := range o.hooks {
		if err := h(runs); err != nil {
			fmt.Fprintln(stderr, "revprober:", err, "(the exit code is still the run's)")
		}
	}
	return exitCode(runs)
}

// selectProbes compiles cfg's probes and keeps those of target and
// endpoint ("": any); none is an error.
func selectProbes(cfg *config.Config, target, endpoint string, stderr io.Writer) ([]*probe.Probe, error) {
	probes, err := probe.Compile(cfg, newLogger(stderr, "warn", false))
	if err != nil {
		return nil, err
	}
	var selected []*probe.Probe
	for _, p := range probes {
		if (target == "" || p.Target == target) && (endpoint == "" || p.Endpoint == endpoint) {
			selected = append(selected, p)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("no probe matches --target %q --endpoint %q", target, endpoint)
	}
	return selected, nil
}

// exitCode: any fail → 1; else any error → 2; else 0.
func exitCode(runs []*verdict.Run) int {
	code := ExitPass
	for _, r := range runs {
		switch r.Result {
		case verdict.Fail:
			return ExitFail
		case verdict.Error:
			code = ExitError
		}
	}
	return code
}

// writeReport prints a readable, step-by-step account of each run.
func writeReport(w io.Writer, runs []*verdict.Run) {
	for _, r := range runs {
		fmt.Fprintf(w, "\n%s/%s (%s)  %s", r.Target, r.Endpoint, r.Driver, strings.ToUpper(string(r.Result)))
		if r.Result != verdict.Pass {
			fmt.Fprintf(w, "  reason=%s", r.Reason)
		}
		if r.PropagationSeconds != nil {
			fmt.Fprintf(w, "  propagation=%s", secs(*r.PropagationSeconds))
		}
		fmt.Fprintf(w, "  run=%s  took %s\n", r.ID, r.Duration.Round(time.Millisecond))
		if r.Detail != "" {
			fmt.Fprintf(w, "  %s\n", r.Detail)
		}
		if r.Profile.Overridden {
			fmt.Fprintf(w, "  profile overridden by config: %s\n", profileString(r.Profile))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  step\tduration\t")
		for _, s := range r.Steps {
			line := fmt.Sprintf("  %s\t%s\t%s", s.Name, s.Duration.Round(time.Millisecond), s.Error)
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
		if len(r.Checks) > 0 {
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  canary\tcheck\tartifact\tpromise\tbefore\tafter\tpropagation\tpolls\t")
			for _, c := range r.Checks {
				prop := "-"
				if c.PropagationSeconds != nil {
					prop = secs(*c.PropagationSeconds)
				}
				after := string(c.After)
				if c.Drift {
					after += " (drift)"
				}
				if c.CameBackSeconds != nil {
					after += fmt.Sprintf(" (dead at %s, back at %s)", secs(*c.FirstDeadSeconds), secs(*c.CameBackSeconds))
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", c.Canary, c.Check, c.Artifact, c.Expect, c.Before, after, prop, c.Polls)
			}
			tw.Flush()
		}
		if r.Cleanup != "" {
			fmt.Fprintf(w, "  cleanup: %s\n", r.Cleanup)
		}
		for _, u := range r.Unverified {
			fmt.Fprintf(w, "  not verified: %s: %s\n", u.Artifact, u.Why)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	counts := map[verdict.Result]int{}
	for _, r := range runs {
		counts[r.Result]++
	}
	fmt.Fprintf(w, "\n%d passed, %d failed, %d errors\n", counts[verdict.Pass], counts[verdict.Fail], counts[verdict.Error])
}

func secs(s float64) string { return fmt.Sprintf("%.3fs", s) }

func profileString(p verdict.Profile) string {
	var parts []string
	for _, a := range verdict.Artifacts {
		parts = append(parts, fmt.Sprintf("%s=%s", a, p.Expect(a)))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
