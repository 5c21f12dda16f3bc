package janssen_test

import (
	"testing"

	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/verdict"
)

// TestGlobalTokenRevocationAnswers pins how the driver maps Janssen's
// answers (endpoints.md §1.1, §1.4) to verdicts. None of them is a pass.
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
	t.Run("attribute missing", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, map[string]string{"format": "inum", "attribute": "scim_id"})
		want(t, p, 1, verdict.Error, verdict.ConfigError)
	})
}
