// Package config loads and validates revprober's YAML configuration.
//
// Decoding is strict (unknown keys are errors), every error names the file,
// the line and the path of the offending value (targets[0].endpoints[1].deadline),
// and all errors are reported at once. Environment variables (${VAR}) are
// expanded per field after decoding, never over the raw text, so a secret
// that contains '#' or a newline cannot change the document's structure.
package config

import (
	"time"

	"github.com/revprober/revprober/internal/secret"
)

// Config is one configuration file.
type Config struct {
	Global       Global       `yaml:"global"`
	Evidence     Evidence     `yaml:"evidence"`
	Coordination Coordination `yaml:"coordination"`
	Targets      []Target     `yaml:"targets"`

	// Path is the file it was loaded from; Digest is the SHA-256 (hex) of
	// its bytes, recorded in evidence so an auditor knows which config ran.
	Path   string `yaml:"-"`
	Digest string `yaml:"-"`
	// secretParam is LoadOptions.SecretParam, for Redacted.
	secretParam func(kind, name string) bool
	// Warnings are problems that do not make the config invalid but will
	// likely mislead (a probe bound to fail for a known, documented
	// reason), in file order. check-config prints them; the daemon logs
	// them at every load.
	Warnings []FieldError `yaml:"-"`
}

// Global holds the defaults every target inherits.
type Global struct {
	// Listen is the address of the daemon's HTTP server. Default ":9543".
	Listen string `yaml:"listen"`
	// Interval between two runs of one probe. Default 1m.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one whole run; it must be shorter than Interval. Default 45s.
	Timeout Duration `yaml:"timeout"`
	// Deadline is the propagation deadline: how long after the revoke
	// request a promised artifact may still be alive. It must be shorter
	// than Timeout. Default 30s.
	Deadline Duration `yaml:"deadline"`
	// Hold is how long every artifact promised to die must stay dead after
	// it was first seen dead: verification goes on at a low rate (three
	// looks, about every hold/3, the last at its end), and an artifact
	// seen alive again is a fail (came_back_alive). Deadline plus Hold
	// must be shorter than Timeout. Default 10s.
	Hold Duration `yaml:"hold"`
	// RequestTimeout bounds every HTTP exchange of a run (the answer's body
	// included), so one hung request cannot eat the whole run. It must be
	// shorter than Timeout. Default 5s.
	RequestTimeout Duration `yaml:"request_timeout"`
	// PollInitial and PollMax bound the verification polling interval,
	// which grows with the time since the revocation. Defaults 10ms and 1s.
	PollInitial Duration `yaml:"poll_initial"`
	PollMax     Duration `yaml:"poll_max"`
	// SLO is the propagation latency objective used by reports. Default 30s.
	SLO Duration `yaml:"slo"`
}

// Evidence configures the tamper-evident evidence log (docs/evidence.md).
type Evidence struct {
	// Path is the evidence file; empty disables the log. Rotated files
	// get a suffix and continue the hash chain.
	Path string `yaml:"path"`
	// SigningKeyFile is an Ed25519 private key (PEM, PKCS#8); when set,
	// every record is signed.
	SigningKeyFile string `yaml:"signing_key_file"`
	// RotateBytes rotates the file past this size (0: never by size).
	RotateBytes int64 `yaml:"rotate_bytes"`
	// RotateDaily rotates the file at midnight UTC.
	RotateDaily bool `yaml:"rotate_daily"`
}

// Coordination shares probes between replicas (docs/deployment.md).
type Coordination struct {
	// Backend: "" or "none" (one replica), "redis", "kubernetes".
	Backend string `yaml:"backend"`
	// Replica names this replica in evidence; default: the hostname.
	Replica    string          `yaml:"replica"`
	Redis      RedisCoord      `yaml:"redis"`
	Kubernetes KubernetesCoord `yaml:"kubernetes"`
}

// RedisCoord is the Redis coordination backend.
type RedisCoord struct {
	Addr      string        `yaml:"addr"`
	Password  secret.Secret `yaml:"password"`
	DB        int           `yaml:"db"`
	KeyPrefix string        `yaml:"key_prefix"`
}

// KubernetesCoord is the Kubernetes Lease coordination backend.
type KubernetesCoord struct {
	Namespace string `yaml:"namespace"`
	LeaseName string `yaml:"lease_name"`
}

// Target is one identity provider (or one tenant of it).
type Target struct {
	Name string `yaml:"name"`
	// Issuer enables OpenID discovery at Issuer/.well-known/openid-configuration.
	Issuer string `yaml:"issuer"`
	// URLs override or replace discovered endpoints.
	URLs URLs `yaml:"urls"`
	TLS  TLS  `yaml:"tls"`
	// AdminClient is the prober's own client: it authenticates revocations
	// and, unless IntrospectionClient is set, introspection.
	AdminClient         Client  `yaml:"admin_client"`
	IntrospectionClient *Client `yaml:"introspection_client"`
	// Login says how canaries log in.
	Login Login `yaml:"login"`
	// Canary is a shorthand for a one-element Canaries.
	Canary   *Canary  `yaml:"canary"`
	Canaries []Canary `yaml:"canaries"`
	// Interval, Timeout, Deadline and Hold override the globals.
	Interval *Duration `yaml:"interval"`
	Timeout  *Duration `yaml:"timeout"`
	Deadline *Duration `yaml:"deadline"`
	Hold     *Duration `yaml:"hold"`
	Checks   Checks    `yaml:"checks"`
	// Endpoints are the revocation endpoints to probe; each is one probe.
	Endpoints []Endpoint `yaml:"endpoints"`
}

// URLs are explicit endpoint URLs. Empty fields come from discovery.
type URLs struct {
	Authorization         string `yaml:"authorization"`
	Token                 string `yaml:"token"`
	Introspection         string `yaml:"introspection"`
	Userinfo              string `yaml:"userinfo"`
	Revocation            string `yaml:"revocation"`
	EndSession            string `yaml:"end_session"`
	SessionStatus         string `yaml:"session_status"`
	GlobalTokenRevocation string `yaml:"global_token_revocation"`
	SessionRevocation     string `yaml:"session_revocation"`
	JWKS                  string `yaml:"jwks"`
}

// TLS configures server verification and client certificates.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify turns verification off; it is logged loudly.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Client is an OAuth client's credentials.
type Client struct {
	ClientID string `yaml:"client_id"`
	// ClientSecret comes from client_secret (which may be "${ENV}") or
	// client_secret_file.
	ClientSecret     secret.Secret `yaml:"client_secret"`
	ClientSecretFile string        `yaml:"client_secret_file"`
	// AuthMethod: client_secret_basic (default), client_secret_post,
	// private_key_jwt, tls_client_auth, none.
	AuthMethod     string   `yaml:"auth_method"`
	PrivateKeyFile string   `yaml:"private_key_file"`
	Scopes         []string `yaml:"scopes"`
}

// Login is how canaries obtain tokens.
type Login struct {
	// Method: "password" (ROPC, default) or "authorization_code" (the
	// IdP's HTML login form, with PKCE, no browser).
	Method      string   `yaml:"method"`
	Client      Client   `yaml:"client"`
	RedirectURI string   `yaml:"redirect_uri"`
	Scopes      []string `yaml:"scopes"` // default: openid profile email offline_access
	// BackchannelLogoutURI is revprober's own OIDC back-channel logout URL
	// (the daemon's /backchannel-logout, as the IdP reaches it), registered
	// out of band as the login client's backchannel_logout_uri. When set,
	// endpoints whose profile promises back-channel logout also wait for
	// the logout token (check backchannel_logout).
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// AllowedHosts are the hosts (host or host:port) the authorization-code
	// login and the prompt=none check may visit besides the authorization
	// endpoint's own: a login UI served from another origin (Ory Hydra's
	// login and consent app, a separate front end). Redirects are followed
	// and forms submitted there; the canary's password goes there only in
	// the login form's POST; no client credential ever does. A password
	// login visits no login UI and ignores it.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// Canary is a test user that exists only to be revoked.
type Canary struct {
	// Name identifies the canary in output; default: the username. It is
	// not a metric label.
	Name     string `yaml:"name"`
	Username string `yaml:"username"`
	// Password comes from password (may be "${ENV}") or password_file.
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// Attributes identify the user to revocation endpoints: uid, mail,
	// user_dn (Janssen), user_id (Keycloak, Okta, Auth0, Entra), subject.
	// A driver that asks for uid gets the username when uid is not set
	// (the run notes it): set uid when the IdP's uid differs from the
	// login name.
	Attributes map[string]string `yaml:"attributes"`
}

// Checks selects how revocation is verified.
type Checks struct {
	// Introspection, Userinfo and Refresh default to true where the
	// endpoint is known.
	Introspection *bool `yaml:"introspection"`
	Userinfo      *bool `yaml:"userinfo"`
	Refresh       *bool `yaml:"refresh"`
	// PromptNone and SessionStatus need a session-creating login
	// (login.method: authorization_code).
	PromptNone    bool `yaml:"prompt_none"`
	SessionStatus bool `yaml:"session_status"`
	// UserinfoDeadStatus are the statuses that mean "token dead" at
	// userinfo. Default [401]; 400 and 403 count when the body or the
	// WWW-Authenticate header says invalid_token.
	UserinfoDeadStatus []int `yaml:"userinfo_dead_status"`
	// Resources are protected APIs that must refuse the old access token.
	Resources []Resource `yaml:"resources"`
}

// Resource is a protected API called with the canary's access token.
type Resource struct {
	Name   string `yaml:"name"`
	URL    string `yaml:"url"`
	Method string `yaml:"method"` // default GET
	// DeadStatus are the statuses that mean "refused". Default [401, 403].
	DeadStatus []int `yaml:"dead_status"`
}

// Endpoint is one revocation endpoint of a target; target × endpoint is a probe.
type Endpoint struct {
	Name   string            `yaml:"name"`
	Driver string            `yaml:"driver"`
	URL    string            `yaml:"url"`
	Params map[string]string `yaml:"params"`
	// Deadline overrides the target's propagation deadline (asynchronous
	// endpoints need longer).
	Deadline *Duration `yaml:"deadline"`
	// Hold overrides the target's hold window.
	Hold *Duration `yaml:"hold"`
	// Expect overrides the driver's profile per artifact:
	// access_token, refresh_token, session, resource → dies|survives|unchecked.
	Expect map[string]string `yaml:"expect"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
