// Package httpx is the HTTP layer every probe shares: one transport with
// per-host connection limits, bounded response bodies, no automatic redirects,
// a per-run trace of requests, and error text that never carries a URL's
// query string (where a token could hide).
package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   16,
		MaxConnsPerHost:       64,
		IdleConnTimeout:       90 * time.Second,
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

// Trace collects the redacted requests of one run. Safe for concurrent use.
type Trace struct {
	mu       sync.Mutex
	step     string
	requests []verdict.Request
	count    atomic.Int64
}

// SetStep names the phase the next requests belong to.
func (t *Trace) SetStep(s string) {
	t.mu.Lock()
	t.step = s
	t.mu.Unlock()
}

// Requests returns a copy of the recorded requests.
func (t *Trace) Requests() []verdict.Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]verdict.Request(nil), t.requests...)
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

type tracing struct{ next http.RoundTripper }

func (t *tracing) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		err = redactErr(err)
	}
	if tr := traceFrom(req.Context()); tr != nil {
		r := verdict.Request{Method: req.Method, URL: RedactURL(req.URL), Duration: time.Since(start)}
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Status = resp.StatusCode
		}
		tr.add(r)
	}
	return resp, err
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

// Response is a fully read, bounded response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	URL    *url.URL
}

// Do sends req and reads at most MaxBody bytes of the answer.
func Do(c *http.Client, req *http.Request) (*Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, redactErr(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading response: %w", req.Method, RedactURL(req.URL), redactErr(err))
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%s %s: %w", req.Method, RedactURL(req.URL), ErrBodyTooLarge)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, URL: req.URL}, nil
}

// IsJSON reports whether the response says it is JSON.
func (r *Response) IsJSON() bool {
	ct := r.Header.Get("Content-Type")
	return strings.Contains(ct, "json")
}

// Snippet is a short, printable excerpt of the body for error text. Bodies
// of error answers do not carry tokens; the excerpt is cut short anyway.
func (r *Response) Snippet() string {
	const n = 120
	s := strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return ' '
		}
		return r
	}, string(r.Body))
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
