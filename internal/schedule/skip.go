package schedule

import (
	"time"

	"github.com/revprober/revprober/internal/probe"
)

// Skip is a scheduled run that did not happen.
type Skip struct {
	Target, Endpoint string
	// Reason is one of the Skip* constants.
	Reason string
	// At is when the scheduler gave the tick up.
	At time.Time
}

// SkipRecorder is a Recorder that also wants the scheduled runs that did
// not happen: the status page shows them (a verdict that is not renewed
// must say why) and logs their streaks.
type SkipRecorder interface {
	RecordSkip(Skip)
}

// skipped reports a tick given up: to the skip counter, and to every
// recorder that wants skips.
func (s *Scheduler) skipped(p *probe.Probe, reason string) {
	if s.opts.Skipped != nil {
		s.opts.Skipped(p.Target, p.Endpoint, reason)
	}
	sk := Skip{Target: p.Target, Endpoint: p.Endpoint, Reason: reason, At: s.opts.Now()}
	for _, r := range s.opts.Recorders {
		if sr, ok := r.(SkipRecorder); ok {
			sr.RecordSkip(sk)
		}
	}
}
