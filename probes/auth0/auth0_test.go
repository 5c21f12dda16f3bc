package auth0_test

import (
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/auth0"
	. "github.com/revprober/revprober/probes/internal/wire/wiretest"
)

type opts = []probetest.Option

// The emulation's default delay: every Auth0 revocation is asynchronous.
const delay = 300 * time.Millisecond

func TestAuth0DeleteSessions(t *testing.T) {
	const kind = "auth0-delete-sessions"
	code := probetest.CodeLogin
	Run(t, "/auth0", []Case{
		{Name: "pass", Kind: kind, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "configured-delay", Kind: kind, Sim: `{"delay":"150ms"}`, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: 150 * time.Millisecond},
		// Tokens are promised to survive: keeping them is no failure.
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access", "keep-refresh"}, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "drift", Kind: kind, Sim: `{"kill_all":true}`, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone,
			Drift: []verdict.Artifact{verdict.AccessToken, verdict.RefreshToken}},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.SessionStillAlive},
		{Name: "slower-than-deadline", Kind: kind, Sim: `{"delay":"5s"}`, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.SessionStillAlive},
		{Name: "403", Kind: kind, Opts: opts{code, NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "insufficient_scope"},
		{Name: "bad-secret", Kind: kind, Opts: opts{code, BadAdminSecret}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "admin client token"},
		{Name: "wrong-audience", Kind: kind, Params: driver.Params{"audience": "https://example.com/other"}, Opts: opts{code}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "access_denied"},
		{Name: "404", Kind: kind, Opts: opts{code, Attr("user_id", "auth0|NOBODY")}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "no Auth0 user"},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Opts: opts{code}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
	})
}

func TestAuth0DeleteRefreshTokens(t *testing.T) {
	const kind = "auth0-delete-refresh-tokens"
	Run(t, "/auth0", []Case{
		{Name: "pass", Kind: kind, Opts: opts{Attr("user_id", "auth0|CANARY01")}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access"}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "drift", Kind: kind, Sim: `{"kill_all":true}`, Result: verdict.Pass, Reason: verdict.ReasonNone, Drift: []verdict.Artifact{verdict.AccessToken}},
		{Name: "keep-refresh", Kind: kind, Faults: []string{"keep-refresh"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "delay", Kind: kind, Faults: []string{"delay=5s"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "403", Kind: kind, Opts: opts{NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "answered 403"},
	})
}

func TestAuth0RevokeAccess(t *testing.T) {
	const kind = "auth0-revoke-access"
	code := probetest.CodeLogin
	Run(t, "/auth0", []Case{
		{Name: "pass", Kind: kind, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access"}, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: delay},
		{Name: "keep-refresh", Kind: kind, Faults: []string{"keep-refresh"}, Opts: opts{Short, RefreshOnly}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
	})
}
