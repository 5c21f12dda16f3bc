package schedule

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// losingCoordinator grants the canary, then loses its lease while the run
// goes on, as the Redis coordinator does when it cannot renew.
type losingCoordinator struct{ lost chan struct{} }

func (c *losingCoordinator) Acquire(ctx context.Context, _ *probe.Probe, _ time.Time) (func(), string, error) {
	stop := StopRun(ctx)
	if stop == nil {
		return nil, "", fmt.Errorf("no StopRun in the run's context")
	}
	go func() {
		<-c.lost
		stop(fmt.Errorf("%w: test", ErrLeaseLost))
	}()
	return func() {}, "", nil
}

// TestLeaseLostRunIsNeverAPass: a run whose lease was lost is stopped
// (its context cancelled with the cause) and recorded as an error, even
// when the run function, cut short, says pass.
func TestLeaseLostRunIsNeverAPass(t *testing.T) {
	c := &losingCoordinator{lost: make(chan struct{})}
	var recorded *verdict.Run
	s, err := New(Options{Coordinator: c,
		Recorders: []Recorder{RecorderFunc(func(r *verdict.Run) { recorded = r })},
		Run: func(ctx context.Context, p *probe.Probe) *verdict.Run {
			close(c.lost)
			<-ctx.Done()
			return &verdict.Run{ID: "r", Result: verdict.Pass, Reason: verdict.ReasonNone}
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := &probe.Probe{Target: "t", Endpoint: "e", Interval: time.Hour, Timeout: time.Minute}
	if _, _, err := s.RunOnce(context.Background(), p, time.Now()); err != nil {
		t.Fatal(err)
	}
	if recorded == nil || recorded.Result != verdict.Error || recorded.Reason != verdict.Interference {
		t.Fatalf("recorded %+v; want error/interference", recorded)
	}
}
