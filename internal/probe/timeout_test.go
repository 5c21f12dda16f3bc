package probe_test

// Each request has its own time limit: an answer that trickles a byte a
// second must not eat the whole run, and the error names the request.

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// faultsAfterRevoke switches the simulator's faults once the revoking
// request has been answered: a fault that hits verification only.
type faultsAfterRevoke struct {
	driver.Driver
	sim    *idpsim.Server
	faults []string
}

func (f faultsAfterRevoke) Revoke(ctx context.Context, env *driver.Env) error {
	err := f.Driver.Revoke(ctx, env)
	fs, perr := idpsim.ParseFaults(f.faults)
	if perr != nil {
		panic(perr)
	}
	f.sim.SetFaults(fs)
	return err
}

func requestTimeout(d time.Duration) probeOpt { return func(p *probe.Probe) { p.RequestTimeout = d } }

// TestHungRequestIsTheCheckError: an endpoint whose answer trickles gives
// the check's own unavailable reason, naming the request (method and URL,
// no query) and the limit, long before the run timeout; in the positive
// control and during verification alike.
func TestHungRequestIsTheCheckError(t *testing.T) {
	for _, tc := range []struct {
		name, fault, request string
		reason               verdict.Reason
		afterRevoke          bool
	}{
		{"introspection, positive control", "hang-introspection", "POST /restv1/introspection", verdict.IntrospectionUnavailable, false},
		{"userinfo, positive control", "hang-userinfo", "GET /restv1/userinfo", verdict.UserinfoUnavailable, false},
		{"token endpoint, login", "hang-token", "POST /restv1/token", verdict.LoginFailed, false},
		{"introspection, verification", "hang-introspection", "POST /restv1/introspection", verdict.IntrospectionUnavailable, true},
		{"token endpoint, refresh check", "hang-token", "POST /restv1/token", verdict.RefreshUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, base := sim(t)
			if !tc.afterRevoke {
				s, base = sim(t, tc.fault)
			}
			p := newProbe(t, base, "janssen-global-token-revocation", nil, requestTimeout(300*time.Millisecond), func(p *probe.Probe) {
				p.Timeout, p.Deadline = 20*time.Second, time.Second
				if tc.afterRevoke {
					p.Driver = faultsAfterRevoke{Driver: p.Driver, sim: s, faults: []string{tc.fault}}
				}
			})
			r := probe.Run(context.Background(), p)
			if r.Result != verdict.Error || r.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want error/%s", r.Result, r.Reason, r.Detail, tc.reason)
			}
			method, path, _ := strings.Cut(tc.request, " ")
			t.Log(r.Detail)
			for _, want := range []string{method + " " + base + "/jans-auth" + path, "request_timeout 300ms"} {
				if !strings.Contains(r.Detail, want) {
					t.Errorf("detail %q does not name %q", r.Detail, want)
				}
			}
			if strings.Contains(r.Detail, "?") {
				t.Errorf("detail %q carries a query", r.Detail)
			}
		})
	}
}

// TestRunTimeoutSaysWhere: the run timeout's message says whether the
// propagation deadline had passed, and what was in flight.
func TestRunTimeoutSaysWhere(t *testing.T) {
	t.Parallel()
	t.Run("before the revocation", func(t *testing.T) {
		t.Parallel()
		_, base := sim(t, "slow=400ms")
		p := newProbe(t, base, "janssen-global-token-revocation", nil, func(p *probe.Probe) {
			p.Timeout, p.Deadline = 300*time.Millisecond, 200*time.Millisecond
		})
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Error || r.Reason != verdict.Timeout {
			t.Fatalf("got %s/%s (%s)", r.Result, r.Reason, r.Detail)
		}
		for _, want := range []string{"run timeout (300ms)", "before the revocation", "while waiting for GET " + base + "/jans-auth/.well-known/openid-configuration"} {
			if !strings.Contains(r.Detail, want) {
				t.Errorf("detail %q does not say %q", r.Detail, want)
			}
		}
	})
	t.Run("past the deadline", func(t *testing.T) {
		t.Parallel()
		// The third introspection after the revocation (in the hold, past
		// the deadline) hangs, with no request limit to save the run.
		var n atomic.Int64
		base := wrapSim(t, idpsim.Options{}, func(w http.ResponseWriter, r *http.Request, revoked bool) bool {
			if !revoked || !strings.HasSuffix(r.URL.Path, "/restv1/introspection") || n.Add(1) != 3 {
				return false
			}
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		})
		p := newProbe(t, base, "janssen-global-token-revocation", nil, requestTimeout(0), hold(2*time.Second), func(p *probe.Probe) {
			p.Timeout, p.Deadline = 1500*time.Millisecond, 200*time.Millisecond
		})
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Error || r.Reason != verdict.Timeout {
			t.Fatalf("got %s/%s (%s)", r.Result, r.Reason, r.Detail)
		}
		if strings.Contains(r.Detail, "before the") {
			t.Errorf("detail %q says before the deadline, which had passed", r.Detail)
		}
		for _, want := range []string{"past the propagation deadline (200ms)", "while waiting for POST " + base + "/jans-auth/restv1/introspection"} {
			if !strings.Contains(r.Detail, want) {
				t.Errorf("detail %q does not say %q", r.Detail, want)
			}
		}
	})
}
