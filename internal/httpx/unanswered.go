package httpx

import (
	"net/http"
	"slices"
)

// A server that restarts with empty state (an identity provider whose
// tokens live in memory, or whose store was reset) kills every token it
// issued without any revocation. From outside, the only trace of such a
// restart is a request that got no answer from the server: a refused or
// reset connection, an exchange cut by the request timeout, or a gateway
// answering for it (502, 503, 504) while the server is away. The trace
// counts those, so that a run can refuse to credit a death it observed
// after one (see probe: a restart is not a revocation).

// maxUnanswered bounds the hosts remembered for unanswered requests; the
// count goes on.
const maxUnanswered = 256

// gatewayStatus reports whether a status is a proxy saying that the server
// behind it did not answer (or that no server is there to answer).
func gatewayStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// Unanswered is how many requests of the run have gone unanswered so far.
// Use it as a mark: UnansweredHosts(mark, Unanswered()) names the hosts
// that stopped answering in between.
func (t *Trace) Unanswered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unansweredN
}

// UnansweredHosts names, once each and in order, the hosts of the
// unanswered requests number from (inclusive) to to (exclusive).
func (t *Trace) UnansweredHosts(from, to int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for i := from; i < to && i < len(t.unanswered); i++ {
		if !slices.Contains(out, t.unanswered[i]) {
			out = append(out, t.unanswered[i])
		}
	}
	if len(out) == 0 && to > from {
		out = append(out, "(host not recorded)")
	}
	return out
}

func (t *Trace) noteUnanswered(host string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unansweredN++
	if len(t.unanswered) < maxUnanswered {
		t.unanswered = append(t.unanswered, host)
	}
}

// unanswered records, for the exchange x, an error or a gateway status that
// means the server did not answer. An exchange cut by the run's own end is
// the run's doing, not the server's, and is not counted.
func (x *exchange) unanswered(err error, status int) {
	if x.tr == nil || x.parent.Err() != nil {
		return
	}
	if err != nil || gatewayStatus(status) {
		x.tr.noteUnanswered(x.host)
	}
}
