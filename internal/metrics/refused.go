package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/revprober/revprober/internal/webguard"
)

// newRefused is revprober_http_requests_refused_total, every (handler,
// reason) pair of webguard.Series created at zero.
func newRefused() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_refused_total",
		Help: "Requests to the daemon's HTTP server refused by revprober's own checks (foreign Host, cross-origin, rate limit, busy canary, logout tokens that do not verify or were replayed), by handler and reason."},
		[]string{"handler", "reason"})
	for _, s := range webguard.Series {
		c.WithLabelValues(s[0], s[1])
	}
	return c
}

// Refused counts one refused request. A pair outside webguard.Series is
// not counted: label values stay in their closed lists.
func (m *Metrics) Refused(handler, reason string) {
	for _, s := range webguard.Series {
		if s[0] == handler && s[1] == reason {
			m.refused.WithLabelValues(handler, reason).Inc()
			return
		}
	}
}
