package schedule

import (
	"context"
	"errors"
	"fmt"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// ErrLeaseLost is the cause a coordinator stops a run with when its hold
// on the canary is a lease it could not renew: another replica may take
// the canary once the lease ends, so the run must end first, and its
// observations cannot be trusted to be the only ones on the canary.
var ErrLeaseLost = errors.New("the canary's lease could not be renewed")

type stopRunKey struct{}

// StopRun returns the function that stops the run whose canary was
// acquired with ctx, or nil outside a run. A coordinator whose hold can be
// lost while the run goes on (a lease that must be renewed) calls it with
// an error wrapping ErrLeaseLost; the run's context is cancelled with that
// cause, its clean-up still runs (on a context of its own) and the run is
// recorded as an error, never a pass.
func StopRun(ctx context.Context) context.CancelCauseFunc {
	f, _ := ctx.Value(stopRunKey{}).(context.CancelCauseFunc)
	return f
}

// runContext is the context of one run: cancelled by the parent
// (shutdown) or by the coordinator through StopRun.
func runContext(parent context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	return context.WithValue(ctx, stopRunKey{}, cancel), cancel
}

// ContextTryAcquirer is a TryAcquirer whose hold can be lost during the
// run: it gets the run's context, for StopRun.
type ContextTryAcquirer interface {
	TryAcquireContext(ctx context.Context, p *probe.Probe) (release func(), ok bool)
}

// leaseLost turns a run stopped because its lease was lost into an error
// (whatever it found: part of it may have run while another replica could
// use the canary). It reports whether it did.
func leaseLost(ctx context.Context, run *verdict.Run) bool {
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrLeaseLost) {
		return false
	}
	detail := fmt.Sprintf("run stopped: %v; no verdict (another replica may have used the canary once the lease ended)", cause)
	if run.Result != verdict.Pass && run.Detail != "" {
		detail += "; the run had found: " + run.Detail
	}
	run.Result, run.Reason, run.Detail = verdict.Error, verdict.Interference, detail
	return true
}
