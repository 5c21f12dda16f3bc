package webguard

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Refusals logs and counts refused requests. A flood must not flood the
// log: per (handler, reason) it writes the first refusal, then at most one
// line per Every, which says how many refusals it did not write since the
// previous one. Count sees every refusal.
type Refusals struct {
	log   *slog.Logger
	count func(handler, reason string)
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	state map[[2]string]*refusalState // bounded: handlers × reasons, closed lists
}

type refusalState struct {
	logged     time.Time
	suppressed int
}

// DefaultEvery is how often one kind of refusal is logged at most.
const DefaultEvery = time.Minute

// NewRefusals logs to log (nil: nowhere) at most once per every (0:
// DefaultEvery) per handler and reason, and calls count (if not nil) for
// every refusal.
func NewRefusals(log *slog.Logger, every time.Duration, count func(handler, reason string)) *Refusals {
	if every <= 0 {
		every = DefaultEvery
	}
	return &Refusals{log: log, count: count, every: every, now: time.Now, state: map[[2]string]*refusalState{}}
}

// maxLogged bounds what a refused request's own text adds to a log line.
const maxLogged = 128

// Refuse records one refused request. attrs add context as key-value
// pairs (never a token, never a credential; string values are cut like the
// request's own). Safe on a nil *Refusals.
func (f *Refusals) Refuse(r *http.Request, handler, reason string, attrs ...any) {
	if f == nil {
		return
	}
	if f.count != nil {
		f.count(handler, reason)
	}
	if f.log == nil {
		return
	}
	now := f.now()
	key := [2]string{handler, reason}
	f.mu.Lock()
	st := f.state[key]
	if st == nil {
		st = &refusalState{}
		f.state[key] = st
	}
	if !st.logged.IsZero() && now.Sub(st.logged) < f.every {
		st.suppressed++
		f.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.logged, st.suppressed = now, 0
	f.mu.Unlock()

	args := []any{"handler", handler, "reason", reason}
	if r != nil {
		remote, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			remote = r.RemoteAddr
		}
		args = append(args, "remote", cut(remote), "method", cut(r.Method), "path", cut(r.URL.Path), "host", cut(r.Host))
		if o := r.Header.Get("Origin"); o != "" {
			args = append(args, "origin", cut(o))
		}
		if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
			args = append(args, "sec_fetch_site", cut(s))
		}
	}
	for i := 1; i < len(attrs); i += 2 {
		if s, ok := attrs[i].(string); ok {
			attrs[i] = cut(s) // a token's kid, for one, is the sender's text
		}
	}
	args = append(args, attrs...)
	args = append(args, "not_logged_since_last", suppressed, "log_at_most_every", f.every.String())
	f.log.Warn("request refused", args...)
}

// cut bounds attacker-chosen text in a log line (slog quotes it, so it
// cannot forge a line either).
func cut(s string) string {
	if len(s) > maxLogged {
		return s[:maxLogged] + "…"
	}
	return s
}
