package janssen_test

import (
	"testing"

	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// noGTRFeatures is a Janssen whose feature list leaves out
// GLOBAL_TOKEN_REVOCATION (a non-empty list enables only what it names).
var noGTRFeatures = []string{"revoke_token", "introspection", "userinfo", "end_session", "status_session"}

// TestGlobalTokenRevocationAnswers pins how the driver maps Janssen's
// answers (docs/wire-facts.md §1.1, §1.4) to verdicts. None of them is a pass.
func TestGlobalTokenRevocationAnswers(t *testing.T) {
	const kind = "janssen-global-token-revocation"
	t.Run("no fault", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		want(t, probetest.Probe(t, base, kind, nil), 2, verdict.Pass, verdict.ReasonNone)
	})
	t.Run("by mail", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		want(t, probetest.Probe(t, base, kind, map[string]string{"format": "mail"}), 1, verdict.Pass, verdict.ReasonNone)
	})
	// "email" is the claim, not a user attribute: Janssen finds no user,
	// answers 204 and kills nothing (§1.4). The operator sees the truth.
	t.Run("format email: 204, nothing dies", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, map[string]string{"format": "email", "attribute": "mail"}, short)
		want(t, p, 1, verdict.Fail, verdict.AccessTokenStillActive)
	})
	// The client's registered scopes lack global_token_revocation: Janssen
	// answers 401 invalid_request, not 403 (§0.2).
	t.Run("client lacks the scope: 401", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		want(t, probetest.Probe(t, base, kind, nil, noScope), 1, verdict.Error, verdict.RevokeUnauthorized)
	})
	// GLOBAL_TOKEN_REVOCATION off: discovery leaves the key out (§1.1),
	// and the prober rule is "missing key = endpoint not offered".
	t.Run("feature disabled: not in discovery", func(t *testing.T) {
		t.Parallel()
		base := simWith(t, idpsim.Options{Features: noGTRFeatures})
		want(t, probetest.Probe(t, base, kind, nil), 1, verdict.Error, verdict.EndpointNotOffered)
	})
	// With a configured url the driver calls anyway and gets 403
	// {"error":"access_denied",…}. The body does not say "feature disabled"
	// unless errorReasonEnabled, and access_denied is also what a policy
	// refusal looks like: the driver does not guess, it reports
	// revoke_unauthorized (the endpoint was not exercised). Discovery, not
	// the 403, is how a disabled feature is recognised.
	t.Run("feature disabled but url configured: 403", func(t *testing.T) {
		t.Parallel()
		base := simWith(t, idpsim.Options{Features: noGTRFeatures})
		p := probetest.Probe(t, base, kind, nil, endpointURL(base+"/jans-auth/restv1/global-token-revocation"))
		want(t, p, 1, verdict.Error, verdict.RevokeUnauthorized)
	})
	t.Run("500", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t, "revoke-500")
		want(t, probetest.Probe(t, base, kind, nil), 1, verdict.Error, verdict.RevokeHTTPError)
	})
	t.Run("attribute missing", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, map[string]string{"format": "inum", "attribute": "scim_id"})
		want(t, p, 1, verdict.Error, verdict.ConfigError)
	})
}
