package probe_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/revprober/revprober/internal/hostmatch"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// A login UI on its own origin (Hydra's login and consent app): the run
// passes once its host is in login.allowed_hosts, and without it the run
// is an error that names the setting, with no request sent to that host.
func TestLoginUIOnAnotherOrigin(t *testing.T) {
	for _, allow := range []bool{true, false} {
		name := map[bool]string{true: "allowed", false: "not-allowed"}[allow]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := idpsim.New(idpsim.Options{})
			idp := httptest.NewServer(s)
			t.Cleanup(idp.Close)
			var appHits atomic.Int64
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				appHits.Add(1)
				s.LoginApp().ServeHTTP(w, r)
			}))
			t.Cleanup(app.Close)
			s.SetLoginOrigin(app.URL)
			appURL, _ := url.Parse(app.URL)

			p := probetest.Probe(t, idp.URL, "hydra-login-session-revoke", nil, probetest.CodeLogin, func(p *probe.Probe) {
				p.EndpointURL = idp.URL + "/hydra"
				p.Canaries[0].Attributes["subject"] = "CANARY01"
				if allow {
					p.LoginHosts, _ = hostmatch.ParseList([]string{appURL.Host})
				}
			})
			r := probe.Run(context.Background(), p)
			if allow {
				if r.Result != verdict.Pass {
					t.Fatalf("got %s/%s (%s), want pass", r.Result, r.Reason, r.Detail)
				}
				probetest.AssertAliveThenDead(t, r)
				if appHits.Load() == 0 {
					t.Fatal("the login app was never visited: the test proves nothing")
				}
				return
			}
			if r.Result != verdict.Error || r.Reason != verdict.LoginFailed {
				t.Fatalf("got %s/%s, want error/login_failed", r.Result, r.Reason)
			}
			for _, want := range []string{appURL.Host, "login.allowed_hosts"} {
				if !strings.Contains(r.Detail, want) {
					t.Errorf("detail %q does not name %s", r.Detail, want)
				}
			}
			if n := appHits.Load(); n != 0 {
				t.Errorf("the login app received %d requests, want none", n)
			}
		})
	}
}
