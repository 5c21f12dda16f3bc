package janssen_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/janssen"
)

// Options shared by the session-driver tests.
var (
	short   probetest.Option = probetest.Deadline(400 * time.Millisecond)
	noScope probetest.Option = func(p *probe.Probe) {
		p.Admin = &oauth.ClientAuth{ID: "no-scope-admin", Secret: secret.New("noscope-secret")}
	}
	// passwordLogin undoes CodeLogin: ROPC creates no OP session (§0.5).
	passwordLogin probetest.Option = func(p *probe.Probe) {
		p.LoginMethod, p.Checks.PromptNone, p.Checks.SessionStatus = "password", false, false
	}
)

func endpointURL(u string) probetest.Option { return func(p *probe.Probe) { p.EndpointURL = u } }

// want runs p n times and checks every verdict. A pass must have seen each
// promised artifact alive, then dead (the one rule).
func want(t *testing.T, p *probe.Probe, n int, result verdict.Result, reason verdict.Reason) *verdict.Run {
	t.Helper()
	var r *verdict.Run
	for i := 0; i < n; i++ {
		r = probe.Run(context.Background(), p)
		if r.Result != result || r.Reason != reason {
			t.Fatalf("run %d: got %s/%s, want %s/%s (detail: %s)", i, r.Result, r.Reason, result, reason, r.Detail)
		}
		if r.Result == verdict.Pass {
			promised := 0
			for _, c := range r.Checks {
				if c.Expect == verdict.Dies {
					promised++
					if c.Before != verdict.Alive || c.After != verdict.Dead {
						t.Fatalf("run %d: pass with %s before=%s after=%s", i, c.Check, c.Before, c.After)
					}
				}
			}
			if promised == 0 {
				t.Fatalf("run %d: pass without a promised check", i)
			}
		}
	}
	return r
}

// survivors returns the checks of a promised-alive artifact seen alive after
// the revocation, and whether any was seen dead (drift).
func afterStates(r *verdict.Run, e verdict.Expect) (alive, dead []verdict.Check) {
	for _, c := range r.Checks {
		if c.Expect != e {
			continue
		}
		switch c.After {
		case verdict.Alive:
			alive = append(alive, c.Check)
		case verdict.Dead:
			dead = append(dead, c.Check)
		}
	}
	return alive, dead
}

// driftSim is a simulator whose endpoint at pathSuffix has "changed
// behaviour": after its normal work it also revokes every token of
// canary01 (a global token revocation), as a newer server version might.
func driftSim(t *testing.T, pathSuffix string) string {
	t.Helper()
	s := idpsim.New(idpsim.Options{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r)
		if !strings.HasSuffix(r.URL.Path, pathSuffix) {
			return
		}
		req := httptest.NewRequest(http.MethodPost, "/jans-auth/restv1/global-token-revocation",
			strings.NewReader(`{"sub_id":{"format":"uid","id":"canary01"}}`))
		req.SetBasicAuth("revprober-admin", "admin-secret")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Errorf("drift sim: global token revocation answered %d", rec.Code)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// simWith starts a simulator with options probetest.Sim does not offer.
func simWith(t *testing.T, o idpsim.Options) string {
	t.Helper()
	ts := httptest.NewServer(idpsim.New(o))
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestRevokeSession(t *testing.T) {
	const kind = "janssen-revoke-session"
	sessions := probetest.CodeLogin
	cases := []struct {
		name   string
		faults []string
		opts   []probetest.Option
		runs   int
		result verdict.Result
		reason verdict.Reason
	}{
		// (a) the session dies; the tokens it never promised to kill live on.
		{"no fault", nil, nil, 5, verdict.Pass, verdict.ReasonNone},
		// (b) faults that break the promise.
		{"ignore-revocation", []string{"ignore-revocation"}, []probetest.Option{short}, 2, verdict.Fail, verdict.SessionStillAlive},
		{"delay beyond the deadline", []string{"delay=5s"}, []probetest.Option{short}, 1, verdict.Fail, verdict.SessionStillAlive},
		{"delay within the deadline", []string{"delay=150ms"}, nil, 2, verdict.Pass, verdict.ReasonNone},
		// (c) faults outside the promise: tokens are promised to survive anyway.
		{"keep-access", []string{"keep-access"}, nil, 3, verdict.Pass, verdict.ReasonNone},
		{"keep-refresh", []string{"keep-refresh"}, nil, 3, verdict.Pass, verdict.ReasonNone},
		// (d) error answers: never a pass.
		{"client lacks revoke_session: 401", nil, []probetest.Option{noScope}, 1, verdict.Error, verdict.RevokeUnauthorized},
		{"500", []string{"revoke-500"}, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"introspection down", []string{"introspection-500"}, nil, 1, verdict.Error, verdict.IntrospectionUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			p := probetest.Probe(t, base, kind, nil, append([]probetest.Option{sessions}, tc.opts...)...)
			r := want(t, p, tc.runs, tc.result, tc.reason)
			if tc.result == verdict.Pass {
				alive, dead := afterStates(r, verdict.Survives)
				if len(dead) > 0 || len(r.Drift) > 0 || len(alive) != 3 {
					t.Errorf("promised survivors: alive %v, dead %v, drift %v", alive, dead, r.Drift)
				}
			}
		})
	}

	t.Run("drift: the server now kills the tokens too", func(t *testing.T) {
		t.Parallel()
		p := probetest.Probe(t, driftSim(t, "/revoke_session"), kind, nil, sessions)
		r := want(t, p, 3, verdict.Pass, verdict.ReasonNone)
		if !slices.Contains(r.Drift, verdict.AccessToken) || !slices.Contains(r.Drift, verdict.RefreshToken) {
			t.Errorf("drift %v, want access_token and refresh_token", r.Drift)
		}
	})
	t.Run("removed endpoint: 404", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, nil, sessions, endpointURL(base+"/jans-auth/restv1/no_such_endpoint"))
		want(t, p, 1, verdict.Error, verdict.EndpointNotOffered)
	})
	t.Run("feature disabled: not in discovery", func(t *testing.T) {
		t.Parallel()
		base := simWith(t, idpsim.Options{Features: []string{"global_token_revocation", "revoke_token", "introspection", "userinfo", "end_session", "status_session"}})
		p := probetest.Probe(t, base, kind, nil, sessions)
		want(t, p, 1, verdict.Error, verdict.EndpointNotOffered)
	})
	t.Run("feature disabled but url configured: 403", func(t *testing.T) {
		t.Parallel()
		base := simWith(t, idpsim.Options{Features: []string{"global_token_revocation", "revoke_token", "introspection", "userinfo", "end_session", "status_session"}})
		p := probetest.Probe(t, base, kind, nil, sessions, endpointURL(base+"/jans-auth/restv1/revoke_session"))
		want(t, p, 1, verdict.Error, verdict.RevokeUnauthorized)
	})
	t.Run("password login: nothing checks the session", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, nil)
		want(t, p, 1, verdict.Error, verdict.ConfigError)
	})
	t.Run("by mail", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, map[string]string{"key": "mail"}, sessions)
		want(t, p, 2, verdict.Pass, verdict.ReasonNone)
	})
	// "email" is the claim, not a user attribute: no user matches, Janssen
	// answers 200 and ends no session (§1.3).
	t.Run("key email: 200, nothing dies", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, map[string]string{"key": "email", "attribute": "mail"}, sessions, short)
		want(t, p, 1, verdict.Fail, verdict.SessionStillAlive)
	})
	t.Run("attribute missing", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, map[string]string{"key": "inum", "attribute": "scim_id"}, sessions)
		want(t, p, 1, verdict.Error, verdict.ConfigError)
	})
}

func TestConfigAPISession(t *testing.T) {
	const kind = "janssen-config-api-session"
	sessions := probetest.CodeLogin
	cases := []struct {
		name   string
		faults []string
		opts   []probetest.Option
		runs   int
		result verdict.Result
		reason verdict.Reason
	}{
		// (a) session and its access token die; the refresh token lives on.
		{"no fault", nil, nil, 5, verdict.Pass, verdict.ReasonNone},
		// (b) faults that break the promise.
		{"keep-access", []string{"keep-access"}, []probetest.Option{short}, 2, verdict.Fail, verdict.AccessTokenStillActive},
		{"ignore-revocation", []string{"ignore-revocation"}, []probetest.Option{short}, 1, verdict.Fail, verdict.AccessTokenStillActive},
		{"delay beyond the deadline", []string{"delay=5s"}, []probetest.Option{short}, 1, verdict.Fail, verdict.AccessTokenStillActive},
		{"introspection lies", []string{"introspection-always-active"}, []probetest.Option{short}, 1, verdict.Fail, verdict.AccessTokenStillActive},
		// (c) outside the promise: refresh tokens are promised to survive.
		{"keep-refresh", []string{"keep-refresh"}, nil, 3, verdict.Pass, verdict.ReasonNone},
		// (d) error answers.
		{"password login: 404, no session", nil, []probetest.Option{passwordLogin}, 2, verdict.Error, verdict.NoSession},
		{"token lacks the scopes: 403", nil, []probetest.Option{noScope}, 1, verdict.Error, verdict.RevokeUnauthorized},
		{"500", []string{"revoke-500"}, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"no user_dn", nil, []probetest.Option{func(p *probe.Probe) { delete(p.Canaries[0].Attributes, "user_dn") }}, 1, verdict.Error, verdict.ConfigError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			p := probetest.Probe(t, base, kind, nil, append([]probetest.Option{sessions}, tc.opts...)...)
			r := want(t, p, tc.runs, tc.result, tc.reason)
			if tc.result == verdict.Pass {
				alive, dead := afterStates(r, verdict.Survives)
				if !slices.Equal(alive, []verdict.Check{verdict.RefreshGrant}) || len(dead) > 0 || len(r.Drift) > 0 {
					t.Errorf("promised survivors: alive %v, dead %v, drift %v", alive, dead, r.Drift)
				}
			}
		})
	}

	t.Run("drift: the server now kills the refresh token too", func(t *testing.T) {
		t.Parallel()
		p := probetest.Probe(t, driftSim(t, "/session/user/inum=CANARY01,ou=people,o=jans"), kind, nil, sessions)
		r := want(t, p, 3, verdict.Pass, verdict.ReasonNone)
		if !slices.Equal(r.Drift, []verdict.Artifact{verdict.RefreshToken}) {
			t.Errorf("drift %v, want [refresh_token]", r.Drift)
		}
	})
	t.Run("url configured", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, nil, sessions, endpointURL(base+"/jans-config-api/api/v1/jans-auth-server/session/user"))
		want(t, p, 2, verdict.Pass, verdict.ReasonNone)
	})
	t.Run("wrong url: 404 reads as no session", func(t *testing.T) {
		// The config-api's 404 cannot be told apart from a wrong path; both
		// are errors, never a pass.
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, nil, sessions, endpointURL(base+"/nowhere/"))
		want(t, p, 1, verdict.Error, verdict.NoSession)
	})
}
