// Package probetest builds simulators and probes for tests of the engine
// and of the endpoint drivers.
package probetest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// Sim starts a simulator with the given faults ("delay=300ms", …) and
// returns it with its base URL (the issuer is base + "/jans-auth").
func Sim(t testing.TB, faults ...string) (*idpsim.Server, string) {
	t.Helper()
	f, err := idpsim.ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	s := idpsim.New(idpsim.Options{Faults: f})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// Transport is shared by every test probe, as in production.
var Transport = func() http.RoundTripper {
	tr, err := httpx.NewTransport(httpx.TLS{})
	if err != nil {
		panic(err)
	}
	return tr
}()

// Hold is the test probes' hold window: short, so that a table of runs
// stays fast, but long enough that every passing run goes through it.
const Hold = 100 * time.Millisecond

// Option changes a test probe.
type Option func(*probe.Probe)

// Probe builds a probe of driver kind against the simulator at base, as
// a config would (the params the driver declares secret included):
// password login of canary01 with the simulator's default
// clients, the three token checks, a 2 s deadline, a 100 ms hold, a 5 s
// request timeout and fast polling.
func Probe(t testing.TB, base, kind string, params driver.Params, opts ...Option) *probe.Probe {
	t.Helper()
	d, err := driver.Build(kind, params)
	if err != nil {
		t.Fatal(err)
	}
	p := &probe.Probe{
		Target: "sim", Endpoint: kind, Kind: kind, Driver: d, Profile: d.Profile(),
		Interval: time.Minute, Timeout: 10 * time.Second, Deadline: 2 * time.Second,
		Hold: Hold, RequestTimeout: 5 * time.Second,
		PollInitial: 5 * time.Millisecond, PollMax: time.Second,
		Issuer:      base + "/jans-auth",
		Admin:       &oauth.ClientAuth{ID: "revprober-admin", Secret: secret.New("admin-secret")},
		LoginClient: &oauth.ClientAuth{ID: "canary-app", Secret: secret.New("canary-secret")},
		LoginMethod: "password",
		RedirectURI: "http://127.0.0.1/callback",
		Scopes:      []string{"openid", "profile", "email", "offline_access"},
		Canaries: []probe.Canary{{Name: "canary01", Username: "canary01", Password: secret.New("canary-password-01"),
			Attributes: map[string]string{"uid": "canary01", "mail": "canary01@example.com", "user_dn": "inum=CANARY01,ou=people,o=jans", "user_id": "CANARY01"}}},
		Checks:    probe.Checks{Introspection: true, Userinfo: true, Refresh: true, UserinfoDeadStatus: []int{401}},
		Transport: Transport,
	}
	for _, v := range driver.SecretValues(kind, params) {
		p.ParamSecrets = append(p.ParamSecrets, secret.New(v))
	}
	p.Introspector = p.Admin
	for _, o := range opts {
		o(p)
	}
	return p
}

// CodeLogin switches a probe to the authorization-code form login with
// both session checks.
func CodeLogin(p *probe.Probe) {
	p.LoginMethod = "authorization_code"
	p.Checks.PromptNone = true
	p.Checks.SessionStatus = true
}

// Deadline sets the propagation deadline.
func Deadline(d time.Duration) Option { return func(p *probe.Probe) { p.Deadline = d } }

// AssertAliveThenDead checks the one rule on a passing run: every
// promised artifact was seen alive before the revocation and dead after.
func AssertAliveThenDead(t testing.TB, r *verdict.Run) {
	t.Helper()
	promised := 0
	for _, c := range r.Checks {
		if c.Expect != verdict.Dies {
			continue
		}
		promised++
		if c.Before != verdict.Alive || c.After != verdict.Dead || c.PropagationSeconds == nil {
			t.Fatalf("pass with %s before=%s after=%s", c.Check, c.Before, c.After)
		}
	}
	if promised == 0 || r.PropagationSeconds == nil {
		t.Fatal("pass without any promised check")
	}
}
