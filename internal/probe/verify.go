package probe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/verdict"
)

// verification is where a promised-dead check stands after the revocation.
// It starts pending; confirmations dead answers in a row settle it dead;
// it must then stay dead through its hold window (Probe.Hold from its
// first dead answer), observed at a low rate. One dead moment is not a
// revocation: a stale replica or a cache that repopulates brings the
// artifact back, and a pass would tell its reader that access is cut.
type verification struct {
	// deadStreak counts the dead answers in a row; firstDead is when the
	// first of them was sent.
	deadStreak int
	firstDead  time.Time
	dead       bool // settled dead (and not come back)
	held       bool // still dead at the end of the hold window
	cameBack   bool // seen alive after it was settled dead
	expired    bool // still pending at the deadline
	lastChance bool // given its confirming poll at the deadline
	next       time.Time
}

// settled reports whether the check needs no more polls.
func (c *check) settled() bool { return c.held || c.cameBack || c.reason != "" || c.expired }

// verify polls every promised-dead check until it is settled dead and
// held, came back, or the propagation deadline passes with it pending.
// A pending check is polled at an interval that grows with the time since
// the revocation (5 % of it, within PollInitial..PollMax), so the measured
// latency is within about 5 % of the truth without hammering the IdP; a
// holding check about every hold/holdLooks, never more often than that
// growing interval, the last look at the hold's end, so the hold costs
// holdLooks requests per check. Verification
// stops early once a fail is certain (an artifact alive at the deadline).
// Artifacts promised to survive are looked at once, after the holds.
func (r *runner) verify(ctx context.Context) error {
	deadline := r.revoked.Add(r.p.Deadline)
	// No hold is observed past end: an artifact dies by the deadline.
	end := deadline.Add(r.p.Hold)
	var active []*check
	for _, c := range r.checks {
		if c.obs.Expect == verdict.Dies {
			c.next = r.revoked
			active = append(active, c)
		}
	}
	for len(active) > 0 {
		for _, c := range active {
			if r.now().Before(c.next) {
				continue
			}
			if err := r.poll(ctx, c); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return verdict.Errorf(verdict.Timeout, "%s", r.timeoutDetail())
			}
			c.next = r.nextPoll(c, deadline)
		}
		now := r.now()
		still, certainFail := active[:0], false
		for _, c := range active {
			switch {
			case c.settled():
			case c.dead:
				// Holding. An answer that could not be had at the end of the
				// window leaves the hold unobserved: an error, never "held".
				if now.Before(end) || c.obs.After != verdict.Failed {
					still = append(still, c)
				}
			case now.Before(deadline):
				still = append(still, c)
			case c.deadStreak > 0 && !c.lastChance:
				// Seen dead at the last poll: it gets its confirmation now.
				c.lastChance, c.next = true, now
				still = append(still, c)
			default:
				c.expired = true
				certainFail = certainFail || c.obs.After == verdict.Alive
			}
		}
		active = still
		if certainFail || len(active) == 0 {
			break
		}
		next := active[0].next
		for _, c := range active[1:] {
			if c.next.Before(next) {
				next = c.next
			}
		}
		if err := r.sleepUntil(ctx, next); err != nil {
			return err
		}
	}
	// Artifacts promised to survive are looked at once: found dead is
	// drift (the IdP changed behaviour), never a failure.
	for _, c := range r.checks {
		if c.obs.Expect != verdict.Survives {
			continue
		}
		st, err := r.observe(ctx, c)
		c.obs.Polls++
		if ctx.Err() != nil {
			return verdict.Errorf(verdict.Timeout, "%s", r.timeoutDetail())
		}
		c.obs.After, c.lastErr = st, err
		if st == verdict.Dead {
			c.obs.Drift = true
			c.dead = true
		}
	}
	return nil
}

// nextPoll is when check c is due again.
func (r *runner) nextPoll(c *check, deadline time.Time) time.Time {
	now := r.now()
	grow := max(r.p.PollInitial, min(now.Sub(r.revoked)/20, r.p.PollMax))
	if !c.dead {
		if next := now.Add(grow); next.Before(deadline) || !now.Before(deadline) {
			return next
		}
		return deadline // a poll right at the deadline
	}
	holdEnd := c.firstDead.Add(r.p.Hold)
	return now.Add(max(min(r.p.Hold/holdLooks, holdEnd.Sub(now)), grow))
}

// holdLooks is how many times a settled check is looked at through its
// hold, evenly spread, the last at the hold's end. A comeback that lasts
// is seen by the last look whatever the count; the earlier ones catch a
// brief one and tell early when it started. Every look is a request per
// check per run (and, at a 1-minute interval, a wake-up of an otherwise
// idle prober): three is the fewest that still looks inside the window
// twice before its end.
const holdLooks = 3

func (r *runner) sleepUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(r.now())
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return verdict.Errorf(verdict.Timeout, "%s", r.timeoutDetail())
	case <-tm.C:
		return nil
	}
}

// poll observes a promised-dead check once and moves it along. Pending: a
// dead answer starts or extends the streak (the first one of a streak
// gives the propagation latency), an alive answer ends it, an answer that
// could not be had leaves it as it is; a dead access token at or after its
// own expiry settles the check as an error (expiry may have killed it).
// Settled dead: an alive answer is a comeback; a dead one at or after the
// end of the hold window completes the hold.
func (r *runner) poll(ctx context.Context, c *check) error {
	sent := r.now()
	st, err := r.observe(ctx, c)
	c.obs.Polls++
	if ctx.Err() != nil {
		return nil // the caller reports the timeout
	}
	c.obs.After, c.lastErr = st, err
	if c.dead {
		r.holdAnswer(c, st, sent)
		return nil
	}
	switch st {
	case verdict.Alive:
		c.deadStreak, c.obs.PropagationSeconds = 0, nil
	case verdict.Dead:
		if exp := c.canary.atExpiry; c.obs.Artifact != verdict.RefreshToken && c.obs.Artifact != verdict.Session &&
			!exp.IsZero() && !sent.Before(exp.Add(-expirySkew)) {
			c.obs.After, c.reason = verdict.Failed, verdict.TokenExpired
			c.lastErr = fmt.Errorf("the access token was first seen dead %s after the revocation, when it had reached its own expiry: expiry, not the revocation, may have killed it (use a deadline shorter than the token lifetime)",
				sent.Sub(r.revoked).Round(time.Millisecond))
			return nil
		}
		c.deadStreak++
		if c.deadStreak == 1 {
			c.firstDead = sent
			lat := sent.Sub(r.revoked).Seconds()
			if c.wait != nil { // the notification's own arrival time
				at, _ := c.wait.Arrived()
				if at.Before(r.revoked) {
					// Sent before our revocation: someone else logged
					// the canary out. Not proof of this endpoint.
					return verdict.Errorf(verdict.Interference, "a back-channel logout token for canary %s arrived before the revocation", c.canary.spec.Name)
				}
				lat = at.Sub(r.revoked).Seconds()
			}
			c.obs.PropagationSeconds = &lat
		}
		if c.deadStreak >= confirmations {
			c.dead = true
			// A logout notification cannot be taken back: nothing to hold.
			r.holdAnswer(c, st, sent)
			c.held = c.held || c.wait != nil
		}
	}
	return nil
}

// holdAnswer records an answer about a check settled dead.
func (r *runner) holdAnswer(c *check, st verdict.State, sent time.Time) {
	switch st {
	case verdict.Alive:
		first, back := *c.obs.PropagationSeconds, sent.Sub(r.revoked).Seconds()
		c.dead, c.cameBack = false, true
		c.obs.FirstDeadSeconds, c.obs.CameBackSeconds, c.obs.PropagationSeconds = &first, &back, nil
		c.obs.Detail = fmt.Sprintf("seen dead %s after the revocation, alive again %s after it", seconds(first), seconds(back))
	case verdict.Dead:
		held := sent.Sub(c.firstDead).Seconds()
		c.obs.HeldSeconds = &held
		c.held = !sent.Before(c.firstDead.Add(r.p.Hold))
	}
}

// timeoutDetail says where the run timeout struck: in which step, where
// that was against the revocation and the propagation deadline, and which
// requests it cut (or that none was in flight).
func (r *runner) timeoutDetail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the run timeout (%s) cut the run short in step %s", r.p.Timeout, r.stepNow)
	switch since := r.now().Sub(r.revoked); {
	case r.revoked.IsZero():
		b.WriteString(", before the revocation")
	case since < r.p.Deadline:
		fmt.Fprintf(&b, ", %s after the revocation, before the propagation deadline (%s)", since.Round(time.Millisecond), r.p.Deadline)
	default:
		fmt.Fprintf(&b, ", %s after the revocation, past the propagation deadline (%s)", since.Round(time.Millisecond), r.p.Deadline)
	}
	if cut := r.trace.Interrupted(); len(cut) > 0 {
		fmt.Fprintf(&b, ", while waiting for %s", strings.Join(cut, ", "))
	} else {
		b.WriteString(", while no request was in flight")
	}
	return b.String()
}

// interruptedDetail says where the prober's own shutdown (cause) cut the
// run: in which step, and where that was against the revocation.
func (r *runner) interruptedDetail(cause error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the run was interrupted (%v) in step %s", cause, r.stepNow)
	if r.revoked.IsZero() {
		b.WriteString(", before the revocation")
	} else {
		fmt.Fprintf(&b, ", %s after the revocation", r.now().Sub(r.revoked).Round(time.Millisecond))
	}
	b.WriteString(": no verdict; the clean-up still ran")
	return b.String()
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}
