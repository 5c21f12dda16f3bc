package schedule

import (
	"time"

	"github.com/go-co-op/gocron/v2"
)

// gocron plans in wall-clock time (it strips the monotonic reading), while
// its timers run on the monotonic clock. After a step of the wall clock
// back (NTP correcting a clock that ran ahead, a VM resumed from a
// snapshot), it plans each job's next run from the previous planned time,
// which is now in the future by the size of the step: a step back of an
// hour lost an hour of ticks. (A step forward it handles itself: it skips
// to the next run after the new now, without a burst.)
//
// So the scheduler looks for steps: a job of its own compares, every
// clockStepCheck, how far the wall clock moved with how far the monotonic
// clock did. Its timer, armed before a step, still fires on time; when it
// sees a step, every job is planned again from the new now, on its tick
// grid: the next tick of each probe comes within one interval.

// clockStepCheck is how often the scheduler looks for a step of the wall
// clock; clockStepTolerance is the least difference between the two
// clocks' progress taken for a step (below: NTP slewing, timer jitter).
const (
	clockStepCheck     = time.Second
	clockStepTolerance = 500 * time.Millisecond
)

// startClockCheck schedules the step check. Callers hold s.mu.
func (s *Scheduler) startClockCheck() error {
	j, err := s.cron.NewJob(gocron.DurationJob(clockStepCheck), gocron.NewTask(s.checkClock),
		gocron.WithName("revprober-clock-step-check"))
	if err != nil {
		return err
	}
	s.clockJob, s.lastCheck = j, s.opts.Now()
	return nil
}

// checkClock re-plans every job when the wall clock stepped since the last
// check. Readings with a monotonic part (time.Now) tell the two clocks
// apart; a fake clock's readings, which have none, never show a step.
func (s *Scheduler) checkClock() {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.lastCheck
	s.lastCheck = now
	step := now.Round(0).Sub(last.Round(0)) - now.Sub(last)
	if step.Abs() < clockStepTolerance {
		return
	}
	s.opts.Logger.Warn("the wall clock stepped: planning every probe's next tick again", "step", step.Round(time.Millisecond))
	for id, j := range s.jobs {
		if err := s.cron.RemoveJob(j.ID()); err != nil {
			s.opts.Logger.Error("re-planning after a clock step", "probe", id, "err", err)
			continue
		}
		delete(s.jobs, id)
		if err := s.addJob(id, s.probes[id]); err != nil {
			s.opts.Logger.Error("re-planning after a clock step", "probe", id, "err", err)
		}
	}
	if err := s.cron.RemoveJob(s.clockJob.ID()); err == nil {
		if err := s.startClockCheck(); err != nil {
			s.opts.Logger.Error("re-planning the clock step check", "err", err)
		}
	}
}
