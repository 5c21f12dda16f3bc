// Package probe runs one probe (one target × one revocation endpoint) once:
// discovery, a fresh login of every canary, the positive control, the
// revocation, verification until every promised artifact is dead or the
// propagation deadline passes, and clean-up. It knows nothing of schedules,
// metrics or storage: it returns a *verdict.Run and the caller records it.
//
// The rule this package exists to keep: a run passes only if, in this very
// run, each checked artifact was seen alive before the revocation and dead
// after it. Anything the probe could not observe is an error, never "dead".
package probe

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/hostmatch"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// Probe is a compiled, ready-to-run target × endpoint pair. It holds no
// connections or buffers: thousands of idle probes cost only this struct.
type Probe struct {
	Target   string
	Endpoint string
	Kind     string // driver kind
	Driver   driver.Driver
	// Profile is the effective expectation (driver profile plus overrides).
	Profile verdict.Profile

	Interval, Timeout, Deadline time.Duration
	// Hold is how long every promised-dead artifact must stay dead after
	// its first dead answer; zero only confirms the death.
	Hold time.Duration
	// RequestTimeout bounds every HTTP exchange of a run; zero: unbounded.
	RequestTimeout       time.Duration
	PollInitial, PollMax time.Duration

	Issuer      string
	URLs        oauth.Endpoints // configured URLs, written over discovery
	EndpointURL string          // the revocation endpoint's URL from config, if any

	Admin        *oauth.ClientAuth // authenticates the revocation
	Introspector *oauth.ClientAuth // authenticates introspection
	LoginClient  *oauth.ClientAuth // the canaries' application client
	// ParamSecrets are the values of the driver params the driver declares
	// secret (driver.SecretValues): scrubbed from every run's text.
	ParamSecrets []secret.Secret

	LoginMethod string // "password" or "authorization_code"
	RedirectURI string
	Scopes      []string
	Canaries    []Canary
	Checks      Checks

	// LoginHosts are the hosts besides the authorization endpoint's that
	// the form login and prompt=none may visit (login.allowed_hosts).
	LoginHosts hostmatch.List

	// BackchannelLogoutURI is revprober's RP back-channel logout URL as
	// registered at the IdP (login.backchannel_logout_uri); Backchannel is
	// the receiver serving it, set by the daemon. With no receiver the
	// backchannel_logout check is not made.
	BackchannelLogoutURI string
	Backchannel          *backchannel.Receiver

	// Transport is shared by every probe with the same TLS settings.
	Transport http.RoundTripper
	// InsecureTLS is set when the target turned TLS verification off: every
	// run record then says so in a note.
	InsecureTLS bool
	// ConfigDigest identifies the config the probe was compiled from.
	ConfigDigest string

	// traced is how many requests the probe's last run recorded (atomic:
	// runs of a probe may overlap a run now): the next run's trace starts
	// with that much room, so its records take one allocation.
	traced int32
}

// Canary is a canary user's login data.
type Canary struct {
	Name       string
	Username   string
	Password   secret.Secret
	Attributes map[string]string
}

// Checks are the enabled observations.
type Checks struct {
	Introspection, Userinfo, Refresh bool
	PromptNone, SessionStatus        bool
	UserinfoDeadStatus               []int
	Resources                        []Resource
}

// Resource is a protected API that must refuse the revoked access token.
type Resource struct {
	Name, URL, Method string
	DeadStatus        []int
}

// ID is "target/endpoint", unique within a config.
func (p *Probe) ID() string { return p.Target + "/" + p.Endpoint }

// CanaryKeys identify the canary users of this probe, one key per user,
// sorted: two probes that share any user must never run at the same time,
// or each spoils the other's verdict (one revokes the tokens the other is
// verifying). Coordinators take every key, in this order, so two probes
// with overlapping groups cannot deadlock. A key is an opaque hash of the
// IdP and the username, so no user id reaches a lock name.
func (p *Probe) CanaryKeys() []string {
	idp := strings.ToLower(strings.TrimSuffix(p.Issuer, "/"))
	if idp == "" {
		idp = strings.ToLower(p.URLs.Token)
	}
	keys := make([]string, 0, len(p.Canaries))
	for _, c := range p.Canaries {
		k := fingerprint(idp + "\x00" + c.Username)
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// candidate is a check the probe's config and profile ask for.
type candidate struct {
	kind     verdict.Check
	resource *Resource
}

// candidates lists, in order, the enabled checks whose artifact the
// profile does not leave unchecked.
func (p *Probe) candidates() []candidate {
	var out []candidate
	add := func(k verdict.Check, res *Resource) {
		if p.Profile.Expect(k.Artifact()) != verdict.Unchecked {
			out = append(out, candidate{k, res})
		}
	}
	if p.Checks.Refresh {
		add(verdict.RefreshGrant, nil)
	}
	if p.Checks.Introspection {
		add(verdict.Introspection, nil)
	}
	if p.Checks.Userinfo {
		add(verdict.Userinfo, nil)
	}
	if p.Checks.PromptNone {
		add(verdict.PromptNone, nil)
	}
	if p.Checks.SessionStatus {
		add(verdict.SessionStatus, nil)
	}
	for i := range p.Checks.Resources {
		add(verdict.ResourceCall, &p.Checks.Resources[i])
	}
	if p.Profile.BackchannelLogout && p.Backchannel != nil {
		add(verdict.BackchannelLogout, nil)
	}
	return out
}

// PlannedChecks are the kinds of check the probe can make (an issuer
// that turns out not to offer introspection or userinfo drops those at
// run time): the metrics create latency series for these only.
func (p *Probe) PlannedChecks() []verdict.Check {
	var out []verdict.Check
	for _, c := range p.candidates() {
		if !slices.Contains(out, c.kind) {
			out = append(out, c.kind)
		}
	}
	return out
}
