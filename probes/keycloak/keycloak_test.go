package keycloak_test

import (
	"testing"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	. "github.com/revprober/revprober/probes/internal/wire/wiretest"
	_ "github.com/revprober/revprober/probes/keycloak"
)

type opts = []probetest.Option

func TestKeycloak(t *testing.T) {
	const logout, consent = "keycloak-user-logout", "keycloak-offline-consent"
	realm := driver.Params{"realm": "demo"}
	otherUser := func(p *probe.Probe) { p.Canaries[0].Username = "canary01@example.com" }
	Run(t, "/keycloak", []Case{
		{Name: "logout", Kind: logout, Params: realm, Opts: opts{Online}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "logout/session-checks", Kind: logout, Params: realm, Opts: opts{Online, probetest.CodeLogin}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "logout/username-lookup", Kind: logout, Params: realm, Opts: opts{Online, Attr("user_id", "")}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "logout/admin-realm", Kind: logout, Params: driver.Params{"realm": "demo", "admin_realm": "master"}, Opts: opts{Online}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		// An offline refresh token is not the user logout's to kill.
		{Name: "logout/offline-token", Kind: logout, Params: realm, Opts: opts{Short, RefreshOnly}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "logout/ignore-revocation", Kind: logout, Params: realm, Faults: []string{"ignore-revocation"}, Opts: opts{Online, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "logout/keep-refresh", Kind: logout, Params: realm, Faults: []string{"keep-refresh"}, Opts: opts{Online, Short, RefreshOnly}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "logout/keep-access", Kind: logout, Params: realm, Faults: []string{"keep-access"}, Opts: opts{Online, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "logout/delay", Kind: logout, Params: realm, Faults: []string{"delay=5s"}, Opts: opts{Online, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "logout/delay-within-deadline", Kind: logout, Params: realm, Faults: []string{"delay=200ms"}, Opts: opts{Online}, Result: verdict.Pass, Reason: verdict.ReasonNone, Propagation: 200e6},
		{Name: "logout/bad-admin-secret", Kind: logout, Params: realm, Opts: opts{Online, BadAdminSecret}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "admin client token"},
		{Name: "logout/403", Kind: logout, Params: realm, Opts: opts{Online, NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "answered 403"},
		{Name: "logout/404", Kind: logout, Params: realm, Opts: opts{Online, Attr("user_id", "NOBODY")}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "not found"},
		{Name: "logout/lookup-miss", Kind: logout, Params: realm, Opts: opts{Online, Attr("user_id", ""), otherUser}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "found no user"},
		{Name: "logout/500", Kind: logout, Params: realm, Faults: []string{"revoke-500"}, Opts: opts{Online}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
		{Name: "logout/no-realm", Kind: logout, Opts: opts{Online}, Result: verdict.Error, Reason: verdict.ConfigError, Detail: "no realm"},
		{Name: "consent", Kind: consent, Params: realm, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "consent/client-param", Kind: consent, Params: driver.Params{"realm": "demo", "client_id": "canary-app"}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		// The access token is not promised: keeping it does not fail.
		{Name: "consent/keep-access", Kind: consent, Params: realm, Faults: []string{"keep-access"}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "consent/keep-refresh", Kind: consent, Params: realm, Faults: []string{"keep-refresh"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "consent/ignore-revocation", Kind: consent, Params: realm, Faults: []string{"ignore-revocation"}, Opts: opts{Short}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "consent/no-offline-token", Kind: consent, Params: realm, Opts: opts{Online}, Result: verdict.Error, Reason: verdict.NoSession, Detail: "no consent or offline token"},
		{Name: "consent/other-client", Kind: consent, Params: driver.Params{"realm": "demo", "client_id": "revprober-admin"}, Result: verdict.Error, Reason: verdict.NoSession, Detail: "404"},
		{Name: "consent/403", Kind: consent, Params: realm, Opts: opts{NoScopeAdmin}, Result: verdict.Error, Reason: verdict.RevokeUnauthorized, Detail: "answered 403"},
	})
}
