// Package backchannel is revprober's relying-party endpoint for OpenID
// Connect Back-Channel Logout 1.0: the URL an identity provider POSTs a
// logout token to when it ends a session (registered out of band as the
// login client's backchannel_logout_uri; the daemon serves it at
// /backchannel-logout).
//
// A probe run that expects a notification registers an Expectation before
// the revocation, tells its Wait when the revoking request went out, and asks
// it whether (and when) a verified logout token for the canary's session
// arrived since. Tokens are accepted only from an issuer some run is waiting
// on, and only after full verification against that issuer's JWKS (cached:
// anonymous POSTs must not make the daemon hammer the IdP). A forged, stale
// or replayed notification must never count as a delivered one (that would be
// a false pass): every token needs a jti, seen once; only a token issued
// after the run's revoking request (less Options.Skew) and received after it
// counts; and when the token and the run both know the session id, they must
// agree.
package backchannel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/webguard"
)

// Path is where the daemon mounts the Receiver.
const Path = "/backchannel-logout"

// LogoutEvent is the events member a logout token must carry.
const LogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	maxBody = 64 << 10
	leeway  = 30 * time.Second // clock skew allowed on iat and exp
	// maxDeliveries bounds the verified tokens one wait keeps (they come
	// from the IdP, signed: a safety bound, not a defence).
	maxDeliveries = 8
)

// Options configure a Receiver.
type Options struct {
	// Skew is how much earlier than the run's revoking request a logout
	// token's iat may be and still count: the IdP's clock may be a little
	// behind ours, and iat has whole seconds. Default 5s.
	Skew time.Duration
	// MaxJTIs bounds the memory of received jti values. Default 10,000.
	MaxJTIs int
	// Refused, if set, is told of every refused token with a reason from
	// webguard's closed list and a short explanation (never the token).
	Refused func(req *http.Request, reason, why string)
	// JWKS caches the issuers' key sets; nil makes one with the defaults.
	JWKS *oauth.JWKSCache
	Now  func() time.Time
}

// Expectation is what one canary's run waits for.
type Expectation struct {
	Issuer   string       // the iss the logout token must carry
	JWKS     string       // the issuer's jwks_uri
	Audience string       // the login client id (aud)
	SID      string       // the canary's OP session id; empty when unknown
	Sub      string       // the canary's subject
	HTTP     *http.Client // fetches the JWKS (shared transport, bounded body)
}

// Wait is one registered expectation.
type Wait struct {
	exp     Expectation
	created time.Time
	r       *Receiver
	mu      sync.Mutex
	revoked time.Time  // when the run's revoking request went out; zero before
	got     []delivery // verified tokens for this session, in arrival order
}

// delivery is one verified logout token for the wait's session.
type delivery struct{ issued, arrived time.Time }

// Revoked tells the wait when the run's revoking request went out: only a
// token issued after it (less Options.Skew) and received after it is the
// revocation's notification. Tokens received earlier in the run are kept
// until then (an IdP may notify before it answers the revoking request).
func (w *Wait) Revoked(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.revoked = at
}

// Arrived returns when the first logout token that notifies this run's
// revocation was received; false before Revoked.
func (w *Wait) Arrived() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.revoked.IsZero() {
		return time.Time{}, false
	}
	for _, d := range w.got {
		if w.counts(d) {
			return d.arrived, true
		}
	}
	return time.Time{}, false
}

// counts says whether d notifies the revocation (w.mu held, revoked set).
func (w *Wait) counts(d delivery) bool {
	return !d.issued.Before(w.revoked.Add(-w.r.opts.Skew)) && !d.arrived.Before(w.revoked)
}

// deliver records a verified token for this wait's session; it returns
// false for a stale one: issued before the revocation (or, before the
// revocation is known, before the run began waiting), less the skew.
func (w *Wait) deliver(d delivery) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	since := w.created
	if !w.revoked.IsZero() {
		since = w.revoked
	}
	if d.issued.Before(since.Add(-w.r.opts.Skew)) {
		return false
	}
	if len(w.got) < maxDeliveries {
		w.got = append(w.got, d)
	}
	return true
}

// Close unregisters the wait; later tokens for it are refused.
func (w *Wait) Close() {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	delete(w.r.waits, w)
}

// Receiver is the back-channel logout endpoint. It is an http.Handler and
// safe for concurrent use; the zero value is not usable: call New.
type Receiver struct {
	opts  Options
	jtis  *jtiCache
	mu    sync.Mutex
	waits map[*Wait]struct{}
}

// New makes a Receiver with the default options.
func New() *Receiver { return NewWithOptions(Options{}) }

// NewWithOptions makes a Receiver.
func NewWithOptions(o Options) *Receiver {
	if o.Skew <= 0 {
		o.Skew = 5 * time.Second
	}
	if o.MaxJTIs <= 0 {
		o.MaxJTIs = 10000
	}
	if o.JWKS == nil {
		o.JWKS = oauth.NewJWKSCache()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Receiver{opts: o, jtis: &jtiCache{max: o.MaxJTIs, until: map[string]time.Time{}}, waits: map[*Wait]struct{}{}}
}

// Expect registers an expectation; Close the returned Wait when the run ends.
func (r *Receiver) Expect(e Expectation) *Wait {
	w := &Wait{exp: e, r: r, created: r.opts.Now()}
	r.mu.Lock()
	r.waits[w] = struct{}{}
	r.mu.Unlock()
	return w
}

// logoutClaims are the Logout Token claims (Back-Channel Logout 1.0 §2.4).
type logoutClaims struct {
	jwt.RegisteredClaims
	SID    string         `json:"sid,omitempty"`
	Events map[string]any `json:"events"`
	Nonce  *string        `json:"nonce,omitempty"`
}

// ServeHTTP accepts application/x-www-form-urlencoded logout_token=<JWT>,
// answers 200 when it verifies and 400 otherwise, always no-store.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, maxBody)
	if err := req.ParseForm(); err != nil || req.PostForm.Get("logout_token") == "" {
		r.refused(req, webguard.InvalidToken, "no logout_token form field")
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if reason, err := r.receive(req.Context(), req.PostForm.Get("logout_token")); err != nil {
		// The reason goes to the log, not to the caller: an OP learns
		// nothing from it, and the waiting run times out into its own
		// verdict.
		r.refused(req, reason, err.Error())
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (r *Receiver) refused(req *http.Request, reason, why string) {
	if r.opts.Refused != nil {
		r.opts.Refused(req, reason, why)
	}
}

// receive verifies a logout token against the waits of its issuer and
// records it on every wait whose session it names. On error it returns the
// refusal's reason (webguard's list).
func (r *Receiver) receive(ctx context.Context, raw string) (string, error) {
	arrived := r.opts.Now()
	var peek logoutClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &peek); err != nil {
		return webguard.InvalidToken, errors.New("not a JWT")
	}
	r.mu.Lock()
	var waits []*Wait
	for w := range r.waits {
		if w.exp.Issuer == peek.Issuer && slices.Contains(peek.Audience, w.exp.Audience) {
			waits = append(waits, w)
		}
	}
	r.mu.Unlock()
	if len(waits) == 0 {
		return webguard.UnexpectedToken, errors.New("no run waits for a logout token of this issuer and audience")
	}
	// All waits of one issuer share its JWKS (cached).
	var c logoutClaims
	_, err := jwt.ParseWithClaims(raw, &c, r.opts.JWKS.Keyfunc(ctx, waits[0].exp.HTTP, waits[0].exp.JWKS),
		jwt.WithValidMethods(oauth.SignatureAlgs), jwt.WithIssuer(peek.Issuer),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired(), jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(r.opts.Now))
	switch {
	case errors.Is(err, oauth.ErrJWKSUnavailable):
		return webguard.JWKSUnavailable, err
	case err != nil:
		return webguard.InvalidToken, err
	case !isObject(c.Events[LogoutEvent]):
		// §2.4: the member's value is a JSON object; anything else is not
		// a logout event, whatever its name.
		return webguard.InvalidToken, fmt.Errorf("events has no %s member holding a JSON object", LogoutEvent)
	case c.Nonce != nil:
		return webguard.InvalidToken, errors.New("a logout token must not carry nonce")
	case c.Subject == "" && c.SID == "":
		return webguard.InvalidToken, errors.New("a logout token needs sub or sid")
	case c.IssuedAt == nil:
		return webguard.InvalidToken, errors.New("a logout token needs iat")
	case c.ID == "":
		// Required by the spec, and what tells a replay from a new token.
		return webguard.InvalidToken, errors.New("a logout token needs jti")
	}
	// Verified: the jti is used now, whatever the token names. It is kept
	// until the token expires; after that the token is refused as expired.
	if !r.jtis.firstUse(c.Issuer+" "+c.ID, c.ExpiresAt.Add(leeway), arrived) {
		return webguard.ReplayedToken, errors.New("this jti was already received")
	}
	d := delivery{issued: c.IssuedAt.Time, arrived: arrived}
	named, fresh := false, false
	for _, w := range waits {
		if matches(w.exp, c.Subject, c.SID) {
			named = true
			fresh = w.deliver(d) || fresh
		}
	}
	if named && !fresh {
		return webguard.StaleToken, errors.New("issued before the run's revocation: not its notification")
	}
	return "", nil
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// matches says whether a token for (sub, sid) ends the expected session.
// When the run knows its session's sid, a token naming another sid does not
// count (it may be a late notification for an earlier run's session); a
// token with sub only ends every session of the subject.
func matches(e Expectation, sub, sid string) bool {
	if sid != "" && e.SID != "" {
		return sid == e.SID && (sub == "" || e.Sub == "" || sub == e.Sub)
	}
	if sid != "" && e.SID == "" {
		return sub != "" && sub == e.Sub
	}
	return sub != "" && sub == e.Sub
}

// jtiCache remembers the jti of every verified logout token until the
// token expires, so a replay is refused. It holds at most max entries:
// when full, expired entries go first, then the one that expires soonest
// (only tokens signed by a waited-for issuer get here, so filling it takes
// the IdP's key).
type jtiCache struct {
	mu    sync.Mutex
	max   int
	until map[string]time.Time
}

// firstUse records key until the given time and says whether it is new.
func (c *jtiCache) firstUse(key string, until, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.until[key]; ok && now.Before(t) {
		return false
	}
	if len(c.until) >= c.max {
		var soonest string
		for k, t := range c.until {
			if !now.Before(t) {
				delete(c.until, k)
			} else if soonest == "" || t.Before(c.until[soonest]) {
				soonest = k
			}
		}
		if len(c.until) >= c.max {
			delete(c.until, soonest)
		}
	}
	c.until[key] = until
	return true
}
