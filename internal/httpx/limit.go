package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// A run bounds every HTTP exchange it makes (Trace.SetRequestTimeout), so
// that one answer trickling a byte a second cannot eat the whole run. The
// bound covers the whole exchange, the body read included, like
// http.Client.Timeout; it lives here rather than on the clients because a
// run's requests go through clients it does not build (the oauth2
// library's, a login's own cookie client, the drivers'), and because a
// timed-out exchange must say which request it was: the oauth2 library
// quotes a body-read error with %v, so only the error's text survives.

// RequestTimeoutError is an exchange that got no complete answer within
// the run's request timeout.
type RequestTimeoutError struct {
	Method string
	URL    string // redacted: no query, no user info
	Limit  time.Duration
}

func (e *RequestTimeoutError) Error() string {
	return fmt.Sprintf("%s %s: no complete answer within the request timeout (request_timeout %s)", e.Method, e.URL, e.Limit)
}

// Timeout reports true, as net.Error timeouts do.
func (e *RequestTimeoutError) Timeout() bool { return true }

// SetRequestTimeout bounds every exchange sent under the trace; 0 (the
// default) leaves them unbounded.
func (t *Trace) SetRequestTimeout(d time.Duration) {
	t.mu.Lock()
	t.limit = d
	t.mu.Unlock()
}

func (t *Trace) requestTimeout() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// Interrupted names the exchanges (method and redacted URL) that were cut
// because the context of the run itself ended, not by their own limit:
// what the run was waiting for when its timeout struck.
func (t *Trace) Interrupted() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.interrupted)
}

func (t *Trace) interrupt(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.interrupted, what) && len(t.interrupted) < 8 {
		t.interrupted = append(t.interrupted, what)
	}
}

// exchange is one request in flight under a trace. It is made for every
// request of every run (25 a run, 10,000 runs a minute at scale), so what
// only a cut exchange needs (its text, its *RequestTimeoutError) is built
// when it is cut, not up front.
type exchange struct {
	tr     *Trace
	parent context.Context // the caller's context
	ctx    context.Context // parent, bounded by the request timeout
	cancel context.CancelFunc
	method string
	url    string        // redacted: no query, no user info
	host   string        // the server's host[:port], for unanswered requests
	limit  time.Duration // the request timeout; 0: none
}

// begin bounds req by the trace's request timeout; redacted is
// RedactURL(req.URL). The caller sends the returned request and passes
// every error of the exchange through explain.
func begin(tr *Trace, req *http.Request, redacted string) (*exchange, *http.Request) {
	x := &exchange{tr: tr, parent: req.Context(), ctx: req.Context(), cancel: func() {},
		method: req.Method, url: redacted, host: req.URL.Host}
	if tr == nil {
		return x, req
	}
	if x.limit = tr.requestTimeout(); x.limit > 0 {
		x.ctx, x.cancel = context.WithTimeout(x.parent, x.limit)
		req = req.WithContext(x.ctx)
	}
	return x, req
}

// explain turns an error of the exchange into what happened: the request
// timeout (a *RequestTimeoutError naming the request), or an interruption
// by the run's own end (noted in the trace); other errors pass unchanged.
// The exchange's own deadline passed while the caller's context is still
// live: only the request timeout can have done that.
func (x *exchange) explain(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	if x.limit > 0 && x.parent.Err() == nil && errors.Is(x.ctx.Err(), context.DeadlineExceeded) {
		return &RequestTimeoutError{Method: x.method, URL: x.url, Limit: x.limit}
	}
	if x.parent.Err() != nil && x.tr != nil {
		x.tr.interrupt(x.method + " " + x.url)
	}
	return err
}

// boundedBody is a response body read under the exchange's limit; the
// limit's timer is released when the body is closed.
type boundedBody struct {
	io.ReadCloser
	x *exchange
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		// Cut off mid-answer (a reset, the request timeout): the server
		// did not finish answering.
		b.x.unanswered(err, 0)
	}
	return n, b.x.explain(err)
}

func (b *boundedBody) Close() error {
	err := b.ReadCloser.Close()
	b.x.cancel()
	return err
}
