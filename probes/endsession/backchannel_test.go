package endsession_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/janssen"
)

// backchannelSim starts revprober's back-channel receiver and a simulator
// whose canary-app client is registered with it (register=false leaves the
// client unregistered, with JWT access tokens so jwks_uri is published).
func backchannelSim(t *testing.T, register bool, faults ...string) (string, *backchannel.Receiver) {
	t.Helper()
	recv := backchannel.New()
	rts := httptest.NewServer(recv)
	t.Cleanup(rts.Close)
	f, err := idpsim.ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	clients := idpsim.DefaultClients()
	if register {
		clients[1].BackchannelLogoutURI = rts.URL + backchannel.Path
	}
	ts := httptest.NewServer(idpsim.New(idpsim.Options{Clients: clients, Faults: f, JWTAccessTokens: !register}))
	t.Cleanup(ts.Close)
	return ts.URL, recv
}

func backchannelObs(r *verdict.Run) (verdict.Observation, bool) {
	for _, c := range r.Checks {
		if c.Check == verdict.BackchannelLogout {
			return c, true
		}
	}
	return verdict.Observation{}, false
}

// TestBackchannelLogout: end_session notifies the registered RP, and the
// probe measures the logout token's delivery; a notification that never
// comes fails the run (the RPs were never told the session ended).
func TestBackchannelLogout(t *testing.T) {
	cases := []struct {
		name     string
		register bool
		faults   []string
		opts     []probetest.Option
		result   verdict.Result
		reason   verdict.Reason
		after    verdict.State
	}{
		{"delivered", true, nil, nil, verdict.Pass, verdict.ReasonNone, verdict.Dead},
		{"delivered late, within the deadline", true, []string{"delay=150ms"}, nil, verdict.Pass, verdict.ReasonNone, verdict.Dead},
		{"client not registered", false, nil, []probetest.Option{short, func(p *probe.Probe) { p.Checks.PromptNone, p.Checks.SessionStatus = false, false }}, verdict.Fail, verdict.SessionStillAlive, verdict.Alive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, recv := backchannelSim(t, tc.register, tc.faults...)
			opts := append([]probetest.Option{probetest.CodeLogin, func(p *probe.Probe) { p.Backchannel = recv }}, tc.opts...)
			p := probetest.Probe(t, base, kind, nil, opts...)
			r := run(t, p, 3, tc.result, tc.reason)
			o, ok := backchannelObs(r)
			if !ok || o.Before != verdict.Alive || o.After != tc.after || o.Artifact != verdict.Session {
				t.Fatalf("backchannel observation %+v (found %v)", o, ok)
			}
			if tc.after == verdict.Dead && (o.PropagationSeconds == nil || *o.PropagationSeconds > *r.PropagationSeconds) {
				t.Fatalf("delivery latency %v, run propagation %v", o.PropagationSeconds, r.PropagationSeconds)
			}
		})
	}
	t.Run("no receiver: no check", func(t *testing.T) {
		t.Parallel()
		base, _ := backchannelSim(t, true)
		r := run(t, probetest.Probe(t, base, kind, nil, probetest.CodeLogin), 1, verdict.Pass, verdict.ReasonNone)
		if _, ok := backchannelObs(r); ok {
			t.Fatal("backchannel_logout checked without a receiver")
		}
	})
	// Janssen's global token revocation sends no back-channel logout and
	// its profile does not promise one: nothing is waited for.
	t.Run("global token revocation: not promised", func(t *testing.T) {
		t.Parallel()
		base, recv := backchannelSim(t, true)
		p := probetest.Probe(t, base, "janssen-global-token-revocation", nil, probetest.CodeLogin, func(p *probe.Probe) { p.Backchannel = recv })
		r := probe.Run(context.Background(), p)
		if _, ok := backchannelObs(r); ok || r.Result != verdict.Pass || r.Profile.BackchannelLogout {
			t.Fatalf("got %s/%s, profile %+v, checks %+v", r.Result, r.Reason, r.Profile, r.Checks)
		}
	})
}
