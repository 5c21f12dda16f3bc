package okta_test

import (
	"testing"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	. "github.com/revprober/revprober/probes/internal/wire/wiretest"
	_ "github.com/revprober/revprober/probes/okta"
)

type opts = []probetest.Option

func TestOktaUserSessions(t *testing.T) {
	const kind = "okta-user-sessions"
	code := probetest.CodeLogin
	noTokens := driver.Params{"oauth_tokens": "false"}
	Run(t, "/okta", []Case{
		{Name: "ssws", Kind: kind, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "ssws/session-checks", Kind: kind, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "oauth", Kind: kind, Params: driver.Params{"auth": "oauth"}, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "login-as-id", Kind: kind, Opts: opts{Attr("user_id", "")}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "keep-refresh", Kind: kind, Faults: []string{"keep-refresh"}, Opts: opts{Short, RefreshOnly}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "delay", Kind: kind, Faults: []string{"delay=5s"}, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		// Without oauthTokens only the session is promised.
		{Name: "sessions-only", Kind: kind, Params: noTokens, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "sessions-only/keep-access", Kind: kind, Params: noTokens, Faults: []string{"keep-access", "keep-refresh"}, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "sessions-only/ignore-revocation", Kind: kind, Params: noTokens, Faults: []string{"ignore-revocation"}, Opts: opts{code, Short}, Result: verdict.Fail, Reason: verdict.SessionStillAlive},
		{Name: "sessions-only/drift", Kind: kind, Params: noTokens, Sim: `{"kill_all":true}`, Opts: opts{code}, Result: verdict.Pass, Reason: verdict.ReasonNone,
			Drift: []verdict.Artifact{verdict.AccessToken, verdict.RefreshToken}},
		{Name: "ssws/401", Kind: kind, Opts: opts{BadAdminSecret}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "answered 401"},
		{Name: "ssws/403", Kind: kind, Opts: opts{NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "answered 403"},
		{Name: "oauth/403", Kind: kind, Params: driver.Params{"auth": "oauth"}, Opts: opts{NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "E0000006"},
		{Name: "oauth/bad-secret", Kind: kind, Params: driver.Params{"auth": "oauth"}, Opts: opts{BadAdminSecret}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "admin client token"},
		{Name: "404", Kind: kind, Opts: opts{Attr("user_id", "00uNOBODY")}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "no Okta user"},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
	})
}

func TestOktaGlobalTokenRevocation(t *testing.T) {
	const kind = "okta-global-token-revocation"
	Run(t, "/okta", []Case{
		{Name: "pass", Kind: kind, Opts: opts{probetest.CodeLogin}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "opaque", Kind: kind, Params: driver.Params{"format": "opaque"}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		// RFC 9493 email: {"format":"email","email":…}; the simulator
		// refuses {"format":"email","id":…} with 400.
		{Name: "email", Kind: kind, Params: driver.Params{"format": "email"}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "email/unknown-address", Kind: kind, Params: driver.Params{"format": "email"}, Opts: opts{Attr("mail", "ghost@example.com")}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 404"},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "keep-refresh", Kind: kind, Faults: []string{"keep-refresh"}, Opts: opts{Short, RefreshOnly}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "delay", Kind: kind, Faults: []string{"delay=5s"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "403", Kind: kind, Opts: opts{NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "answered 403"},
		{Name: "404", Kind: kind, Opts: opts{Attr("user_id", "00uNOBODY")}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 404"},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
		{Name: "no-attribute", Kind: kind, Opts: opts{Attr("user_id", "")}, Result: verdict.Error, Reason: verdict.ConfigError, Detail: "no attribute user_id"},
	})
}
