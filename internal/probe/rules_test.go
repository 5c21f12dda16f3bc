package probe_test

// Tests of the rules that keep a run from passing on anything but "seen
// alive, then seen dead because of the revocation": each one is a way a
// careless prober reports a false pass.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// wrapSim serves the simulator behind a hook that may answer a request
// itself (returning true). It tells the hook whether the revocation has
// been sent yet.
func wrapSim(t *testing.T, opts idpsim.Options, hook func(w http.ResponseWriter, r *http.Request, revoked bool) bool) string {
	t.Helper()
	sim := idpsim.New(opts)
	var revoked atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/global-token-revocation") || strings.HasSuffix(r.URL.Path, "/restv1/revoke") {
			defer revoked.Store(true)
		}
		if hook != nil && hook(w, r, revoked.Load()) {
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// isGrant reports whether r is a token request with that grant type; it
// restores the body for the simulator.
func isGrant(r *http.Request, grant string) bool {
	if !strings.HasSuffix(r.URL.Path, "/restv1/token") {
		return false
	}
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	v, _ := url.ParseQuery(string(b))
	return v.Get("grant_type") == grant
}

func mustFaults(t *testing.T, names ...string) idpsim.Faults {
	t.Helper()
	f, err := idpsim.ParseFaults(names)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func revokeRequests(r *verdict.Run) int {
	n := 0
	for _, q := range r.Requests {
		if q.Step == verdict.StepRevoke {
			n++
		}
	}
	return n
}

// An issuer that publishes neither introspection nor userinfo leaves the
// access token, which the endpoint promises to kill, unobservable. The run
// must refuse before revoking anything, not pass on the refresh check.
func TestAccessTokenChecksNotOffered(t *testing.T) {
	base := wrapSim(t, idpsim.Options{Features: []string{"global_token_revocation", "revoke_token"}, Faults: mustFaults(t, "keep-access")}, nil)
	p := newProbe(t, base, "janssen-global-token-revocation", nil)
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Error || r.Reason != verdict.ConfigError || !strings.Contains(r.Detail, "introspection_endpoint") {
		t.Fatalf("got %s/%s (%s), want error/config_error naming the missing endpoints", r.Result, r.Reason, r.Detail)
	}
	if n := revokeRequests(r); n != 0 {
		t.Errorf("%d revocation requests made by a run that could prove nothing", n)
	}

	// The operator may say so explicitly: the access token is then not
	// verified, and the record says so.
	p.Profile.AccessToken = verdict.Unchecked
	r = probe.Run(context.Background(), p)
	if r.Result != verdict.Pass {
		t.Fatalf("with expect.access_token unchecked: got %s/%s (%s)", r.Result, r.Reason, r.Detail)
	}
	probetest.AssertAliveThenDead(t, r)
}

// What a pass does not cover is in the record: a password login has no
// OP session, and no resource is configured.
func TestUnverifiedArtifactsRecorded(t *testing.T) {
	_, base := sim(t)
	r := probe.Run(context.Background(), newProbe(t, base, "janssen-global-token-revocation", nil))
	if r.Result != verdict.Pass {
		t.Fatalf("got %s/%s: %s", r.Result, r.Reason, r.Detail)
	}
	got := map[verdict.Artifact]string{}
	for _, u := range r.Unverified {
		got[u.Artifact] = u.Why
	}
	if !strings.Contains(got[verdict.Session], "password login") || !strings.Contains(got[verdict.Resource], "resources") || len(got) != 2 {
		t.Errorf("unverified %+v, want session (password login) and resource", r.Unverified)
	}

	// With the session checked, it is verified, not listed.
	r = probe.Run(context.Background(), newProbe(t, base, "janssen-global-token-revocation", nil, probetest.CodeLogin))
	if r.Result != verdict.Pass {
		t.Fatalf("code login: got %s/%s: %s", r.Result, r.Reason, r.Detail)
	}
	for _, u := range r.Unverified {
		if u.Artifact == verdict.Session {
			t.Errorf("session listed unverified although prompt_none and session_status checked it: %+v", u)
		}
	}
}

// A revocation that does nothing, against a short-lived access token and
// a deadline longer than its life: the token dies by expiry. That is no
// proof of revocation: error token_expired, never a pass.
func TestExpiryIsNotRevocation(t *testing.T) {
	for _, tc := range []struct {
		faults []string
		result verdict.Result
		reason verdict.Reason
	}{
		{[]string{"ignore-revocation"}, verdict.Error, verdict.TokenExpired},
		{nil, verdict.Pass, verdict.ReasonNone}, // a real revocation well before expiry still passes
	} {
		t.Run(strings.Join(tc.faults, ","), func(t *testing.T) {
			base := wrapSim(t, idpsim.Options{AccessTokenTTL: 3 * time.Second, Faults: mustFaults(t, tc.faults...)}, nil)
			p := newProbe(t, base, "rfc7009", driver.Params{"token": "access_token"}, probetest.Deadline(5*time.Second))
			p.Timeout = 8 * time.Second
			r := probe.Run(context.Background(), p)
			if r.Result != tc.result || r.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want %s/%s", r.Result, r.Reason, r.Detail, tc.result, tc.reason)
			}
			if !strings.Contains(strings.Join(r.Notes, "\n"), "within the propagation deadline") {
				t.Errorf("no note that the token expires within the deadline: %q", r.Notes)
			}
		})
	}
}

// The first refresh attempt after the revocation reaches the IdP, which
// rotates the (surviving) refresh token, but its answer is lost. The next
// attempt presents the rotated-out token and gets invalid_grant: that is
// rotation, not revocation, and must not count as dead.
func TestLostRefreshAnswerProvesNothing(t *testing.T) {
	var lost sync.Once
	sim := idpsim.New(idpsim.Options{Faults: mustFaults(t, "keep-refresh")})
	var revoked atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/global-token-revocation") {
			defer revoked.Store(true)
		}
		if revoked.Load() && isGrant(r, "refresh_token") {
			answered := false
			lost.Do(func() {
				sim.ServeHTTP(httptest.NewRecorder(), r) // the IdP rotates…
				http.Error(w, "bad gateway", http.StatusBadGateway)
				answered = true // …and the gateway loses the answer
			})
			if answered {
				return
			}
		}
		sim.ServeHTTP(w, r)
	}))
	defer ts.Close()
	p := newProbe(t, ts.URL, "janssen-global-token-revocation", nil, probetest.Deadline(500*time.Millisecond))
	r := probe.Run(context.Background(), p)
	if r.Result == verdict.Pass {
		t.Fatalf("pass although the refresh token was never revoked (seen dead only by rotation): %+v", r.Checks)
	}
	if r.Result != verdict.Error || r.Reason != verdict.RefreshUnavailable {
		t.Fatalf("got %s/%s (%s), want error/refresh_unavailable", r.Result, r.Reason, r.Detail)
	}
}

// One IdP node revoked, another still accepts the token: answers alternate
// between dead and alive. A single dead answer must not settle the check.
func TestFlappingAnswersAreNotDead(t *testing.T) {
	var n atomic.Int64
	base := wrapSim(t, idpsim.Options{}, func(w http.ResponseWriter, r *http.Request, revoked bool) bool {
		if !revoked || !strings.HasSuffix(r.URL.Path, "/restv1/introspection") {
			return false
		}
		if n.Add(1)%2 == 0 { // the stale node
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"active":true}`)
			return true
		}
		return false
	})
	p := newProbe(t, base, "janssen-global-token-revocation", nil, probetest.Deadline(500*time.Millisecond))
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Fail || r.Reason != verdict.AccessTokenStillActive {
		t.Fatalf("got %s/%s (%s), want fail/access_token_still_active", r.Result, r.Reason, r.Detail)
	}
}

// slowStart stands for a driver that fetches an admin token or looks the
// user up before it sends the revocation: that time is not propagation.
type slowStart struct {
	driver.Driver
	before time.Duration
}

func (s slowStart) Revoke(ctx context.Context, env *driver.Env) error {
	time.Sleep(s.before) // the admin-token round trip
	return s.Driver.Revoke(ctx, env)
}

// TestPropagationTimedFromTheRevokingRequest: two seconds spent before the
// revoking request (an admin-token fetch) count neither against a 1.5 s
// deadline nor in the measured latency, whatever the machine's load.
func TestPropagationTimedFromTheRevokingRequest(t *testing.T) {
	const before = 2 * time.Second
	_, base := sim(t, "delay=150ms")
	p := newProbe(t, base, "janssen-global-token-revocation", nil, probetest.Deadline(1500*time.Millisecond))
	p.Driver = slowStart{Driver: p.Driver, before: before}
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Pass {
		t.Fatalf("got %s/%s (%s): the %s before the request was counted against the deadline", r.Result, r.Reason, r.Detail, before)
	}
	if got := time.Duration(*r.PropagationSeconds * float64(time.Second)); got < 150*time.Millisecond || got >= before {
		t.Errorf("propagation %s for an injected delay of 150ms after %s of preparation", got, before)
	}
}

// panicky stands for a driver bug.
type panicky struct{ driver.Driver }

func (panicky) Revoke(context.Context, *driver.Env) error { panic("driver bug") }

// A panic is an error with reason internal_error, and the clean-up still
// revokes the tokens the run issued.
func TestPanicIsAnErrorAndCleansUp(t *testing.T) {
	_, base := sim(t)
	p := newProbe(t, base, "janssen-global-token-revocation", nil)
	p.Driver = panicky{p.Driver}
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Error || r.Reason != verdict.InternalError || !strings.Contains(r.Detail, "driver bug") {
		t.Fatalf("got %s/%s (%s), want error/internal_error", r.Result, r.Reason, r.Detail)
	}
	if !strings.Contains(r.Cleanup, "revoked") {
		t.Fatalf("clean-up after the panic: %q, want the run's tokens revoked", r.Cleanup)
	}
}
