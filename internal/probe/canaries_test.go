package probe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// firstCanaryOnly is a test driver that revokes, through RFC 7009, only
// the first canary's grant: a partial offboarding that forgets a user.
type firstCanaryOnly struct{}

func (firstCanaryOnly) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Unchecked, Resource: verdict.Dies}
}

func (firstCanaryOnly) Revoke(ctx context.Context, env *driver.Env) error {
	for _, g := range env.Canaries[0].Grants {
		if err := oauth.RevokeToken(ctx, env.HTTP, env.Endpoints.Revocation, env.LoginClient, g.RefreshToken, "refresh_token"); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	driver.Register(driver.Info{Kind: "test-first-canary-only", Summary: "test only: revokes the first canary",
		New: func(driver.Params) (driver.Driver, error) { return firstCanaryOnly{}, nil }})
}

// twoCanaries adds canary02 to the probe: a group revoked in one run, as in
// a contractor offboarding.
func twoCanaries(p *probe.Probe) {
	p.Canaries = append(p.Canaries, probe.Canary{Name: "canary02", Username: "canary02", Password: secret.New("canary-password-02"),
		Attributes: map[string]string{"uid": "canary02", "mail": "canary02@example.com", "user_dn": "inum=CANARY02,ou=people,o=jans", "user_id": "CANARY02"}})
}

// TestCanaryGroup: every canary of the probe is logged in, checked alive,
// revoked and checked dead; one surviving canary fails the run by name.
func TestCanaryGroup(t *testing.T) {
	t.Parallel()
	t.Run("global revocation of both", func(t *testing.T) {
		t.Parallel()
		_, base := sim(t)
		p := newProbe(t, base, "janssen-global-token-revocation", nil, twoCanaries)
		for i := 0; i < 5; i++ {
			r := probe.Run(context.Background(), p)
			if r.Result != verdict.Pass {
				t.Fatalf("run %d: got %s/%s: %s", i, r.Result, r.Reason, r.Detail)
			}
			assertAliveThenDead(t, r)
			per := map[string]int{}
			for _, c := range r.Checks {
				per[c.Canary]++
			}
			// introspection, userinfo and refresh for each canary
			if per["canary01"] != 3 || per["canary02"] != 3 || len(per) != 2 {
				t.Fatalf("run %d: observations per canary %v, want 3 each", i, per)
			}
		}
	})
	t.Run("only the first revoked", func(t *testing.T) {
		t.Parallel()
		_, base := sim(t)
		p := newProbe(t, base, "test-first-canary-only", nil, twoCanaries, func(p *probe.Probe) { p.Deadline = 300 * time.Millisecond })
		r := probe.Run(context.Background(), p)
		if r.Result != verdict.Fail || r.Reason != verdict.AccessTokenStillActive {
			t.Fatalf("got %s/%s: %s", r.Result, r.Reason, r.Detail)
		}
		if !strings.Contains(r.Detail, "canary02") || strings.Contains(r.Detail, "canary01") {
			t.Fatalf("detail %q should name canary02 (and only it)", r.Detail)
		}
		for _, c := range r.Checks {
			want := verdict.Dead
			if c.Canary == "canary02" {
				want = verdict.Alive
			}
			if c.Before != verdict.Alive || c.After != want {
				t.Errorf("%s/%s: before=%s after=%s, want alive then %s", c.Canary, c.Check, c.Before, c.After, want)
			}
		}
		// The clean-up still revokes what canary02 kept alive.
		if !strings.Contains(r.Cleanup, "revoked") {
			t.Errorf("clean-up %q", r.Cleanup)
		}
	})
}
