package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// `preflight` checks a config against the live identity provider before
// the first run: for every selected probe, discovery, the canaries'
// logins and the positive control, then the clean-up that revokes (RFC
// 7009) the tokens it was issued. It never calls a revocation endpoint.
// It is a command of its own rather than check-config --online: it logs
// real users in and has the exit codes of `once` (0 ready, 2 a probe that
// cannot reach a verdict, 3 bad usage or config), where check-config is
// offline and answers 0 or 3.
func init() {
	extraCommands["preflight"] = cmdPreflight
}

func cmdPreflight(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("preflight", stderr)
	path := fs.String("c", "", "config file")
	target := fs.String("target", "", "only the probes of this target")
	endpoint := fs.String("endpoint", "", "only the probes of this endpoint name")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the report")
	parallel := fs.Int("parallel", defaultParallel, "check at most `N` canaries at a time (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return ExitConfig
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	printWarnings(stderr, cfg)
	selected, err := selectProbes(cfg, *target, *endpoint, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	errw := &lockedWriter{w: stderr}
	reps := make([]*probe.PreflightReport, len(selected))
	var started atomic.Int32
	forEachByCanary(selected, *parallel, func(i int) {
		if !*asJSON {
			fmt.Fprintf(errw, "[%d/%d] %s …\n", started.Add(1), len(selected), selected[i].ID())
		}
		reps[i] = probe.Preflight(ctx, selected[i])
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Results []*probe.PreflightReport `json:"results"`
		}{reps})
	} else {
		writePreflight(stdout, reps)
	}
	for _, r := range reps {
		if !r.Ready {
			return ExitError
		}
	}
	return ExitPass
}

// writePreflight prints, per probe, whether it is ready, what a run would
// verify and what it would not, and why.
func writePreflight(w io.Writer, reps []*probe.PreflightReport) {
	ready := 0
	for _, r := range reps {
		state := "READY"
		if r.Ready {
			ready++
		} else {
			state = "NOT READY  reason=" + string(r.Reason)
		}
		fmt.Fprintf(w, "\n%s/%s (%s)  %s  took %s\n", r.Target, r.Endpoint, r.Driver, state, r.Duration.Round(time.Millisecond))
		if r.Detail != "" {
			fmt.Fprintf(w, "  %s\n", r.Detail)
		}
		for _, c := range r.Verified {
			if c.Expect == verdict.Dies {
				fmt.Fprintf(w, "  would verify: %s dies (%s)\n", c.Artifact, strings.Join(c.Checks, ", "))
			} else {
				fmt.Fprintf(w, "  would watch for drift: %s %s (%s)\n", c.Artifact, c.Expect, strings.Join(c.Checks, ", "))
			}
		}
		for _, u := range r.Unverified {
			fmt.Fprintf(w, "  unverified: %s: %s\n", u.Artifact, u.Why)
		}
		if !r.Ready {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  step\tduration\t")
			for _, s := range r.Steps {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.Duration.Round(time.Millisecond), s.Error)
			}
			tw.Flush()
		}
		if r.CleanupFailed {
			fmt.Fprintf(w, "  warning: clean-up: %s\n", r.Cleanup)
		} else if r.Cleanup != "" {
			fmt.Fprintf(w, "  cleanup: %s\n", r.Cleanup)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	fmt.Fprintf(w, "\n%d ready, %d not ready (nothing was revoked)\n", ready, len(reps)-ready)
}
