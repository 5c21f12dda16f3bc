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
	// checks run before any probe (an output that cannot be written is
	// bad usage, found before probing); hooks write the extra outputs
	// (JUnit) after the report.
	checks []func() error
	hooks  []func([]*verdict.Run) error
}

func cmdOnce(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("once", stderr)
	path := fs.String("c", "", "config file")
	var o onceOptions
	fs.StringVar(&o.target, "target", "", "only the probes of this target")
	fs.StringVar(&o.endpoint, "endpoint", "", "only the probes of this endpoint name")
	fs.BoolVar(&o.json, "json", false, "print one JSON document instead of the report")
	addOnceOutputs(fs, &o)
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	printWarnings(stderr, cfg)
	return runOnce(cfg, o, stdout, stderr)
}

// addOnceOutputs is where other files add output flags (--junit).
var addOnceOutputs = func(*flag.FlagSet, *onceOptions) {}

// runOnce runs the selected probes one after another (so runs on one
// canary never overlap) and reports them.
func runOnce(cfg *config.Config, o onceOptions, stdout, stderr io.Writer) int {
	probes, err := probe.Compile(cfg, newLogger(stderr, "warn", false))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	var selected []*probe.Probe
	for _, p := range probes {
		if (o.target == "" || p.Target == o.target) && (o.endpoint == "" || p.Endpoint == o.endpoint) {
			selected = append(selected, p)
		}
	}
	if len(selected) == 0 {
		fmt.Fprintf(stderr, "no probe matches --target %q --endpoint %q\n", o.target, o.endpoint)
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
	var runs []*verdict.Run
	for i, p := range selected {
		if !o.json {
			fmt.Fprintf(stderr, "[%d/%d] %s …\n", i+1, len(selected), p.ID())
		}
		runs = append(runs, probe.Run(ctx, p))
	}
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
