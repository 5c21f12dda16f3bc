// Package backchannel is revprober's relying-party endpoint for OpenID
// Connect Back-Channel Logout 1.0: the URL an identity provider POSTs a
// logout token to when it ends a session (registered out of band as the
// login client's backchannel_logout_uri; the daemon serves it at
// /backchannel-logout).
//
// A probe run that expects a notification registers an Expectation before
// the revocation and asks its Wait whether (and when) a verified logout token
// for the canary's session arrived. Tokens are accepted only from an issuer
// some run is waiting on, and only after full verification against that
// issuer's JWKS: a forged or stale notification must never count as a
// delivered one (that would be a false pass).
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
)

// Path is where the daemon mounts the Receiver.
const Path = "/backchannel-logout"

// LogoutEvent is the events member a logout token must carry.
const LogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

const (
	maxBody = 64 << 10
	leeway  = 30 * time.Second // clock skew allowed on iat and exp
)

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
	arrived time.Time
}

// Arrived returns when a matching, verified logout token was received.
func (w *Wait) Arrived() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.arrived, !w.arrived.IsZero()
}

// Close unregisters the wait; later tokens for it are answered 400.
func (w *Wait) Close() {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	delete(w.r.waits, w)
}

// Receiver is the back-channel logout endpoint. It is an http.Handler and
// safe for concurrent use; the zero value is not usable: call New.
type Receiver struct {
	now   func() time.Time
	mu    sync.Mutex
	waits map[*Wait]struct{}
}

// New makes a Receiver.
func New() *Receiver { return &Receiver{now: time.Now, waits: map[*Wait]struct{}{}} }

// Expect registers an expectation; Close the returned Wait when the run ends.
func (r *Receiver) Expect(e Expectation) *Wait {
	w := &Wait{exp: e, r: r, created: r.now()}
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
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if err := r.receive(req.Context(), req.PostForm.Get("logout_token")); err != nil {
		// The reason stays here: an OP learns nothing from it, and the
		// waiting run times out into its own verdict.
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// receive verifies a logout token against the waits of its issuer and
// records its arrival on every wait it names.
func (r *Receiver) receive(ctx context.Context, raw string) error {
	arrived := r.now()
	var peek logoutClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &peek); err != nil {
		return err
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
		return errors.New("no run waits for a logout token of this issuer and audience")
	}
	// All waits of one issuer share its JWKS: the first one fetches it.
	keys, err := oauth.FetchJWKS(ctx, waits[0].exp.HTTP, waits[0].exp.JWKS)
	if err != nil {
		return err
	}
	var c logoutClaims
	_, err = jwt.ParseWithClaims(raw, &c, keys.Keyfunc,
		jwt.WithValidMethods(oauth.SignatureAlgs), jwt.WithIssuer(peek.Issuer),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired(), jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(r.now))
	switch {
	case err != nil:
		return err
	case c.Events == nil || c.Events[LogoutEvent] == nil:
		return fmt.Errorf("events has no %s member", LogoutEvent)
	case c.Nonce != nil:
		return errors.New("a logout token must not carry nonce")
	case c.Subject == "" && c.SID == "":
		return errors.New("a logout token needs sub or sid")
	case c.IssuedAt == nil:
		return errors.New("a logout token needs iat")
	}
	for _, w := range waits {
		// A token issued before the run started waiting is not this
		// run's notification (a late one for an earlier session).
		if matches(w.exp, c.Subject, c.SID) && !c.IssuedAt.Before(w.created.Add(-leeway)) {
			w.mu.Lock()
			if w.arrived.IsZero() {
				w.arrived = arrived
			}
			w.mu.Unlock()
		}
	}
	return nil
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
