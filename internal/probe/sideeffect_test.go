package probe_test

// A check's own side effect is never credited to the revocation. Ory Hydra
// and zitadel revoke the previous access token of a grant when its refresh
// token is used (the simulator's refresh-revokes-access mode): a refresh
// check on the grant whose access token the other checks watch would kill
// that token itself.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// demoProbes compiles the demo configuration (one probe per driver
// configuration) against the simulator at base.
func demoProbes(t *testing.T, base string, p demo.Params) []*probe.Probe {
	t.Helper()
	p.SimURL = base
	cfg, err := demo.Config(p, config.LoadOptions{CheckDriver: func(kind string, params map[string]string) error {
		_, err := driver.Build(kind, params)
		return err
	}, SecretParam: driver.IsSecretParam})
	if err != nil {
		t.Fatal(err)
	}
	probes, err := probe.Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return probes
}

// TestNothingRevokedRecordsNoDeath: every demo probe (every driver) against
// a simulator that ignores every revocation and whose refresh grant kills
// the earlier access token of its grant. Nothing was revoked, so every run
// fails and no check may record an artifact dead, drift included.
func TestNothingRevokedRecordsNoDeath(t *testing.T) {
	_, base := sim(t)
	for _, p := range demoProbes(t, base, demo.Params{Deadline: "300ms", Hold: "100ms"}) {
		t.Run(p.ID(), func(t *testing.T) {
			t.Parallel()
			// A simulator of its own: probes of the demo share canaries.
			_, base := sim(t, "ignore-revocation", "refresh-revokes-access")
			var q *probe.Probe
			for _, x := range demoProbes(t, base, demo.Params{Deadline: "300ms", Hold: "100ms"}) {
				if x.ID() == p.ID() {
					q = x
				}
			}
			r := probe.Run(context.Background(), q)
			if r.Result != verdict.Fail {
				t.Errorf("got %s/%s (%s), want fail: nothing was revoked", r.Result, r.Reason, r.Detail)
			}
			assertNothingDead(t, r)
		})
	}
}

func assertNothingDead(t *testing.T, r *verdict.Run) {
	t.Helper()
	for _, c := range r.Checks {
		if c.After == verdict.Dead || c.PropagationSeconds != nil || c.Drift || c.FirstDeadSeconds != nil {
			t.Errorf("%s (%s, canary %s) recorded dead (after=%s) although nothing was revoked", c.Check, c.Artifact, c.Canary, c.After)
		}
	}
	if len(r.Drift) > 0 {
		t.Errorf("drift %v although nothing was revoked", r.Drift)
	}
}

// TestRefreshSideEffectNotCredited: on a Hydra-like IdP, Hydra's login
// session revocation ends the session and leaves every token alive: the
// run passes with both tokens recorded alive after the revocation, and no
// drift. Global token revocation and RFC 7009 still pass, and RFC 7009's
// refresh token revocation still kills the main grant's access token,
// because the driver revokes every grant's refresh token.
func TestRefreshSideEffectNotCredited(t *testing.T) {
	_, base := sim(t, "refresh-revokes-access")
	probes := map[string]*probe.Probe{}
	for _, p := range demoProbes(t, base, demo.Params{Deadline: "2s", Hold: "100ms"}) {
		probes[p.ID()] = p
	}
	for _, id := range []string{"hydra-login-sim/login-session-revoke", "hydra-sim/consent-revoke", "janssen-sim/global-token-revocation",
		"janssen-rfc7009-sim/rfc7009-refresh", "janssen-config-api-sim/config-api-session"} {
		p := probes[id]
		if p == nil {
			t.Fatalf("no demo probe %s", id)
		}
		for i := 0; i < 5; i++ {
			r := probe.Run(context.Background(), p)
			if r.Result != verdict.Pass {
				t.Fatalf("%s run %d: got %s/%s (%s)", id, i, r.Result, r.Reason, r.Detail)
			}
			probetest.AssertAliveThenDead(t, r)
			if len(r.Drift) > 0 {
				t.Fatalf("%s run %d: drift %v: the refresh check's own side effect was taken for the IdP's", id, i, r.Drift)
			}
			for _, c := range r.Checks {
				if c.Expect == verdict.Survives && c.After != verdict.Alive {
					t.Errorf("%s run %d: %s, promised to survive, recorded %s", id, i, c.Check, c.After)
				}
			}
			c := p.Canaries[0].Username // every demo probe has its own canary
			for _, k := range []string{c + "/access_token", c + "/refresh_token", c + "/refresh-check/access_token", c + "/refresh-check/refresh_token"} {
				if r.Fingerprints[k] == "" {
					t.Errorf("%s: no fingerprint %s in %v", id, k, r.Fingerprints)
				}
			}
		}
	}
}

// TestRefreshSideEffectSwallowedRevocation: the consent revocation is
// swallowed (nothing revoked) on a Hydra-like IdP: fail, with no access
// token recorded dead by introspection or userinfo.
func TestRefreshSideEffectSwallowedRevocation(t *testing.T) {
	_, base := sim(t, "refresh-revokes-access", "ignore-revocation")
	for _, p := range demoProbes(t, base, demo.Params{Deadline: "300ms", Hold: "100ms"}) {
		if p.ID() != "hydra-sim/consent-revoke" {
			continue
		}
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Fail || r.Reason != verdict.AccessTokenStillActive {
			t.Fatalf("got %s/%s (%s), want fail/access_token_still_active", r.Result, r.Reason, r.Detail)
		}
		assertNothingDead(t, r)
		return
	}
	t.Fatal("no demo probe hydra-sim/consent-revoke")
}

// TestSecondLoginReusesTheSession: with two grants per canary and a form
// login, the second authorization goes through the first one's OP session:
// the password is posted once, and the session checks still pass.
func TestSecondLoginReusesTheSession(t *testing.T) {
	_, base := sim(t)
	r := probe.Run(context.Background(), newProbe(t, base, "janssen-global-token-revocation", nil, probetest.CodeLogin))
	if r.Result != verdict.Pass {
		t.Fatalf("got %s/%s (%s)", r.Result, r.Reason, r.Detail)
	}
	authorizes, forms := 0, 0
	for _, q := range r.Requests {
		if q.Step != verdict.StepLogin || !strings.HasSuffix(q.URL, "/restv1/authorize") {
			continue
		}
		if q.Method == http.MethodPost {
			forms++
		} else {
			authorizes++
		}
	}
	if authorizes != 2 || forms != 1 {
		t.Errorf("login: %d authorization requests and %d login forms posted, want 2 and 1", authorizes, forms)
	}
}
