// Package httpx is the HTTP layer every probe shares: one transport with
// per-host connection limits, bounded response bodies, no automatic redirects,
// a per-run trace of requests, and error text that never carries a URL's
// query string (where a token could hide). The trace also collects every
// credential the run sends (secret.Scrubber), so that text quoting an
// answer can be scrubbed of them.
package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// MaxBody caps every response body read: an IdP that answers a huge body
// costs a probe at most this much memory.
const MaxBody = 1 << 20

// ErrBodyTooLarge is returned for a response body over MaxBody.
var ErrBodyTooLarge = errors.New("response body exceeds 1 MiB")

// TLS describes how to verify servers and authenticate to them.
type TLS struct {
	CAFile             string
	CertFile, KeyFile  string
	InsecureSkipVerify bool
}

// Config returns the crypto/tls configuration.
func (t TLS) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, logged loudly by the caller
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// NewTransport builds a transport. Share one per TLS configuration: with
// thousands of probes, a transport per probe would hold thousands of idle
// connections.
func NewTransport(t TLS) (*http.Transport, error) {
	tc, err := t.Config()
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 16,
		MaxConnsPerHost:     64,
		IdleConnTimeout:     90 * time.Second,
		// No gzip: the transport would otherwise add an Accept-Encoding
		// header to every request (a header map each) and, for a server
		// that compresses, inflate every answer through a flate reader of
		// some 40 KB, for answers of a few hundred bytes to a few KB.
		// MaxBody bounds the answers as sent.
		DisableCompression:    true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}, nil
}

// Client sends requests through a shared transport, never follows
// redirects (a login flow follows them itself, step by step), and records
// each exchange in the Trace carried by the request's context.
func Client(rt http.RoundTripper, jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport: &tracing{next: rt},
		Jar:       jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Trace collects the redacted requests of one run, and the secrets the run
// handled. Safe for concurrent use.
type Trace struct {
	mu       sync.Mutex
	step     string
	requests []verdict.Request
	count    atomic.Int64
	secrets  secret.Scrubber
	// limit bounds each exchange (limit.go); interrupted names the
	// exchanges the run's own end cut.
	limit       time.Duration
	interrupted []string
	// unanswered are the hosts of the requests that got no answer
	// (unanswered.go), at most maxUnanswered; unansweredN counts them all.
	unanswered  []string
	unansweredN int
}

// Secrets is the run's scrubber: the transport adds every credential sent
// under this trace, and the run adds its configured secrets and tokens.
func (t *Trace) Secrets() *secret.Scrubber { return &t.secrets }

// SetStep names the phase the next requests belong to.
func (t *Trace) SetStep(s string) {
	t.mu.Lock()
	t.step = s
	t.mu.Unlock()
}

// NewTrace is a trace with room for expect records (a run's estimate: the
// requests of its probe's previous run), so that a run's records take one
// allocation of their own size; 0 lets the first record make room for 32.
func NewTrace(expect int) *Trace {
	t := &Trace{}
	if expect > 0 {
		t.requests = make([]verdict.Request, 0, min(expect, maxTraced))
	}
	return t
}

// TakeRequests returns the recorded requests and forgets them: the run's
// record takes the trace's own slice, not a copy (a request recorded
// afterwards starts a new one). Its spare room, if the estimate was too
// high, is cut off when it is a quarter or more.
func (t *Trace) TakeRequests() []verdict.Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.requests
	t.requests = nil
	if spare := cap(out) - len(out); spare > 0 && spare >= cap(out)/4 {
		out = append([]verdict.Request(nil), out...)
	}
	return out
}

// Count is the number of requests sent.
func (t *Trace) Count() int64 { return t.count.Load() }

// maxTraced bounds the trace of a long polling run.
const maxTraced = 200

func (t *Trace) add(r verdict.Request) {
	t.count.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	r.Step = t.step
	if t.requests == nil {
		// Room for a whole run of the usual shape (25 to 40 requests) at
		// once: growing from one by doubling leaves 63 records of garbage.
		t.requests = make([]verdict.Request, 0, 32)
	}
	if len(t.requests) < maxTraced {
		t.requests = append(t.requests, r)
	}
}

type traceKey struct{}

// WithTrace attaches a trace to a context.
func WithTrace(ctx context.Context, t *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

func traceFrom(ctx context.Context) *Trace {
	t, _ := ctx.Value(traceKey{}).(*Trace)
	return t
}

// secretsFrom is the scrubber of the run ctx belongs to, or nil.
func secretsFrom(ctx context.Context) *secret.Scrubber {
	if t := traceFrom(ctx); t != nil {
		return t.Secrets()
	}
	return nil
}

// Remember adds values to the secrets of the run ctx belongs to: a caller
// that obtains a credential the transport never sends in a form it
// recognises (an admin token read from an answer) registers it here, so
// that an API echoing it cannot put it into the run's text.
func Remember(ctx context.Context, values ...string) {
	if s := secretsFrom(ctx); s != nil {
		s.Add(values...)
	}
}

// Scrub removes the secrets of the run ctx belongs to from text: for error
// text that quotes a value an answer chose (an OAuth error code, a state),
// which a hostile server can set to a credential the run sent it.
func Scrub(ctx context.Context, text string) string {
	return secretsFrom(ctx).Scrub(text)
}

type tracing struct{ next http.RoundTripper }

func (t *tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	if s := secretsFrom(req.Context()); s != nil {
		rememberCredentials(s, req)
	}
	tr := traceFrom(req.Context())
	redacted := RedactURL(req.URL) // once, for the trace and a cut exchange's error
	x, req := begin(tr, req, redacted)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		x.cancel()
		err = explainHost(redactErr(x.explain(err)), req.URL.Host)
		x.unanswered(err, 0)
	} else {
		x.unanswered(nil, resp.StatusCode)
		resp.Body = &boundedBody{ReadCloser: resp.Body, x: x}
	}
	if tr != nil {
		r := verdict.Request{Method: req.Method, URL: redacted, Duration: time.Since(start)}
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Status = resp.StatusCode
		}
		tr.add(r)
	}
	return resp, err
}

// The status page keeps the traces of thousands of runs (internal/status,
// bounded by bytes), each with the redacted URLs of its 25 or so requests,
// and the runs of one identity provider ask the same few URLs over and
// over: at 10,000 probes these copies were some 7 MB of the live heap.
// SharedURL lets the records share one copy of each URL, up to maxInterned
// distinct URLs (URLs that differ per user or per run, past that bound,
// are kept as made). The status page's accounting still counts each
// record's URL in full.
const maxInterned = 4096

var interned = struct {
	sync.Mutex
	urls map[string]string
}{urls: map[string]string{}}

// SharedURL returns the shared copy of u, a trace record's URL once
// scrubbed (it is kept for the life of the process), making u the shared
// copy while there is room.
func SharedURL(u string) string {
	interned.Lock()
	defer interned.Unlock()
	if c, ok := interned.urls[u]; ok {
		return c
	}
	if len(interned.urls) < maxInterned {
		interned.urls[u] = u
	}
	return u
}

// credentialFields are the form parameters that carry a credential.
var credentialFields = []string{
	"client_secret", "client_assertion", "assertion", "password",
	"token", "refresh_token", "code", "code_verifier", "subject_token", "actor_token",
}

// maxFormScan bounds how much of a form body is read for credentials.
const maxFormScan = 64 << 10

// rememberCredentials registers what req authenticates with before it is
// sent, so that an answer echoing it can be scrubbed: the credential of
// every Authorization header (for Basic also the decoded id:secret and the
// secret, as sent and form-decoded) and the credential parameters of a
// form body.
func rememberCredentials(s *secret.Scrubber, req *http.Request) {
	for _, h := range req.Header.Values("Authorization") {
		scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
		cred = strings.TrimSpace(cred)
		if !ok {
			s.Add(scheme) // a bare credential, no scheme word
			continue
		}
		s.Add(cred)
		if strings.EqualFold(scheme, "Basic") {
			rememberBasic(s, cred)
		}
	}
	if req.GetBody == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return
	}
	body, err := req.GetBody()
	if err != nil {
		return
	}
	defer body.Close()
	raw, err := readAll(body, req.ContentLength, maxFormScan)
	if err != nil {
		return
	}
	form, _ := url.ParseQuery(string(raw))
	for _, name := range credentialFields {
		s.Add(form[name]...)
	}
}

func rememberBasic(s *secret.Scrubber, blob string) {
	decoded, err := base64.StdEncoding.DecodeString(blob)
	if err != nil {
		return
	}
	s.Add(string(decoded))
	id, pw, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return
	}
	s.Add(pw)
	// RFC 6749 §2.3.1 form-encodes both parts before Basic; AddBasic
	// registers the decoded secret with both blob forms.
	if uid, err := url.QueryUnescape(id); err == nil {
		id = uid
	}
	if upw, err := url.QueryUnescape(pw); err == nil {
		pw = upw
	}
	s.AddBasic(id, pw)
}

// RedactURL drops the query, fragment and user info of a URL: the parts
// where a token or credential could travel.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// redactErr rewrites a *url.Error so that its text carries no query string.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			return &url.Error{Op: ue.Op, URL: RedactURL(u), Err: ue.Err}
		}
		return &url.Error{Op: ue.Op, URL: "<url>", Err: ue.Err}
	}
	return err
}

// ScrubError scrubs the run's secrets from an error whose text quotes an
// answer or a URL the server chose (net/http's client quotes a Location
// header it cannot parse; a login follows the IdP's redirects). The result
// unwraps to err, so its verdict reason and type stay visible.
func ScrubError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if clean := secretsFrom(ctx).Scrub(text); clean != text {
		return &scrubbedError{text: clean, err: err}
	}
	return err
}

// scrubbedError prints scrubbed text and unwraps to the original error,
// so that errors.Is and errors.As still see what failed.
type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// Response is a fully read, bounded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	URL    *url.URL
	// secrets are the secrets of the run that sent the request (nil outside
	// a run): Snippet scrubs with them.
	secrets *secret.Scrubber
}

// Do sends req and reads at most MaxBody bytes of the answer. An exchange
// cut by the run's request timeout is a *RequestTimeoutError, which names
// the request itself.
func Do(c *http.Client, req *http.Request) (*Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		var rte *RequestTimeoutError
		if errors.As(err, &rte) {
			return nil, rte
		}
		return nil, ScrubError(req.Context(), redactErr(err))
	}
	defer resp.Body.Close()
	body, err := readAll(resp.Body, resp.ContentLength, MaxBody+1)
	if err != nil {
		var rte *RequestTimeoutError
		if errors.As(err, &rte) {
			return nil, rte
		}
		return nil, fmt.Errorf("%s %s: reading response: %w", req.Method, RedactURL(req.URL), redactErr(err))
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%s %s: %w", req.Method, RedactURL(req.URL), ErrBodyTooLarge)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, URL: req.URL, secrets: secretsFrom(req.Context())}, nil
}

// preallocMax bounds the buffer readAll sizes up front from a length the
// peer announced: a larger announced length is read as io.ReadAll does,
// growing with what actually arrives.
const preallocMax = 64 << 10

// readAll reads at most limit bytes of r. A body whose length is known
// (Content-Length, a request's own body) is read into one buffer of that
// size: io.ReadAll starts at 512 bytes and doubles, which leaves about as
// much garbage as the body for every answer of every run.
func readAll(r io.Reader, length, limit int64) ([]byte, error) {
	if length < 0 || length > preallocMax {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	// One byte over the announced length: a peer that sends more is read
	// on (up to limit), and the read that finds the end needs room.
	b := make([]byte, 0, min(length, limit)+1)
	r = io.LimitReader(r, limit)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// IsJSON reports whether the response says it is JSON.
func (r *Response) IsJSON() bool {
	ct := r.Header.Get("Content-Type")
	return strings.Contains(ct, "json")
}

// Snippet is a short, printable excerpt of the body for error text. A
// hostile or careless server may echo a credential in an error body, so the
// whole body is scrubbed of the run's secrets first: cutting first would
// leave a secret near the cut as a long prefix that no exact match finds.
func (r *Response) Snippet() string {
	const n = 120
	s := strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return ' '
		}
		return r
	}, r.secrets.Scrub(string(r.Body)))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// CountingTransport counts requests, for benchmarks.
type CountingTransport struct {
	Next http.RoundTripper
	N    atomic.Int64
}

func (c *CountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.N.Add(1)
	return c.Next.RoundTrip(req)
}
