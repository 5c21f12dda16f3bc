package probe_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/testenv"
	"github.com/revprober/revprober/internal/verdict"
)

// stepClockAtRevoke steps the run's wall clock when the revocation is sent.
type stepClockAtRevoke struct {
	driver.Driver
	stepped *atomic.Bool
}

func (s stepClockAtRevoke) Revoke(ctx context.Context, env *driver.Env) error {
	s.stepped.Store(true)
	return s.Driver.Revoke(ctx, env)
}

// TestTokenExpiryOnMonotonicClock: the revocation kills nothing
// (ignore-revocation) and the JWT access token expires by itself 3 s after
// it is issued, within the 5 s deadline; the machine's wall clock steps
// back an hour as the revocation is sent. The token's death at its expiry
// must still be seen as expiry (token_expired), not as the revocation: the
// expiry is held on the monotonic clock, not compared with a stepped wall.
func TestTokenExpiryOnMonotonicClock(t *testing.T) {
	var stepped atomic.Bool
	now := func() time.Time {
		n := time.Now()
		if !stepped.Load() {
			return n
		}
		s, ok := testenv.WallStepped(n, -time.Hour)
		if !ok {
			t.Skip("this Go's time.Time cannot be stepped by testenv.WallStepped")
		}
		return s
	}
	base := wrapSim(t, idpsim.Options{JWTAccessTokens: true, AccessTokenTTL: 3 * time.Second, Faults: idpsim.Faults{IgnoreRevocation: true}}, nil)
	p := newProbe(t, base, "janssen-global-token-revocation", nil, probetest.Deadline(5*time.Second), func(p *probe.Probe) {
		p.Checks.Refresh = false // the refresh token outlives the access token: the access token's death is the question
		p.Driver = stepClockAtRevoke{Driver: p.Driver, stepped: &stepped}
	})
	r := probe.RunWithClock(context.Background(), p, now)
	if !stepped.Load() {
		t.Fatalf("the revocation was never sent: %s/%s (%s)", r.Result, r.Reason, r.Detail)
	}
	if r.Result == verdict.Pass {
		t.Fatalf("pass although nothing was revoked: the access token died of its own expiry, behind a wall clock stepped back an hour (checks %+v)", r.Checks)
	}
	if r.Result != verdict.Error || r.Reason != verdict.TokenExpired {
		t.Fatalf("got %s/%s (%s), want error/token_expired", r.Result, r.Reason, r.Detail)
	}
}
