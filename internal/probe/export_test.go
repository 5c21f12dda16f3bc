package probe

import (
	"context"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// RunWithClock is Run with the run's clock replaced (tests of clock steps).
func RunWithClock(ctx context.Context, p *Probe, now func() time.Time) *verdict.Run {
	r := newRunner(p)
	r.now = now
	return r.drive(ctx, (*runner).execute, (*runner).judge)
}
