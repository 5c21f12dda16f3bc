package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/revprober/revprober/internal/verdict"
)

// An identity provider that restarts with empty state (tokens in memory, a
// store reset by its deployment) kills every token it issued without any
// revocation: a death observed after such a restart proves nothing about
// the revocation endpoint. From outside, a restart shows only as requests
// that got no answer (connection refused or reset, the request timeout, a
// gateway's 502/503/504: httpx.Trace counts them). So:
//
//   - an unanswered request between the positive control and the
//     revocation has the positive control made again, right before the
//     revocation: tokens found dead then are interference, never a pass;
//   - an unanswered request between the (last) positive control and the
//     end of verification leaves no death credited to the revocation: what
//     would have been a pass is an error (interference) naming the hosts.
//
// A fail stands whatever happened: an artifact alive at the deadline was
// not revoked, restart or not.

// reestablishControl makes the positive control again when a request went
// unanswered since it was made.
func (r *runner) reestablishControl(ctx context.Context) error {
	mark := r.controlMark
	if r.trace.Unanswered() == mark {
		return nil
	}
	hosts := strings.Join(r.trace.UnansweredHosts(mark, r.trace.Unanswered()), ", ")
	err := r.step(verdict.StepPositive, func() error { return r.positiveControl(ctx) })
	var ve *verdict.Err
	if errors.As(err, &ve) && ve.Reason == verdict.Interference {
		return verdict.Errorf(verdict.Interference, "%s did not answer a request after the positive control (it may have restarted and lost its state), and the positive control made again before the revocation failed: %v", hosts, ve.Err)
	}
	if err != nil {
		return err
	}
	r.note("%s did not answer a request after the positive control: the positive control was made again before the revocation, and passed", hosts)
	return nil
}

// restartSuspected reports whether a request went unanswered between the
// last positive control and the end of verification.
func (r *runner) restartSuspected() bool { return r.verifyMark > r.controlMark }

// uncredit turns what would have been a pass into interference.
func (r *runner) uncredit() {
	r.run.Result, r.run.Reason = verdict.Error, verdict.Interference
	r.run.Detail = fmt.Sprintf("%s did not answer %d request(s) between the positive control and the end of verification "+
		"(connection refused or reset, request timeout, or a gateway's 502/503/504): the identity provider may have restarted and lost "+
		"the canary's tokens, so their death is not credited to the revocation", r.silentHosts(), r.verifyMark-r.controlMark)
}

// uncreditDeaths takes, whatever the verdict, the latencies off the deaths
// observed in a run where a request went unanswered: none of them is
// credited to the revocation, so none feeds a latency metric.
func (r *runner) uncreditDeaths() {
	if !r.restartSuspected() {
		return
	}
	for _, c := range r.checks {
		if c.obs.PropagationSeconds == nil && c.obs.HeldSeconds == nil {
			continue
		}
		c.obs.PropagationSeconds, c.obs.HeldSeconds = nil, nil
		c.obs.Detail = "seen dead, but after " + r.silentHosts() + " stopped answering: not credited to the revocation"
	}
}

func (r *runner) silentHosts() string {
	return strings.Join(r.trace.UnansweredHosts(r.controlMark, r.verifyMark), ", ")
}

// restartNote is appended to the detail of an error: a request that went
// unanswered during verification may be why the check could not observe.
func (r *runner) restartNote() string {
	if !r.restartSuspected() {
		return ""
	}
	return fmt.Sprintf(" (%s did not answer %d request(s) after the positive control: the identity provider may have restarted)",
		r.silentHosts(), r.verifyMark-r.controlMark)
}
