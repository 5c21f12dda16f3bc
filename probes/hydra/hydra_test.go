package hydra_test

import (
	"testing"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/hydra"
	. "github.com/revprober/revprober/probes/internal/wire/wiretest"
)

type opts = []probetest.Option

// The simulator's subject (sub) is the inum, which the test canary holds
// as user_id.
var subject = Attr("subject", "CANARY01")

func TestHydraConsentRevoke(t *testing.T) {
	const kind = "hydra-consent-revoke"
	Run(t, "/hydra", []Case{
		{Name: "all", Kind: kind, Opts: opts{subject}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "attribute-param", Kind: kind, Params: driver.Params{"attribute": "user_id"}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "client", Kind: kind, Params: driver.Params{"client": "canary-app"}, Opts: opts{subject}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "other-client", Kind: kind, Params: driver.Params{"client": "other"}, Opts: opts{subject, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		// The login session is not promised either way.
		{Name: "session-checks", Kind: kind, Opts: opts{subject, probetest.CodeLogin}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "drift-is-not-checked-for-sessions", Kind: kind, Sim: `{"kill_all":true}`, Opts: opts{subject, probetest.CodeLogin}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{subject, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "keep-refresh", Kind: kind, Faults: []string{"keep-refresh"}, Opts: opts{subject, Short, RefreshOnly}, Result: verdict.Fail, Reason: verdict.RefreshTokenStillWorks},
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access"}, Opts: opts{subject, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "delay", Kind: kind, Faults: []string{"delay=5s"}, Opts: opts{subject, Short}, Result: verdict.Fail, Reason: verdict.AccessTokenStillActive},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Opts: opts{subject}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
		{Name: "no-subject", Kind: kind, Result: verdict.Error, Reason: verdict.ConfigError, Detail: "no attribute subject"},
	})
}

func TestHydraLoginSessionRevoke(t *testing.T) {
	const kind = "hydra-login-session-revoke"
	code := probetest.CodeLogin
	Run(t, "/hydra", []Case{
		{Name: "pass", Kind: kind, Opts: opts{subject, code}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		// Tokens are promised to survive: keeping them is no failure.
		{Name: "keep-access", Kind: kind, Faults: []string{"keep-access", "keep-refresh"}, Opts: opts{subject, code}, Result: verdict.Pass, Reason: verdict.ReasonNone},
		{Name: "drift", Kind: kind, Sim: `{"kill_all":true}`, Opts: opts{subject, code}, Result: verdict.Pass, Reason: verdict.ReasonNone,
			Drift: []verdict.Artifact{verdict.AccessToken, verdict.RefreshToken}},
		{Name: "ignore-revocation", Kind: kind, Faults: []string{"ignore-revocation"}, Opts: opts{subject, code, Short}, Result: verdict.Fail, Reason: verdict.SessionStillAlive},
		{Name: "delay", Kind: kind, Faults: []string{"delay=5s"}, Opts: opts{subject, code, Short}, Result: verdict.Fail, Reason: verdict.SessionStillAlive},
		{Name: "500", Kind: kind, Faults: []string{"revoke-500"}, Opts: opts{subject, code}, Result: verdict.Error, Reason: verdict.RevokeHTTPError, Detail: "answered 500"},
		// Without a session check nothing promised is verified.
		{Name: "password-login", Kind: kind, Opts: opts{subject}, Result: verdict.Error, Reason: verdict.ConfigError},
	})
}
