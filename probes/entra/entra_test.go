package entra_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/entra"
	. "github.com/revprober/revprober/probes/internal/wire/wiretest"
)

type opts = []probetest.Option

// The emulation's default delay (the real service: minutes).
const delay = 500 * time.Millisecond

func TestEntraRevokeSignInSessions(t *testing.T) {
	const kind = "entra-revoke-signin-sessions"
	code := probetest.CodeLogin
	Run(t, "/entra", []Case{
		{Name: "pass", Kind: kind, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "upn", Kind: kind, Params: driver.Params{"attribute": "mail"}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "configured-delay", Kind: kind, Sim: `{"delay":"250ms"}`, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: 250 * time.Millisecond},
		// Access tokens are promised to survive until exp.
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access"}, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "drift", Kind: kind, Sim: `{"kill_all":true}`, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Drift: []verdict.Artifact{verdict.AccessToken}},
		{Name: "keep-refresh", Kind: kind, Faults: []string{"keep-refresh"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "slower-than-deadline", Kind: kind, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "403", Kind: kind, Opts: opts{NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "Authorization_RequestDenied"},
		{Name: "bad-secret", Kind: kind, Opts: opts{BadAdminSecret}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "admin client token"},
		{Name: "404", Kind: kind, Opts: opts{Attr("user_id", "nobody@example.com")}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "no Entra user"},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
	})
}

// TestEntraTokenURL: the admin token from a token_url other than the
// target's token endpoint (the emulation's tenant token endpoint).
func TestEntraTokenURL(t *testing.T) {
	_, base := probetest.Sim(t)
	p := probetest.Probe(t, base, "entra-revoke-signin-sessions",
		driver.Params{"token_url": base + "/entra/contoso.onmicrosoft.com/oauth2/v2.0/token"}, URL(base+"/entra"))
	if r := probe.Run(context.Background(), p); r.Result != verdict.Pass {
		t.Fatalf("got %s/%s: %s", r.Result, r.Reason, r.Detail)
	}
}

// TestEntraAnswers: only 200 with value:true is accepted.
func TestEntraAnswers(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		reason verdict.Reason
		detail string
	}{
		{200, `{"@odata.context":"x","value":false}`, verdict.RevokeHTTPError, "value:false"},
		{200, `{"@odata.context":"x"}`, verdict.RevokeHTTPError, "without a boolean"},
		{204, ``, verdict.RevokeHTTPError, "answered 204"},
		{401, `{"error":{"code":"InvalidAuthenticationToken"}}`, verdict.RevokeUnauthorized, "answered 401"},
		{503, `{"error":{"code":"serviceNotAvailable"}}`, verdict.RevokeHTTPError, "answered 503"},
	} {
		t.Run(tc.detail, func(t *testing.T) {
			t.Parallel()
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1.0/users/CANARY01/revokeSignInSessions") ||
					!strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
					http.Error(w, "unexpected request", http.StatusTeapot)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(graph.Close)
			_, base := probetest.Sim(t)
			p := probetest.Probe(t, base, "entra-revoke-signin-sessions", nil, URL(graph.URL))
			r := probe.Run(context.Background(), p)
			if r.Result != verdict.Error || r.Reason != tc.reason || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("got %s/%s (%s), want error/%s saying %q", r.Result, r.Reason, r.Detail, tc.reason, tc.detail)
			}
		})
	}
}
