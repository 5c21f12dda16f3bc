package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// TryAcquirer is a Coordinator that can take a probe's canary without
// waiting: the status page's "run now" must be refused, not queued, while
// another run holds the canary. LocalCoordinator implements it; a
// cross-replica backend implements it to offer "run now".
type TryAcquirer interface {
	// TryAcquire takes the canary if it is free right now; release must
	// be called after the run.
	TryAcquire(p *probe.Probe) (release func(), ok bool)
}

var (
	// ErrNoProbe is returned by RunNow for an unknown probe id.
	ErrNoProbe = errors.New("no such probe")
	// ErrNoTryAcquire is returned by RunNow when the coordinator cannot
	// take a canary without waiting.
	ErrNoTryAcquire = errors.New("this coordination backend does not support run now")
	// ErrCannotRunHere is returned by RunNow when the coordinator refused
	// the canary for a reason of its own, not because another run holds
	// it (the backend is unreachable, this replica is a standby); the
	// error says which.
	ErrCannotRunHere = errors.New("this replica cannot run the probe now")
)

// RefusalExplainer is a TryAcquirer that can say why it refused a canary
// when the reason is not another run: "the canary is busy" would send an
// operator to wait for a run that does not exist.
type RefusalExplainer interface {
	// WhyRefused returns why p cannot run on this replica now, or nil
	// when nothing but a run holding the canary stops it.
	WhyRefused(p *probe.Probe) error
}

// RunNow runs the loaded probe id ("target/endpoint") at once, outside its
// schedule, if its canary is free; it returns ErrBusy otherwise, or
// ErrCannotRunHere when the coordinator says why it cannot run it at all. The run is
// recorded through the recorders like a scheduled one (with no tick). It
// runs on the scheduler's context, so a caller that goes away does not
// cut it short; Shutdown does.
func (s *Scheduler) RunNow(ctx context.Context, id string) (*verdict.Run, error) {
	p := s.Probe(id)
	if p == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoProbe, id)
	}
	ta, ok := s.opts.Coordinator.(TryAcquirer)
	if !ok {
		return nil, ErrNoTryAcquire
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.ctx.Err() != nil {
		return nil, ErrShuttingDown
	}
	runCtx, stop := runContext(s.ctx)
	defer stop(nil)
	var release func()
	var free bool
	if cta, ok := ta.(ContextTryAcquirer); ok {
		release, free = cta.TryAcquireContext(runCtx, p)
	} else {
		release, free = ta.TryAcquire(p)
	}
	if !free {
		if e, ok := ta.(RefusalExplainer); ok {
			if why := e.WhyRefused(p); why != nil {
				return nil, fmt.Errorf("%s: %w: %w", id, ErrCannotRunHere, why)
			}
		}
		return nil, fmt.Errorf("%s: %w", id, ErrBusy)
	}
	defer release()
	run := s.opts.Run(runCtx, p)
	leaseLost(runCtx, run)
	run.Replica = s.opts.Replica
	for _, r := range s.opts.Recorders {
		r.Record(run)
	}
	s.opts.Logger.Info("probe run now", "probe", p.ID(), "run_id", run.ID, "result", run.Result, "reason", run.Reason, "duration", run.Duration.Round(time.Millisecond))
	return run, nil
}
