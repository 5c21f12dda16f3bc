package probe

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// PreflightReport is what a pre-flight of one probe found: whether a run
// of it can reach a verdict, and what a pass would and would not cover.
// It is not a run record and holds no verdict: nothing was revoked, so
// nothing was proven, and it must never be recorded as a run.
type PreflightReport struct {
	Target   string `json:"target"`
	Endpoint string `json:"endpoint"`
	Driver   string `json:"driver"`
	// Ready: discovery, every canary's login and the positive control
	// went through, so a run can reach a verdict.
	Ready bool `json:"ready"`
	// Reason (from the closed list) and Detail (scrubbed) say why not.
	Reason verdict.Reason `json:"reason,omitempty"`
	Detail string         `json:"detail,omitempty"`
	// Verified lists, per artifact, the checks that saw it alive and would
	// watch it after the revocation (only when Ready).
	Verified []Coverage `json:"verified,omitempty"`
	// Unverified are artifacts the endpoint promises to kill that no
	// check of this configuration observes, and why: a pass would say
	// nothing about them.
	Unverified []verdict.Unverified `json:"unverified,omitempty"`
	// Checks are the observations of the positive control (Before only).
	Checks []verdict.Observation `json:"checks"`
	Steps  []verdict.Step        `json:"steps"`
	// Requests is the redacted trace: where a login that cannot work
	// went wrong.
	Requests []verdict.Request `json:"requests,omitempty"`
	// Cleanup says what became of the tokens the pre-flight was issued;
	// CleanupFailed is set when some may still be alive (a warning: it
	// does not make the probe unready).
	Cleanup       string        `json:"cleanup,omitempty"`
	CleanupFailed bool          `json:"cleanup_failed,omitempty"`
	Notes         []string      `json:"notes,omitempty"`
	Duration      time.Duration `json:"duration_ns"`
}

// Coverage is one artifact a run would verify and the checks that would.
type Coverage struct {
	Artifact verdict.Artifact `json:"artifact"`
	// Expect is the promise the checks hold the endpoint to: dies (a fail
	// if alive at the deadline) or survives (found dead is drift).
	Expect verdict.Expect `json:"expect"`
	Checks []string       `json:"checks"` // "check" or "check (canary)"
}

// Preflight runs every step of a run of p before the revocation
// (discovery, a fresh login of every canary, the plan and the positive
// control) and then the clean-up, which revokes through RFC 7009 every
// token it was issued, exactly as after a run. It never calls the
// probe's revocation endpoint.
func Preflight(ctx context.Context, p *Probe) *PreflightReport {
	r := newRunner(p)
	run := r.drive(ctx, (*runner).prepare, func(*runner) {})
	rep := &PreflightReport{
		Target: run.Target, Endpoint: run.Endpoint, Driver: run.Driver,
		Ready:  run.Result == "",
		Reason: run.Reason, Detail: run.Detail,
		Unverified: run.Unverified,
		Checks:     run.Checks, Steps: run.Steps, Requests: run.Requests,
		Cleanup: run.Cleanup, Notes: run.Notes, Duration: run.Duration,
	}
	for _, s := range run.Steps {
		if s.Name == verdict.StepCleanup && s.Error != "" {
			rep.CleanupFailed = true
		}
	}
	if rep.Reason == verdict.RefreshUnavailable && !slices.Contains(p.Scopes, "offline_access") {
		rep.Detail += " (login.scopes lack offline_access: many IdPs issue a refresh token only for it; or set checks.refresh: false)"
	}
	if rep.Ready {
		rep.Verified = coverage(run.Checks, len(p.Canaries) > 1)
	}
	return rep
}

// coverage groups the observations by artifact, in the order of
// verdict.Artifacts; promised-dead artifacts first.
func coverage(obs []verdict.Observation, nameCanary bool) []Coverage {
	var out []Coverage
	for _, e := range []verdict.Expect{verdict.Dies, verdict.Survives} {
		for _, a := range verdict.Artifacts {
			c := Coverage{Artifact: a, Expect: e}
			for _, o := range obs {
				if o.Artifact != a || o.Expect != e || o.Before != verdict.Alive {
					continue
				}
				name := string(o.Check)
				if nameCanary {
					name += " (" + o.Canary + ")"
				}
				if !slices.Contains(c.Checks, name) {
					c.Checks = append(c.Checks, name)
				}
			}
			if len(c.Checks) > 0 {
				out = append(out, c)
			}
		}
	}
	return out
}

// String is the coverage in one line: "access_token dies: introspection, userinfo".
func (c Coverage) String() string {
	return string(c.Artifact) + " " + string(c.Expect) + ": " + strings.Join(c.Checks, ", ")
}
