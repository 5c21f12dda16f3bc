package rfc7009_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/rfc7009"
)

var short = probetest.Deadline(400 * time.Millisecond)

// override applies an operator's expect: map, as the config does.
func override(t *testing.T, expect map[string]string) probetest.Option {
	return func(p *probe.Probe) {
		prof, err := probe.Override(p.Profile, expect)
		if err != nil {
			t.Fatal(err)
		}
		p.Profile = prof
	}
}

// refreshCheckOnly leaves the refresh grant as the only observation.
func refreshCheckOnly(p *probe.Probe) { p.Checks.Introspection, p.Checks.Userinfo = false, false }

func observed(r *verdict.Run, a verdict.Artifact) verdict.State {
	for _, c := range r.Checks {
		if c.Artifact == a {
			return c.After
		}
	}
	return verdict.Skipped
}

// TestJanssenHintDeviation: Janssen's /revoke searches only access tokens
// when token_type_hint=access_token (docs/wire-facts.md §0.7), so a refresh token
// sent with that hint is not revoked although the answer is 200. RFC 7009
// §2.1 says the server MUST extend its search: the driver's profile keeps
// the promise, and the probe must catch the deviation.
func TestJanssenHintDeviation(t *testing.T) {
	cases := []struct {
		name   string
		params driver.Params
		faults []string
		opts   []probetest.Option
		result verdict.Result
		reason verdict.Reason
		// refreshAfter is what the refresh check must have seen at the end.
		refreshAfter verdict.State
	}{
		{"refresh token, right hint", driver.Params{"token": "refresh_token"}, nil, nil, verdict.Pass, verdict.ReasonNone, verdict.Dead},
		{"refresh token, no hint", driver.Params{"token": "refresh_token", "hint": "none"}, nil, nil, verdict.Pass, verdict.ReasonNone, verdict.Dead},
		// Nothing is revoked: the access token of the grant lives too, and
		// the engine reports the first artifact in verdict.Artifacts order.
		{"refresh token, access_token hint", driver.Params{"token": "refresh_token", "hint": "access_token"}, nil,
			[]probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive, verdict.Alive},
		{"refresh token, access_token hint, refresh check only", driver.Params{"token": "refresh_token", "hint": "access_token"}, nil,
			[]probetest.Option{short, refreshCheckOnly}, verdict.Fail, verdict.RefreshTokenStillWorks, verdict.Alive},

		// Revoking the access token: RFC 7009 only MAY cascade to the
		// refresh token, so the default profile leaves it unchecked.
		{"access token, default profile", driver.Params{"token": "access_token"}, nil, nil, verdict.Pass, verdict.ReasonNone, verdict.Skipped},
		{"access token, default profile, keep-refresh", driver.Params{"token": "access_token"}, []string{"keep-refresh"}, nil, verdict.Pass, verdict.ReasonNone, verdict.Skipped},
		// Janssen removes the whole grant (removeAllByGrantId, §1.8): the
		// stricter profile holds on a correct server…
		{"access token, refresh_token: dies", driver.Params{"token": "access_token"}, nil,
			[]probetest.Option{nil}, verdict.Pass, verdict.ReasonNone, verdict.Dead},
		// …and fails when the refresh token outlives the grant.
		{"access token, refresh_token: dies, keep-refresh", driver.Params{"token": "access_token"}, []string{"keep-refresh"},
			[]probetest.Option{nil, short, refreshCheckOnly}, verdict.Fail, verdict.RefreshTokenStillWorks, verdict.Alive},
		// With every check on too: the access token minted by the surviving
		// refresh token is not the revoked one.
		{"access token, refresh_token: dies, keep-refresh, all checks", driver.Params{"token": "access_token"}, []string{"keep-refresh"},
			[]probetest.Option{nil, short}, verdict.Fail, verdict.RefreshTokenStillWorks, verdict.Alive},
		{"access token, access_token hint", driver.Params{"token": "access_token", "hint": "access_token"}, nil, nil, verdict.Pass, verdict.ReasonNone, verdict.Skipped},

		// Error answers.
		{"500", driver.Params{"token": "refresh_token"}, []string{"revoke-500"}, nil, verdict.Error, verdict.RevokeHTTPError, verdict.Skipped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			opts := tc.opts
			for i, o := range opts {
				if o == nil { // the override needs this test's t
					opts[i] = override(t, map[string]string{"refresh_token": "dies"})
				}
			}
			p := probetest.Probe(t, base, "rfc7009", tc.params, opts...)
			n := 3
			if tc.result != verdict.Pass {
				n = 1
			}
			for i := 0; i < n; i++ {
				r := probe.Run(context.Background(), p)
				if r.Result != tc.result || r.Reason != tc.reason {
					t.Fatalf("run %d: got %s/%s, want %s/%s (%s)", i, r.Result, r.Reason, tc.result, tc.reason, r.Detail)
				}
				if got := observed(r, verdict.RefreshToken); tc.result != verdict.Error && got != tc.refreshAfter {
					t.Fatalf("run %d: refresh check after = %s, want %s", i, got, tc.refreshAfter)
				}
				if r.Result == verdict.Pass {
					for _, c := range r.Checks {
						if c.Expect == verdict.Dies && (c.Before != verdict.Alive || c.After != verdict.Dead) {
							t.Fatalf("pass with %s before=%s after=%s", c.Check, c.Before, c.After)
						}
					}
				}
			}
		})
	}
}

func TestErrorAnswers(t *testing.T) {
	_, base := probetest.Sim(t)
	cases := []struct {
		name   string
		params driver.Params
		opts   []probetest.Option
		reason verdict.Reason
	}{
		// The admin client did not issue the canary's token: Janssen answers
		// 400 invalid_request (another client's token).
		{"another client's token: 400", driver.Params{"client": "admin"}, nil, verdict.RevokeHTTPError},
		{"bad client credentials: 401", driver.Params{"client": "admin"}, []probetest.Option{func(p *probe.Probe) {
			a := *p.Admin
			a.Secret = secret.New("wrong")
			p.Admin = &a
		}}, verdict.RevokeUnauthorized},
		{"no revocation endpoint: 404", nil, []probetest.Option{func(p *probe.Probe) { p.EndpointURL = base + "/jans-auth/restv1/nope" }}, verdict.RevokeHTTPError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := probetest.Probe(t, base, "rfc7009", tc.params, tc.opts...)
			if r := probe.Run(context.Background(), p); r.Result != verdict.Error || r.Reason != tc.reason {
				t.Fatalf("got %s/%s, want error/%s (%s)", r.Result, r.Reason, tc.reason, r.Detail)
			}
		})
	}
}

// TestDefaultProfileUnderFaults: each simulator fault that breaks what the
// default profile promises fails the probe with the artifact it spared;
// a fault outside the promise, or a delay within the deadline, passes.
// Default profiles: token=refresh_token promises the refresh token and
// (RFC 7009 §2.1 SHOULD) the grant's access tokens; token=access_token
// promises the access token only (the refresh token MAY survive).
func TestDefaultProfileUnderFaults(t *testing.T) {
	cases := []struct {
		token  string
		faults []string
		opts   []probetest.Option
		result verdict.Result
		reason verdict.Reason
	}{
		{"refresh_token", []string{"ignore-revocation"}, []probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{"refresh_token", []string{"ignore-revocation"}, []probetest.Option{short, refreshCheckOnly}, verdict.Fail, verdict.RefreshTokenStillWorks},
		{"refresh_token", []string{"keep-access"}, []probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{"refresh_token", []string{"keep-refresh"}, []probetest.Option{short}, verdict.Fail, verdict.RefreshTokenStillWorks},
		{"refresh_token", []string{"delay=5s"}, []probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{"refresh_token", []string{"delay=5s"}, []probetest.Option{short, refreshCheckOnly}, verdict.Fail, verdict.RefreshTokenStillWorks},
		{"refresh_token", []string{"delay=150ms"}, nil, verdict.Pass, verdict.ReasonNone},
		{"refresh_token", []string{"revoke-500"}, nil, verdict.Error, verdict.RevokeHTTPError},

		{"access_token", []string{"ignore-revocation"}, []probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{"access_token", []string{"keep-access"}, []probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive},
		// Outside the promise: the refresh token may survive an access
		// token's revocation (TestJanssenHintDeviation has the stricter
		// refresh_token: dies override failing on it).
		{"access_token", []string{"keep-refresh"}, nil, verdict.Pass, verdict.ReasonNone},
		{"access_token", []string{"delay=5s"}, []probetest.Option{short}, verdict.Fail, verdict.AccessTokenStillActive},
		{"access_token", []string{"delay=150ms"}, nil, verdict.Pass, verdict.ReasonNone},
		{"access_token", []string{"revoke-500"}, nil, verdict.Error, verdict.RevokeHTTPError},
	}
	for _, tc := range cases {
		name := tc.token + "/" + tc.faults[0]
		if len(tc.opts) > 1 {
			name += "/refresh check only"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			p := probetest.Probe(t, base, "rfc7009", driver.Params{"token": tc.token}, tc.opts...)
			r := probe.Run(context.Background(), p)
			if r.Result != tc.result || r.Reason != tc.reason {
				t.Fatalf("got %s/%s, want %s/%s (%s)", r.Result, r.Reason, tc.result, tc.reason, r.Detail)
			}
			if r.Result == verdict.Pass {
				probetest.AssertAliveThenDead(t, r)
				// A delay within the deadline is waited out, not missed.
				if d, ok := strings.CutPrefix(tc.faults[0], "delay="); ok {
					want, _ := time.ParseDuration(d)
					if got := time.Duration(*r.PropagationSeconds * float64(time.Second)); got < want {
						t.Fatalf("propagation %s, below the emulated delay %s", got, want)
					}
				}
			}
		})
	}
}
