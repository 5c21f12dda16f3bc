package probe_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/all"
)

var (
	sim      = probetest.Sim
	newProbe = probetest.Probe
)

type probeOpt = probetest.Option

// runs is how often each case repeats: a verdict that flips once in
// twenty runs is a bug users would see on their dashboards.
const runs = 20

func TestFaultVerdicts(t *testing.T) {
	gtr := func(b string, o ...probeOpt) *probe.Probe {
		return newProbe(t, b, "janssen-global-token-revocation", nil, o...)
	}
	short := func(p *probe.Probe) { p.Deadline = 400 * time.Millisecond }
	tight := func(p *probe.Probe) { p.Timeout = 300 * time.Millisecond; p.Deadline = 200 * time.Millisecond }
	cases := []struct {
		faults []string
		opts   []probeOpt
		result verdict.Result
		reason verdict.Reason
	}{
		{nil, nil, verdict.Pass, verdict.ReasonNone},
		{[]string{"ignore-revocation"}, []probeOpt{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{[]string{"keep-access"}, []probeOpt{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{[]string{"introspection-always-active"}, []probeOpt{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{[]string{"keep-refresh"}, []probeOpt{short}, verdict.Fail, verdict.RefreshTokenStillWorks},
		{[]string{"delay=150ms"}, nil, verdict.Pass, verdict.ReasonNone},
		{[]string{"delay=5s"}, []probeOpt{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{[]string{"introspection-always-inactive"}, nil, verdict.Error, verdict.PositiveControlFailed},
		{[]string{"introspection-500"}, nil, verdict.Error, verdict.IntrospectionUnavailable},
		{[]string{"revoke-500"}, nil, verdict.Error, verdict.RevokeHTTPError},
		{[]string{"login-fail"}, nil, verdict.Error, verdict.LoginFailed},
		{[]string{"slow=400ms"}, []probeOpt{tight}, verdict.Error, verdict.Timeout},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.faults), func(t *testing.T) {
			t.Parallel()
			_, base := sim(t, tc.faults...)
			p := gtr(base, tc.opts...)
			for i := 0; i < runs; i++ {
				r := probe.Run(context.Background(), p)
				if r.Result != tc.result || r.Reason != tc.reason {
					t.Fatalf("run %d: got %s/%s, want %s/%s (detail: %s)", i, r.Result, r.Reason, tc.result, tc.reason, r.Detail)
				}
				if r.Result == verdict.Pass {
					assertAliveThenDead(t, r)
				}
			}
		})
	}
}

// assertAliveThenDead checks the one rule on a passing run.
var assertAliveThenDead = probetest.AssertAliveThenDead

// TestDelayMeasured: the measured propagation latency is never below an
// injected delay (the simulator counts it from the revoking request's
// arrival) and is the time of the first dead answer, not of the
// confirming one, the hold or the deadline. How close it comes to the
// truth (within about 5 % plus poll_initial) is a matter of scheduling on
// a loaded machine: `make bench` measures that precision, not this test.
func TestDelayMeasured(t *testing.T) {
	const deadline = 5 * time.Second
	for _, delay := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			t.Parallel()
			_, base := sim(t, fmt.Sprintf("delay=%s", delay))
			p := newProbe(t, base, "janssen-global-token-revocation", nil, probetest.Deadline(deadline))
			for i := 0; i < 5; i++ {
				r := probe.Run(context.Background(), p)
				if r.Result != verdict.Pass {
					t.Fatalf("got %s/%s: %s", r.Result, r.Reason, r.Detail)
				}
				got := time.Duration(*r.PropagationSeconds * float64(time.Second))
				if got < delay || got >= delay+time.Second {
					t.Fatalf("measured %s for an injected delay of %s (deadline %s, hold %s)", got, delay, deadline, p.Hold)
				}
			}
		})
	}
}

var parseFaults = idpsim.ParseFaults

// TestUIDFallbackNoted: a driver that identifies the canary by uid gets the
// username when the canary sets no uid; the run says so, as the IdP's uid
// may differ from the login name.
func TestUIDFallbackNoted(t *testing.T) {
	_, base := sim(t)
	p := newProbe(t, base, "janssen-global-token-revocation", driver.Params{"format": "uid"})
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Pass || strings.Contains(strings.Join(r.Notes, "\n"), "uid") {
		t.Fatalf("with a uid attribute: %s/%s notes %q", r.Result, r.Reason, r.Notes)
	}
	delete(p.Canaries[0].Attributes, "uid")
	r = probe.Run(context.Background(), p)
	if r.Result != verdict.Pass {
		t.Fatalf("got %s/%s (%s)", r.Result, r.Reason, r.Detail)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "canary canary01 sets no uid attribute: the driver used its username") {
		t.Errorf("notes %q do not say that the username stood in for uid", r.Notes)
	}
}
