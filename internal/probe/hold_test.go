package probe_test

// Dead means dead, held: an artifact must stay dead through the hold window
// after its first dead answer. One dead moment is not a revocation.

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

func hold(d time.Duration) probeOpt { return func(p *probe.Probe) { p.Hold = d } }

// TestResurrectionFails: tokens die, then come back 500 ms later (a stale
// replica repopulating a cache). With a hold longer than that, the run
// fails with came_back_alive, and the record says when each came back.
func TestResurrectionFails(t *testing.T) {
	t.Parallel()
	_, base := sim(t, "resurrect=500ms")
	p := newProbe(t, base, "janssen-global-token-revocation", nil, hold(2*time.Second))
	for i := 0; i < 3; i++ {
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Fail || r.Reason != verdict.CameBackAlive {
			t.Fatalf("run %d: got %s/%s (%s), want fail/came_back_alive", i, r.Result, r.Reason, r.Detail)
		}
		for _, want := range []string{"canary01", "came back alive", "check saw it dead", "alive again"} {
			if !strings.Contains(r.Detail, want) {
				t.Errorf("detail %q does not say %q", r.Detail, want)
			}
		}
		if r.PropagationSeconds != nil {
			t.Errorf("run propagation %v for a run whose artifacts came back", *r.PropagationSeconds)
		}
		back := 0
		for _, c := range r.Checks {
			if c.CameBackSeconds == nil {
				continue
			}
			back++
			if c.After != verdict.Alive || c.PropagationSeconds != nil || c.FirstDeadSeconds == nil ||
				*c.CameBackSeconds < 0.5 || *c.FirstDeadSeconds >= *c.CameBackSeconds {
				t.Errorf("%s: after=%s first dead %v came back %v propagation %v", c.Check, c.After, c.FirstDeadSeconds, *c.CameBackSeconds, c.PropagationSeconds)
			}
			if !strings.Contains(c.Detail, "alive again") {
				t.Errorf("%s: detail %q", c.Check, c.Detail)
			}
		}
		if back == 0 {
			t.Errorf("no check recorded the comeback: %+v", r.Checks)
		}
		// The clean-up revokes the tokens that came back.
		if !strings.Contains(r.Cleanup, "revoked") {
			t.Errorf("clean-up %q", r.Cleanup)
		}
	}
}

// TestComebackAfterConfirmation: one introspection answer says active
// after two inactive ones settled the token dead: came_back_alive, even
// though every later answer says dead again.
func TestComebackAfterConfirmation(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	base := wrapSim(t, idpsim.Options{}, func(w http.ResponseWriter, r *http.Request, revoked bool) bool {
		if !revoked || !strings.HasSuffix(r.URL.Path, "/restv1/introspection") || n.Add(1) != 3 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":true}`)
		return true
	})
	p := newProbe(t, base, "janssen-global-token-revocation", nil, hold(400*time.Millisecond))
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Fail || r.Reason != verdict.CameBackAlive || !strings.Contains(r.Detail, "introspection") {
		t.Fatalf("got %s/%s (%s), want fail/came_back_alive naming introspection", r.Result, r.Reason, r.Detail)
	}
}

// TestDefaultHoldPasses: with the configuration's default hold (10 s), a
// run against a plain simulator passes; every promised artifact is
// recorded held for at least the hold, at the cost of a few polls each.
func TestDefaultHoldPasses(t *testing.T) {
	t.Parallel()
	_, base := sim(t)
	p := newProbe(t, base, "janssen-global-token-revocation", nil, hold(10*time.Second), func(p *probe.Probe) {
		p.Timeout, p.Deadline = 45*time.Second, 30*time.Second
		p.PollInitial, p.PollMax = 10*time.Millisecond, time.Second
	})
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Pass {
		t.Fatalf("got %s/%s (%s)", r.Result, r.Reason, r.Detail)
	}
	probetest.AssertAliveThenDead(t, r)
	for _, c := range r.Checks {
		if c.HeldSeconds == nil || *c.HeldSeconds < 10 {
			t.Errorf("%s: held %v, want at least the 10s hold", c.Check, c.HeldSeconds)
		}
		// Two to settle, then three looks spread over the hold, the last at
		// its end: every look is a request per check in every run.
		if c.Polls > 5 {
			t.Errorf("%s: %d polls after the revocation for a 10s hold, want 2 to settle and 3 through the hold", c.Check, c.Polls)
		}
	}
}

// TestHoldUnobservedIsAnError: an IdP whose answers cannot be had
// at the end of the hold gives no pass: the death was seen, its hold not.
func TestHoldUnobservedIsAnError(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	base := wrapSim(t, idpsim.Options{}, func(w http.ResponseWriter, r *http.Request, revoked bool) bool {
		if !revoked || !strings.HasSuffix(r.URL.Path, "/restv1/userinfo") || n.Add(1) <= 2 {
			return false
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	})
	p := newProbe(t, base, "janssen-global-token-revocation", nil, hold(300*time.Millisecond), probetest.Deadline(300*time.Millisecond))
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Error || r.Reason != verdict.UserinfoUnavailable || !strings.Contains(r.Detail, "hold") {
		t.Fatalf("got %s/%s (%s), want error/userinfo_unavailable about the hold", r.Result, r.Reason, r.Detail)
	}
}
