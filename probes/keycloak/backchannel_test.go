package keycloak_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	. "github.com/revprober/revprober/probes/internal/wire/wiretest"
)

// TestKeycloakBackchannelLogout: the user logout notifies the RP of the
// canary's session, and the probe measures the delivery.
func TestKeycloakBackchannelLogout(t *testing.T) {
	t.Parallel()
	recv := backchannel.New()
	rts := httptest.NewServer(recv)
	t.Cleanup(rts.Close)
	clients := idpsim.DefaultClients()
	clients[1].BackchannelLogoutURI = rts.URL + backchannel.Path
	ts := httptest.NewServer(idpsim.New(idpsim.Options{Clients: clients}))
	t.Cleanup(ts.Close)
	p := probetest.Probe(t, ts.URL, "keycloak-user-logout", driver.Params{"realm": "demo"},
		URL(ts.URL+"/keycloak"), Online, probetest.CodeLogin, func(p *probe.Probe) { p.Backchannel = recv })
	for i := 0; i < 3; i++ {
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Pass {
			t.Fatalf("run %d: got %s/%s: %s", i, r.Result, r.Reason, r.Detail)
		}
		AssertAliveThenDead(t, r)
		found := false
		for _, c := range r.Checks {
			found = found || (c.Check == verdict.BackchannelLogout && c.After == verdict.Dead)
		}
		if !found {
			t.Fatalf("run %d: no delivered backchannel_logout observation: %+v", i, r.Checks)
		}
	}
}
