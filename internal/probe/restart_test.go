package probe_test

import (
	"context"
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

// TestIdPRestartIsNeverAPass: the identity provider restarts mid-run
// (connections refused, then a fresh process with none of the canary's
// tokens) and its revocation endpoint kills nothing (ignore-revocation):
// the tokens die of the restart, not of a revocation. The run must not
// pass, whether the restart comes before the revocation (the JWKS fetch
// between the positive control and the revocation finds the IdP down) or
// after it (the first verification polls find it down); it is
// error/interference, naming the host that stopped answering.
func TestIdPRestartIsNeverAPass(t *testing.T) {
	for _, tc := range []struct {
		name      string
		orError   verdict.Reason
		noRefresh bool
		down      func(r *http.Request, controlled bool) (down, answered bool)
	}{
		{"restart before the revocation", verdict.Interference, false, func(r *http.Request, controlled bool) (bool, bool) {
			return controlled && strings.HasSuffix(r.URL.Path, "/jwks"), false
		}},
		{"restart after the revocation", verdict.RefreshUnavailable, false, afterRevocation},
		{"restart after the revocation, access-token checks only", verdict.Interference, true, afterRevocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var controlled, once atomic.Bool
			sim := probetest.RestartableSim(t, idpsim.Options{JWTAccessTokens: true, Faults: idpsim.Faults{IgnoreRevocation: true}},
				func(r *http.Request) (bool, bool) {
					if strings.HasSuffix(r.URL.Path, "/introspection") {
						controlled.Store(true) // the positive control has begun
					}
					down, answered := tc.down(r, controlled.Load())
					if down && once.CompareAndSwap(false, true) {
						return true, answered
					}
					return false, false
				})
			p := newProbe(t, sim.URL(), "janssen-global-token-revocation", nil, func(p *probe.Probe) {
				p.Transport = sim.Transport(t)
				p.Checks.Refresh = !tc.noRefresh
			})
			r := probe.Run(context.Background(), p)
			if sim.Restarts() != 1 {
				t.Fatalf("the simulator restarted %d times, want once (run: %s/%s %s)", sim.Restarts(), r.Result, r.Reason, r.Detail)
			}
			if r.Result == verdict.Pass {
				t.Fatalf("pass although nothing was revoked: the tokens died with the IdP's restart (checks %+v)", r.Checks)
			}
			// Interference, or the error of a check the restart blinded
			// (a refresh token rotated away by the lost state): never a pass.
			if r.Result != verdict.Error || (r.Reason != verdict.Interference && r.Reason != tc.orError) {
				t.Fatalf("got %s/%s (%s), want error/interference", r.Result, r.Reason, r.Detail)
			}
			for _, secretValue := range []string{"admin-secret", "canary-secret", "canary-password-01"} {
				if strings.Contains(r.Detail, secretValue) {
					t.Errorf("detail %q carries a secret", r.Detail)
				}
			}
			host := strings.TrimPrefix(sim.URL(), "http://")
			if !strings.Contains(r.Detail, host) {
				t.Errorf("detail %q does not name the host %s that stopped answering", r.Detail, host)
			}
			for _, c := range r.Checks {
				if c.PropagationSeconds != nil {
					t.Errorf("check %s credits a propagation latency (%.3fs) to a revocation that killed nothing", c.Check, *c.PropagationSeconds)
				}
			}
		})
	}
}

// afterRevocation takes the simulator down once it has answered the
// revoking request.
func afterRevocation(r *http.Request, _ bool) (down, answered bool) {
	return strings.HasSuffix(r.URL.Path, "/global-token-revocation"), true
}

// TestLostAnswerBeforeRevocationReestablishesControl: a gateway loses one
// answer between the positive control and the revocation (503 on the JWKS
// fetch) but the IdP kept its state: the positive control, made again,
// finds the tokens alive, and the run passes, saying so in a note.
func TestLostAnswerBeforeRevocationReestablishesControl(t *testing.T) {
	var lost atomic.Bool
	base := wrapSim(t, idpsim.Options{JWTAccessTokens: true}, func(w http.ResponseWriter, r *http.Request, revoked bool) bool {
		if strings.HasSuffix(r.URL.Path, "/jwks") && lost.CompareAndSwap(false, true) {
			http.Error(w, "no upstream", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	p := newProbe(t, base, "janssen-global-token-revocation", nil, probetest.Deadline(2*time.Second))
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Pass {
		t.Fatalf("got %s/%s (%s), want a pass after the positive control was made again", r.Result, r.Reason, r.Detail)
	}
	assertAliveThenDead(t, r)
	if !strings.Contains(strings.Join(r.Notes, "\n"), "the positive control was made again before the revocation") {
		t.Errorf("notes %q do not say the positive control was made again", r.Notes)
	}
}
