// Package fuzzwire lets the fuzz targets of revprober's parsers play a
// hostile identity provider without a socket: a RoundTripper that answers
// each request with the next fuzzed answer, a run context whose scrubber
// knows planted secrets (as a probe run's does), and the properties every
// target asserts. It is imported by _test files only.
package fuzzwire

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/verdict"
)

// Planted secrets: the fuzz targets send them as the run would (client
// secret, canary password, the canary's tokens) and seed answers that echo
// them. No error text may carry one.
const (
	ClientID     = "revprober-admin"
	ClientSecret = "planted-client-secret-Zq8"
	Password     = "planted-password-Jm5"
	AccessToken  = "planted-access-token-Xw3"
	RefreshToken = "planted-refresh-token-Vb7"
	IDToken      = "planted.id-token.Kp2"
)

// SigningKey is the fuzzed IdP's signing key, fixed so that committed
// seeds hold tokens it signed; JWKS publishes its public half (kid k1).
var SigningKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// JWKS is the key set of SigningKey.
const JWKS = `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","use":"sig","x":"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"}]}`

// Planted lists the planted secrets.
var Planted = []string{ClientSecret, Password, AccessToken, RefreshToken, IDToken}

// Answer is one HTTP answer of the fake identity provider.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Status maps any fuzzed integer onto an HTTP status (100–599), keeping
// the meaningful ones as they are.
func Status(n int) int {
	if n >= 100 && n <= 599 {
		return n
	}
	n %= 500
	if n < 0 {
		n = -n
	}
	return 100 + n
}

// Replay answers the i-th request with the i-th answer, and every later
// one with the last, and keeps what was sent. Safe for concurrent use.
type Replay struct {
	Answers []Answer
	mu      sync.Mutex
	sent    []Sent
}

// Sent is a request as it went out: where, and its body (the first 64 KiB).
type Sent struct {
	Method, URL string
	Header      http.Header
	Body        string
}

// Sent returns the requests sent so far, in order.
func (r *Replay) Sent() []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// RoundTrip implements http.RoundTripper.
func (r *Replay) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(req.Body, 64<<10))
		_ = req.Body.Close()
	}
	r.mu.Lock()
	var a Answer
	if len(r.Answers) > 0 {
		a = r.Answers[min(len(r.sent), len(r.Answers)-1)]
	}
	r.sent = append(r.sent, Sent{Method: req.Method, URL: req.URL.String(), Header: req.Header.Clone(), Body: string(body)})
	r.mu.Unlock()
	h := a.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		StatusCode: Status(a.Status), Status: strconv.Itoa(Status(a.Status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(strings.NewReader(string(a.Body))),
		ContentLength: int64(len(a.Body)), Request: req,
	}, nil
}

// Client is revprober's HTTP client (no redirects, bounded bodies, traced)
// over a Replay of answers.
func Client(answers ...Answer) *http.Client {
	return httpx.Client(&Replay{Answers: answers}, nil)
}

// Run returns a context traced like a probe run's: its scrubber knows the
// planted secrets, as the run registers its configured secrets and tokens.
func Run() context.Context {
	tr := &httpx.Trace{}
	tr.Secrets().AddBasic(ClientID, ClientSecret)
	tr.Secrets().Add(Password, AccessToken, RefreshToken, IDToken)
	return httpx.WithTrace(context.Background(), tr)
}

// NoPlanted fails t when text carries a planted secret, as is or in the
// encodings a server echoes it in.
func NoPlanted(t testing.TB, what, text string) {
	t.Helper()
	for _, s := range Planted {
		for _, form := range []string{s, url.QueryEscape(s)} {
			if strings.Contains(text, form) {
				t.Fatalf("%s reflects the planted secret %q: %s", what, s, text)
			}
		}
	}
}

// ClosedReason fails t when err carries no reason, or one outside the
// closed list of error reasons: a driver's refusal must say which.
func ClosedReason(t testing.TB, err error) {
	t.Helper()
	r := verdict.ReasonOf(err, "")
	if !slices.Contains(verdict.ErrorReasons, r) {
		t.Fatalf("error reason %q is not in verdict's closed list of error reasons: %v", r, err)
	}
}

// WriteSeed writes one seed of target in Go's corpus format ("go test
// fuzz v1") to dir/testdata/fuzz/<target>/<name>. Values are string,
// []byte, int, uint8 or bool, in the target's argument order.
func WriteSeed(dir, target, name string, values ...any) error {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%d)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%t)\n", v)
		default:
			return fmt.Errorf("seed %s/%s: unsupported value type %T", target, name, v)
		}
	}
	d := filepath.Join(dir, "testdata", "fuzz", target)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, name), []byte(b.String()), 0o644)
}
