package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// TestHostileIdP: an IdP that answers garbage, oversized bodies, the
// wrong content type, redirects elsewhere or nothing at all gives an
// error with a reason: never a pass, never a crash.
func TestHostileIdP(t *testing.T) {
	huge := strings.Repeat("A", 2<<20) // over the 1 MiB cap
	cases := []struct {
		name string
		// sabotage answers instead of the simulator for matching requests.
		match    func(r *http.Request) bool
		sabotage http.HandlerFunc
		login    string
		reason   verdict.Reason
	}{
		{"discovery garbage", hasSuffix("/openid-configuration"), text(200, "<html>not json</html>"), "password", verdict.DiscoveryFailed},
		{"discovery oversized", hasSuffix("/openid-configuration"), text(200, `{"issuer":"`+huge+`"}`), "password", verdict.DiscoveryFailed},
		{"token endpoint garbage", hasSuffix("/restv1/token"), text(200, "%%%"), "password", verdict.LoginFailed},
		{"token endpoint closes the connection", hasSuffix("/restv1/token"), hangUp, "password", verdict.LoginFailed},
		{"login page redirects to another host", hasSuffix("/restv1/authorize"), redirect("http://evil.example/steal"), "authorization_code", verdict.LoginFailed},
		{"login page oversized", hasSuffix("/restv1/authorize"), text(200, huge), "authorization_code", verdict.LoginFailed},
		{"introspection answers HTML", hasSuffix("/restv1/introspection"), text(200, "<html>ok</html>"), "password", verdict.IntrospectionUnavailable},
		{"introspection without active", hasSuffix("/restv1/introspection"), text(200, `{"scope":"openid"}`), "password", verdict.IntrospectionUnavailable},
		{"introspection oversized", hasSuffix("/restv1/introspection"), text(200, `{"active":true,"x":"`+huge+`"}`), "password", verdict.IntrospectionUnavailable},
		{"userinfo 502", hasSuffix("/restv1/userinfo"), text(502, "bad gateway"), "password", verdict.UserinfoUnavailable},
		{"revocation closes the connection", hasSuffix("/global-token-revocation"), hangUp, "password", verdict.RevokeHTTPError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim := idpsim.New(idpsim.Options{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.match(r) {
					tc.sabotage(w, r)
					return
				}
				sim.ServeHTTP(w, r)
			}))
			defer ts.Close()
			p := probetest.Probe(t, ts.URL, "janssen-global-token-revocation", nil, func(p *probe.Probe) {
				if tc.login == "authorization_code" {
					probetest.CodeLogin(p)
				}
			})
			r := probe.Run(context.Background(), p)
			if r.Result != verdict.Error || r.Reason != tc.reason {
				t.Fatalf("got %s/%s, want error/%s (detail: %s)", r.Result, r.Reason, tc.reason, r.Detail)
			}
			if len(r.Detail) > 4096 {
				t.Fatalf("the detail carries %d bytes of the hostile answer", len(r.Detail))
			}
		})
	}
}

func hasSuffix(s string) func(*http.Request) bool {
	return func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, s) }
}

func text(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func redirect(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.(net.Conn).Close()
	}
}

// TestIntrospectionActiveNotBoolean: {"active":"false"} is JSON whose
// active member is a string. It is reported as that, and it is an error,
// never "dead".
func TestIntrospectionActiveNotBoolean(t *testing.T) {
	for _, body := range []string{`{"active":"false"}`, `{"active":0}`, `{"active":null}`} {
		sim := idpsim.New(idpsim.Options{})
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/restv1/introspection") {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(body))
				return
			}
			sim.ServeHTTP(w, r)
		}))
		r := probe.Run(context.Background(), probetest.Probe(t, ts.URL, "janssen-global-token-revocation", nil))
		ts.Close()
		if r.Result != verdict.Error || r.Reason != verdict.IntrospectionUnavailable {
			t.Fatalf("%s: got %s/%s (%s), want error/introspection_unavailable", body, r.Result, r.Reason, r.Detail)
		}
		if !strings.Contains(r.Detail, `"active" member is`) || !strings.Contains(r.Detail, "not a boolean") || strings.Contains(r.Detail, "not JSON") {
			t.Errorf("%s: detail %q, want it to say active is not a boolean", body, r.Detail)
		}
	}
}
