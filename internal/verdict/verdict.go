// Package verdict holds the vocabulary every part of revprober shares: the
// result of a run, the closed list of reasons, the artifacts a revocation must
// kill, the expectation profiles, and the record of one run.
//
// The closed lists here are what metric labels, alert rules, dashboards and
// evidence records are built from: adding a value is an API change.
package verdict

import (
	"errors"
	"fmt"
	"time"
)

// Result is the verdict of one run.
type Result string

const (
	// Pass: every artifact the endpoint promises to kill was seen alive, then dead within the deadline.
	Pass Result = "pass"
	// Fail: an artifact the endpoint promises to kill was still alive at the
	// deadline, or came back alive after it had been seen dead.
	Fail Result = "fail"
	// Error: no verdict could be reached.
	Error Result = "error"
)

// Results lists every result, in the order dashboards show them.
var Results = []Result{Pass, Fail, Error}

// Reason says why a run did not pass. It is a metric label value: never
// build one from an error string.
type Reason string

// ReasonNone is the reason of a pass.
const ReasonNone Reason = "none"

// Fail reasons: revocation is not enforced.
const (
	AccessTokenStillActive Reason = "access_token_still_active"
	RefreshTokenStillWorks Reason = "refresh_token_still_works"
	SessionStillAlive      Reason = "session_still_alive"
	ResourceStillAccepts   Reason = "resource_still_accepts"
	// CameBackAlive: an artifact was seen dead (twice in a row), then alive
	// again within the hold window: it was never durably revoked (a stale
	// replica or cache that repopulates).
	CameBackAlive Reason = "came_back_alive"
)

// Error reasons: the probe could not reach a verdict.
const (
	ConfigError              Reason = "config_error"
	DiscoveryFailed          Reason = "discovery_failed"
	EndpointNotOffered       Reason = "endpoint_not_offered"
	LoginFailed              Reason = "login_failed"
	PositiveControlFailed    Reason = "positive_control_failed"
	Interference             Reason = "interference"
	RevokeHTTPError          Reason = "revoke_http_error"
	RevokeUnauthorized       Reason = "revoke_unauthorized"
	NoSession                Reason = "no_session"
	IntrospectionUnavailable Reason = "introspection_unavailable"
	UserinfoUnavailable      Reason = "userinfo_unavailable"
	RefreshUnavailable       Reason = "refresh_unavailable"
	SessionCheckUnavailable  Reason = "session_check_unavailable"
	ResourceUnavailable      Reason = "resource_unavailable"
	// TokenExpired: an access token was first seen dead at or after its own
	// expiry, so expiry, not the revocation, may have killed it.
	TokenExpired Reason = "token_expired"
	Timeout      Reason = "timeout"
	// Interrupted: the prober itself cut the run short (it was shutting
	// down); the clean-up still ran and the record says in which step.
	Interrupted   Reason = "interrupted"
	InternalError Reason = "internal_error"
)

// FailReasons and ErrorReasons are the closed lists, used to initialise
// every metric series at zero.
var (
	FailReasons  = []Reason{AccessTokenStillActive, RefreshTokenStillWorks, SessionStillAlive, ResourceStillAccepts, CameBackAlive}
	ErrorReasons = []Reason{ConfigError, DiscoveryFailed, EndpointNotOffered, LoginFailed, PositiveControlFailed,
		Interference, RevokeHTTPError, RevokeUnauthorized, NoSession, IntrospectionUnavailable, UserinfoUnavailable,
		RefreshUnavailable, SessionCheckUnavailable, ResourceUnavailable, TokenExpired, Timeout, Interrupted, InternalError}
)

// Artifact is something a revocation may kill.
type Artifact string

const (
	AccessToken  Artifact = "access_token"
	RefreshToken Artifact = "refresh_token"
	Session      Artifact = "session"
	Resource     Artifact = "resource"
)

// Artifacts lists every artifact.
var Artifacts = []Artifact{AccessToken, RefreshToken, Session, Resource}

// StillAlive is the fail reason for an artifact that outlived its promise.
func (a Artifact) StillAlive() Reason {
	switch a {
	case AccessToken:
		return AccessTokenStillActive
	case RefreshToken:
		return RefreshTokenStillWorks
	case Session:
		return SessionStillAlive
	default:
		return ResourceStillAccepts
	}
}

// Check is one way of observing an artifact.
type Check string

const (
	Introspection Check = "introspection"  // RFC 7662 on the access token, with the prober's own client
	Userinfo      Check = "userinfo"       // the access token at the userinfo endpoint
	RefreshGrant  Check = "refresh"        // a grant_type=refresh_token attempt
	PromptNone    Check = "prompt_none"    // an authorization request with prompt=none and the session cookie
	SessionStatus Check = "session_status" // Janssen's /session_status with the session cookie
	ResourceCall  Check = "resource"       // a configured protected resource called with the access token
	// BackchannelLogout waits for the OP's OIDC back-channel logout token
	// for the canary's session at revprober's backchannel_logout_uri.
	BackchannelLogout Check = "backchannel_logout"
)

// Checks lists every check.
var Checks = []Check{Introspection, Userinfo, RefreshGrant, PromptNone, SessionStatus, ResourceCall, BackchannelLogout}

// Artifact is what the check observes.
func (c Check) Artifact() Artifact {
	switch c {
	case Introspection, Userinfo:
		return AccessToken
	case RefreshGrant:
		return RefreshToken
	case PromptNone, SessionStatus, BackchannelLogout:
		return Session
	default:
		return Resource
	}
}

// Unavailable is the error reason when the check cannot be made.
func (c Check) Unavailable() Reason {
	switch c {
	case Introspection:
		return IntrospectionUnavailable
	case Userinfo:
		return UserinfoUnavailable
	case RefreshGrant:
		return RefreshUnavailable
	case PromptNone, SessionStatus, BackchannelLogout:
		return SessionCheckUnavailable
	default:
		return ResourceUnavailable
	}
}

// Expect is what an endpoint promises for one artifact.
type Expect string

const (
	Dies      Expect = "dies"      // documented to be killed: alive at the deadline is a fail
	Survives  Expect = "survives"  // documented to survive: found dead is a pass with drift
	Unchecked Expect = "unchecked" // no promise either way: not verified
)

// Profile is what one revocation endpoint promises to kill.
type Profile struct {
	AccessToken  Expect `json:"access_token" yaml:"access_token"`
	RefreshToken Expect `json:"refresh_token" yaml:"refresh_token"`
	Session      Expect `json:"session" yaml:"session"`
	Resource     Expect `json:"resource" yaml:"resource"`
	// Async endpoints accept the request and revoke later (Auth0's 202, Entra's "few minutes").
	Async bool `json:"async" yaml:"async"`
	// BackchannelLogout: the endpoint sends OIDC back-channel logout tokens
	// to the login client's registered backchannel_logout_uri for the
	// sessions it ends. A missing notification at the deadline is a fail
	// (session_still_alive): the relying parties were never told.
	BackchannelLogout bool `json:"backchannel_logout,omitempty" yaml:"backchannel_logout"`
	// Overridden is set when the operator's config changed the driver's profile.
	Overridden bool `json:"overridden,omitempty" yaml:"-"`
}

// Expect returns the promise for an artifact.
func (p Profile) Expect(a Artifact) Expect {
	var e Expect
	switch a {
	case AccessToken:
		e = p.AccessToken
	case RefreshToken:
		e = p.RefreshToken
	case Session:
		e = p.Session
	case Resource:
		e = p.Resource
	}
	if e == "" {
		return Unchecked
	}
	return e
}

// Set changes the promise for an artifact.
func (p *Profile) Set(a Artifact, e Expect) {
	switch a {
	case AccessToken:
		p.AccessToken = e
	case RefreshToken:
		p.RefreshToken = e
	case Session:
		p.Session = e
	case Resource:
		p.Resource = e
	}
}

// State is what a check saw.
type State string

const (
	Alive   State = "alive"
	Dead    State = "dead"
	Failed  State = "error" // the check could not be made
	Skipped State = "skipped"
)

// Observation is one check on one canary, before and after the revocation.
type Observation struct {
	Check    Check    `json:"check"`
	Artifact Artifact `json:"artifact"`
	Canary   string   `json:"canary,omitempty"`
	Expect   Expect   `json:"expect"`
	Before   State    `json:"before"`
	After    State    `json:"after"`
	Polls    int      `json:"polls"`
	// PropagationSeconds is the time from the revoke request to the first
	// request that saw the artifact dead (the first of the dead answers in
	// a row that settled it); nil while it was never settled dead, or when
	// it came back alive.
	PropagationSeconds *float64 `json:"propagation_seconds,omitempty"`
	// HeldSeconds is how long after that first dead answer the artifact
	// was last seen still dead: the hold window this run observed (set
	// once the hold began).
	HeldSeconds *float64 `json:"held_seconds,omitempty"`
	// FirstDeadSeconds and CameBackSeconds are set on an artifact that was
	// settled dead and then seen alive again: when (from the revoke
	// request) it was first seen dead, and when alive again.
	FirstDeadSeconds *float64 `json:"first_dead_seconds,omitempty"`
	CameBackSeconds  *float64 `json:"came_back_seconds,omitempty"`
	Drift            bool     `json:"drift,omitempty"`
	Detail           string   `json:"detail,omitempty"`
}

// Unverified is a promised-dead artifact that the run did not observe, and why.
type Unverified struct {
	Artifact Artifact `json:"artifact"`
	Why      string   `json:"why"`
}

// Step is one phase of a run and how long it took.
type Step struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// Step names, also the "step" label of the step latency histogram.
const (
	StepDiscovery = "discovery"
	StepLogin     = "login"
	StepPositive  = "positive_control"
	StepRevoke    = "revoke"
	StepVerify    = "verify"
	StepCleanup   = "cleanup"
)

// Steps lists the step names.
var Steps = []string{StepDiscovery, StepLogin, StepPositive, StepRevoke, StepVerify, StepCleanup}

// Request is one HTTP exchange of a run, redacted: no query string, no body.
type Request struct {
	Step     string        `json:"step"`
	Method   string        `json:"method"`
	URL      string        `json:"url"`
	Status   int           `json:"status,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// Run is the record of one run of one probe (target × endpoint).
type Run struct {
	ID       string        `json:"run_id"`
	Target   string        `json:"target"`
	Endpoint string        `json:"endpoint"`
	Driver   string        `json:"driver"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Result   Result        `json:"result"`
	Reason   Reason        `json:"reason"`
	// Detail is the human explanation of a non-pass, redacted.
	Detail  string        `json:"detail,omitempty"`
	Profile Profile       `json:"profile"`
	Checks  []Observation `json:"checks"`
	// PropagationSeconds is the time until the last promised artifact was
	// seen dead; nil when not every promised artifact died.
	PropagationSeconds *float64 `json:"propagation_seconds"`
	// ResidualValiditySeconds is, for a JWT access token, the time left
	// until exp at the revocation: how long a locally validating resource
	// server still accepts it.
	ResidualValiditySeconds *float64 `json:"residual_validity_seconds,omitempty"`
	// ResidualValidityVerified is true when that number comes from a token
	// whose signature verified against the issuer's jwks_uri; false when
	// the issuer publishes no JWKS and the token was read unverified.
	ResidualValidityVerified bool `json:"residual_validity_verified,omitempty"`
	// Notes are informational remarks that never change the verdict (for
	// example a JWT access token whose signature did not verify).
	Notes []string `json:"notes,omitempty"`
	// Unverified are artifacts the endpoint promises to kill that no check
	// of this run observed (the configuration checks none of them, or the
	// run had no such artifact: a password login creates no OP session).
	// A pass says nothing about them.
	Unverified   []Unverified      `json:"unverified,omitempty"`
	Drift        []Artifact        `json:"drift,omitempty"`
	Steps        []Step            `json:"steps"`
	Requests     []Request         `json:"requests,omitempty"`
	Fingerprints map[string]string `json:"fingerprints,omitempty"`
	Cleanup      string            `json:"cleanup,omitempty"`
	// ConfigDigest is the SHA-256 of the config file the run came from.
	ConfigDigest string `json:"config_digest,omitempty"`
	// Replica and Tick say which replica ran which scheduled slot, so
	// duplicate runs across replicas would be visible in evidence.
	Replica string     `json:"replica,omitempty"`
	Tick    *time.Time `json:"tick,omitempty"`
}

// Err is an error that carries the reason the run should report.
type Err struct {
	Reason Reason
	Err    error
}

// Error is the human text only: the reason travels in its own field, and
// wrapping an Err in another must not repeat it.
func (e *Err) Error() string { return e.Err.Error() }
func (e *Err) Unwrap() error { return e.Err }

// Errorf makes an error with a reason.
func Errorf(r Reason, format string, args ...any) error {
	return &Err{Reason: r, Err: fmt.Errorf(format, args...)}
}

// ReasonOf extracts the reason of an error, or def when it has none.
func ReasonOf(err error, def Reason) Reason {
	var e *Err
	if errors.As(err, &e) {
		return e.Reason
	}
	return def
}
