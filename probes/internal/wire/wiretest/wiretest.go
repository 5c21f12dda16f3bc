// Package wiretest runs the vendor drivers' verdict tables against the
// simulator's vendor emulations.
package wiretest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// Runs is how often each case repeats: a verdict that flips now and then
// is a bug users would see.
const Runs = 3

// Case is one row of a driver's verdict table.
type Case struct {
	Name   string
	Kind   string
	Params driver.Params
	Faults []string // simulator faults
	// Sim is the body of PUT {prefix}/_sim ({"delay":"…","kill_all":…}), if any.
	Sim    string
	Opts   []probetest.Option
	Result verdict.Result
	Reason verdict.Reason
	// Detail must appear in the run's detail.
	Detail string
	// Drift is the artifacts the run must report as drift (nil: none).
	Drift []verdict.Artifact
	// Propagation, when set, is the IdP's emulated revocation delay: the
	// run must not measure less (it cannot see an artifact dead before it
	// died). How close it comes above is precision, which `make bench`
	// measures: on a loaded 2-core machine a timed bound here only flakes.
	Propagation time.Duration
}

// Run runs every case against a fresh simulator, with the endpoint URL at
// the simulator's base + prefix ("/keycloak").
func Run(t *testing.T, prefix string, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.Faults...)
			if tc.Sim != "" {
				SetSim(t, base+prefix, tc.Sim)
			}
			opts := append([]probetest.Option{URL(base + prefix)}, tc.Opts...)
			p := probetest.Probe(t, base, tc.Kind, tc.Params, opts...)
			for i := 0; i < Runs; i++ {
				r := probe.Run(context.Background(), p)
				if r.Result != tc.Result || r.Reason != tc.Reason {
					t.Fatalf("run %d: got %s/%s, want %s/%s (detail: %s)", i, r.Result, r.Reason, tc.Result, tc.Reason, r.Detail)
				}
				if !strings.Contains(r.Detail, tc.Detail) {
					t.Fatalf("detail %q does not say %q", r.Detail, tc.Detail)
				}
				for _, s := range []string{"admin-secret", "noscope-secret", "canary-secret"} {
					if strings.Contains(fmt.Sprintf("%+v", r), s) {
						t.Fatalf("the run record leaks %q", s)
					}
				}
				if !slices.Equal(sorted(r.Drift), sorted(tc.Drift)) {
					t.Fatalf("drift %v, want %v", r.Drift, tc.Drift)
				}
				if r.Result == verdict.Pass {
					AssertAliveThenDead(t, r)
				}
				if tc.Propagation > 0 {
					// A poll sent just before the kill may be served just
					// after it: allow that much (loopback) below the delay.
					got := time.Duration(*r.PropagationSeconds * float64(time.Second))
					if got < tc.Propagation-20*time.Millisecond {
						t.Fatalf("measured %s for an emulated delay of %s: seen dead before it died", got, tc.Propagation)
					}
				}
			}
		})
	}
}

func sorted(a []verdict.Artifact) []verdict.Artifact {
	out := slices.Clone(a)
	slices.Sort(out)
	return out
}

// AssertAliveThenDead checks the one rule on a passing run.
var AssertAliveThenDead = probetest.AssertAliveThenDead

// SetSim sets a vendor emulation's switches.
func SetSim(t testing.TB, u, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, u+"/_sim", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s/_sim %s: %d", u, body, resp.StatusCode)
	}
}

// URL sets the endpoint's url.
func URL(u string) probetest.Option { return func(p *probe.Probe) { p.EndpointURL = u } }

// Short is a propagation deadline for cases that must fail.
func Short(p *probe.Probe) { p.Deadline = 300 * time.Millisecond }

// Online drops offline_access from the login scopes.
func Online(p *probe.Probe) {
	p.Scopes = slices.DeleteFunc(slices.Clone(p.Scopes), func(s string) bool { return s == "offline_access" })
}

// Admin replaces the admin client (introspection keeps the working one).
func Admin(id, sec string) probetest.Option {
	return func(p *probe.Probe) { p.Admin = &oauth.ClientAuth{ID: id, Secret: secret.New(sec)} }
}

// NoScopeAdmin is the simulator's admin client without any admin permission.
var NoScopeAdmin = Admin("no-scope-admin", "noscope-secret")

// BadAdminSecret makes the admin client's token request fail.
var BadAdminSecret = Admin("revprober-admin", "wrong")

// Attr sets (or, with "", removes) a canary attribute.
func Attr(name, value string) probetest.Option {
	return func(p *probe.Probe) {
		for i := range p.Canaries {
			a := maps.Clone(p.Canaries[i].Attributes)
			if a == nil {
				a = map[string]string{}
			}
			if value == "" {
				delete(a, name)
			} else {
				a[name] = value
			}
			p.Canaries[i].Attributes = a
		}
	}
}

// RefreshOnly leaves the refresh check alone. A refresh that still works
// mints a new access token, which the access-token checks then see alive
// too, and the engine reports the access token first: cases about the
// refresh token use this to get a deterministic reason.
func RefreshOnly(p *probe.Probe) {
	p.Checks.Introspection, p.Checks.Userinfo = false, false
}
