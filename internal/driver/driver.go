// Package driver is the contract between the probe engine and the revocation
// endpoint drivers in probes/. A driver knows one endpoint's wire format and
// declares what the endpoint promises to kill; the engine does everything
// else (login, positive control, verification, clean-up, verdict).
package driver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
)

// Driver revokes a canary's access through one endpoint.
type Driver interface {
	// Profile is what the endpoint is documented to kill.
	Profile() verdict.Profile
	// Revoke makes the revocation call. It returns nil when the endpoint
	// accepted the request (which proves nothing: the engine verifies), or
	// an error carrying a reason (verdict.Errorf) when it refused.
	Revoke(ctx context.Context, env *Env) error
}

// Env is what a driver gets for one run.
type Env struct {
	HTTP *http.Client // shared transport, no redirects, traced
	// Endpoints are the target's discovered (or configured) endpoints.
	Endpoints oauth.Endpoints
	// URL is the endpoint URL from the config; empty means the driver's
	// default (usually from discovery).
	URL string
	// Admin is the prober's own client, used to authenticate the revocation.
	Admin *oauth.ClientAuth
	// LoginClient is the client the canaries logged in with (RFC 7009 needs
	// the token's own client).
	LoginClient *oauth.ClientAuth
	// Canaries are the users whose access is revoked (usually one).
	Canaries []*Canary

	sent time.Time // see Sending
}

// Sending tells the engine that the revoking request is about to go out.
// A driver calls it just before that request (before the first one, for
// several canaries): the propagation clock and deadline start there, so
// an admin-token fetch or a user lookup made first is not counted as
// propagation. A driver that never calls it is timed from the start of
// Revoke, which only makes its latencies look longer.
func (e *Env) Sending() {
	if e.sent.IsZero() {
		e.sent = time.Now()
	}
}

// SentAt is when Sending was first called; zero if never.
func (e *Env) SentAt() time.Time { return e.sent }

// Canary is one logged-in canary user as a driver sees it.
type Canary struct {
	Name       string
	Username   string
	Attributes map[string]string // user attributes from the config: uid, mail, user_dn, user_id, …
	// Tokens are the tokens of the canary's main grant (newest, after any
	// rotation): the access token the access-token checks observe, and the
	// ID token of the session in Jar.
	Tokens *oauth.Tokens
	// Grants are the tokens of every grant of the canary that the run's
	// checks observe, Tokens first. When a run checks both the refresh
	// grant and the access token, the canary logs in twice and the refresh
	// check uses a grant of its own: on some IdPs (Ory Hydra, zitadel) a
	// refresh revokes the access token of its grant, and the check's own
	// side effect must never pass for the revocation. A driver that acts
	// on a token of the canary (RFC 7009) acts on every grant, so that its
	// profile's promise holds for each token a check observes.
	Grants []*oauth.Tokens
	// Jar holds the canary's OP session cookies after a session-creating
	// login (login.method authorization_code); nil after a password login.
	Jar http.CookieJar

	// fallbacks records the attributes Attr answered with the username.
	fallbacks *[]string
}

// Attr returns an attribute. "uid" falls back to the username when the
// canary sets none, and the fallback is recorded (Fallbacks): the engine
// notes it on the run record, because an IdP's uid may differ from the
// login name. "username" is the username unless set.
func (c *Canary) Attr(name string) string {
	if v, ok := c.Attributes[name]; ok && v != "" {
		return v
	}
	switch name {
	case "uid":
		c.record(name)
		return c.Username
	case "username":
		return c.Username
	}
	return ""
}

func (c *Canary) record(name string) {
	if c.fallbacks == nil {
		c.fallbacks = new([]string)
	}
	if !slices.Contains(*c.fallbacks, name) {
		*c.fallbacks = append(*c.fallbacks, name)
	}
}

// Fallbacks are the attributes Attr answered with the username, through c
// or an Identity of it.
func (c *Canary) Fallbacks() []string {
	if c.fallbacks == nil {
		return nil
	}
	return slices.Clone(*c.fallbacks)
}

// Identity is c without its tokens or session: what a template may see.
// Attributes read through it are recorded on c.
func (c *Canary) Identity() *Canary {
	if c.fallbacks == nil {
		c.fallbacks = new([]string)
	}
	return &Canary{Name: c.Name, Username: c.Username, Attributes: c.Attributes, fallbacks: c.fallbacks}
}

// Params are a driver's settings from the config (endpoints[].params).
type Params map[string]string

// Factory builds a driver from its params; an error names the bad param.
type Factory func(p Params) (Driver, error)

// Info describes a registered driver, for help text and docs.
type Info struct {
	Kind    string
	Summary string
	New     Factory
	// Params lists the accepted param names; others are rejected at load.
	Params []string
	// ParamPrefixes accepts, besides Params, every param named by one of
	// these prefixes plus a non-empty suffix ("header_" accepts
	// "header_X-Source").
	ParamPrefixes []string
	// SecretParams and SecretParamPrefixes (matched like Params and
	// ParamPrefixes) name the params whose values are credentials, such as
	// a webhook's header_X-Api-Key: /config shows them as <secret> and every
	// run's text is scrubbed of them.
	SecretParams        []string
	SecretParamPrefixes []string
	// Doc is where the driver is documented ("docs/drivers-vendors.md#…"),
	// quoted by config warnings.
	Doc string
	// KeepsOfflineTokens: the endpoint leaves the refresh tokens of an
	// offline_access login alive although its profile has refresh tokens
	// die (they belong to a separate offline session). check-config warns
	// when the target's login asks for offline_access.
	KeepsOfflineTokens bool
}

// IsSecretParam reports whether the kind declares param name secret. An
// unknown kind declares nothing, so all its params count as secret.
func IsSecretParam(kind, name string) bool {
	info, ok := Lookup(kind)
	if !ok {
		return true
	}
	for _, n := range info.SecretParams {
		if n == name {
			return true
		}
	}
	return hasPrefix(name, info.SecretParamPrefixes)
}

// SecretValues are the values of the params of p that kind declares secret.
func SecretValues(kind string, p Params) []string {
	var out []string
	for name, v := range p {
		if v != "" && IsSecretParam(kind, name) {
			out = append(out, v)
		}
	}
	return out
}

// Restorer is implemented by drivers whose revocation changes the canary
// itself (a SCIM deactivation): the engine calls Restore in the clean-up
// of every run whose revoke call was made, whatever the verdict, so the
// next run can log in. A Restore error is reported in the run's clean-up
// text, never in the verdict.
type Restorer interface {
	Restore(ctx context.Context, env *Env) error
}

var (
	mu       sync.RWMutex
	registry = map[string]Info{}
)

// Register adds a driver kind. Drivers call it from init.
func Register(i Info) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[i.Kind]; dup {
		panic("driver: duplicate kind " + i.Kind)
	}
	registry[i.Kind] = i
}

// Lookup finds a driver kind.
func Lookup(kind string) (Info, bool) {
	mu.RLock()
	defer mu.RUnlock()
	i, ok := registry[kind]
	return i, ok
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Build validates params against the kind's list and builds the driver.
func Build(kind string, p Params) (Driver, error) {
	info, ok := Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("unknown driver %q (known: %v)", kind, Kinds())
	}
	allowed := map[string]bool{}
	for _, name := range info.Params {
		allowed[name] = true
	}
	for name := range p {
		if !allowed[name] && !hasPrefix(name, info.ParamPrefixes) {
			accepted := fmt.Sprint(info.Params)
			for _, pre := range info.ParamPrefixes {
				accepted += " " + pre + "<name>"
			}
			return nil, fmt.Errorf("driver %s: unknown param %q (accepted: %s)", kind, name, accepted)
		}
	}
	return info.New(p)
}

// hasPrefix reports whether name is one of the prefixes plus a non-empty suffix.
func hasPrefix(name string, prefixes []string) bool {
	for _, pre := range prefixes {
		if len(name) > len(pre) && strings.HasPrefix(name, pre) {
			return true
		}
	}
	return false
}
