package endsession_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/endsession"
)

const kind = "end-session"

var short = probetest.Deadline(400 * time.Millisecond)

func expect(t *testing.T, m map[string]string) probetest.Option {
	return func(p *probe.Probe) {
		prof, err := probe.Override(p.Profile, m)
		if err != nil {
			t.Fatal(err)
		}
		p.Profile = prof
	}
}

func run(t *testing.T, p *probe.Probe, n int, result verdict.Result, reason verdict.Reason) *verdict.Run {
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

func TestEndSession(t *testing.T) {
	sessions := probetest.CodeLogin
	tokensDie := map[string]string{"access_token": "dies", "refresh_token": "dies"}
	cases := []struct {
		name   string
		params driver.Params
		faults []string
		opts   []probetest.Option
		runs   int
		result verdict.Result
		reason verdict.Reason
	}{
		// (a)
		{"GET", nil, nil, nil, 5, verdict.Pass, verdict.ReasonNone},
		{"POST", driver.Params{"method": "POST"}, nil, nil, 3, verdict.Pass, verdict.ReasonNone},
		{"with post_logout_redirect_uri: 302", driver.Params{"post_logout_redirect_uri": "http://127.0.0.1/callback"}, nil, nil, 3, verdict.Pass, verdict.ReasonNone},
		{"without client_id", driver.Params{"client_id": "false"}, nil, nil, 2, verdict.Pass, verdict.ReasonNone},
		// (b) The OP answers with a logout page and clears the cookie but
		// keeps the session: only replaying the old cookie shows it.
		{"ignore-revocation", nil, []string{"ignore-revocation"}, []probetest.Option{short}, 2, verdict.Fail, verdict.SessionStillAlive},
		{"delay beyond the deadline", nil, []string{"delay=5s"}, []probetest.Option{short}, 1, verdict.Fail, verdict.SessionStillAlive},
		{"delay within the deadline", nil, []string{"delay=150ms"}, nil, 2, verdict.Pass, verdict.ReasonNone},
		// (c) RP logout has no token duty: token faults do not fail it…
		{"keep-access", nil, []string{"keep-access"}, nil, 3, verdict.Pass, verdict.ReasonNone},
		{"keep-refresh", nil, []string{"keep-refresh"}, nil, 3, verdict.Pass, verdict.ReasonNone},
		// …unless the operator relies on Janssen removing the session's tokens.
		{"tokens: dies", nil, nil, []probetest.Option{expect(t, tokensDie)}, 3, verdict.Pass, verdict.ReasonNone},
		{"tokens: dies, keep-access", nil, []string{"keep-access"}, []probetest.Option{expect(t, tokensDie), short}, 1, verdict.Fail, verdict.AccessTokenStillActive},
		// (d)
		{"500", nil, []string{"revoke-500"}, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"unregistered post_logout_redirect_uri: 400", driver.Params{"post_logout_redirect_uri": "https://evil.example/"}, nil, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"password login, session checks on", nil, nil, []probetest.Option{func(p *probe.Probe) { p.LoginMethod = "password" }}, 1, verdict.Error, verdict.SessionCheckUnavailable},
		{"password login, no session check", nil, nil, []probetest.Option{func(p *probe.Probe) {
			p.LoginMethod, p.Checks.PromptNone, p.Checks.SessionStatus = "password", false, false
		}}, 1, verdict.Error, verdict.ConfigError},
		{"no id token and no session", nil, nil, []probetest.Option{func(p *probe.Probe) {
			p.LoginMethod, p.Checks.PromptNone, p.Checks.SessionStatus = "password", false, false
			p.Scopes, p.Checks.Userinfo = []string{"offline_access"}, false
			p.Profile.AccessToken = verdict.Dies
		}}, 1, verdict.Error, verdict.NoSession},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			p := probetest.Probe(t, base, kind, tc.params, append([]probetest.Option{sessions}, tc.opts...)...)
			run(t, p, tc.runs, tc.result, tc.reason)
		})
	}

	t.Run("drift: tokens promised to survive die", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, nil, sessions, expect(t, map[string]string{"access_token": "survives"}))
		r := run(t, p, 2, verdict.Pass, verdict.ReasonNone)
		if !slices.Equal(r.Drift, []verdict.Artifact{verdict.AccessToken}) {
			t.Errorf("drift %v, want [access_token]", r.Drift)
		}
	})
	t.Run("end_session disabled: not offered", func(t *testing.T) {
		t.Parallel()
		ts := httptest.NewServer(idpsim.New(idpsim.Options{Features: []string{"revoke_token", "introspection", "userinfo", "status_session"}}))
		t.Cleanup(ts.Close)
		p := probetest.Probe(t, ts.URL, kind, nil, sessions)
		run(t, p, 1, verdict.Error, verdict.EndpointNotOffered)
	})
}

func TestParams(t *testing.T) {
	for _, p := range []driver.Params{{"method": "PUT"}, {"client_id": "yes"}, {"nope": "x"}} {
		if _, err := driver.Build(kind, p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
