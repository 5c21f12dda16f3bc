package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/revprober/revprober/internal/hostmatch"
	"github.com/revprober/revprober/internal/secret"
)

// validator checks a decoded, defaulted config. Messages never quote a
// value: any value may come from the environment or a file, and so may be
// a secret.
type validator struct {
	*decoder
	dir         string // the config file's directory, for relative secret files
	checkDriver func(kind string, params map[string]string) error
	driverFacts func(kind string, params map[string]string) DriverFacts
}

// Names become Prometheus label values.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.:-]+$`)

var (
	authMethods  = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "none"}
	loginMethods = []string{"password", "authorization_code"}
	artifacts    = []string{"access_token", "refresh_token", "session", "resource"}
	expectations = []string{"dies", "survives", "unchecked"}
	backends     = []string{"", "none", "redis", "kubernetes"}
)

func (v *validator) config(c *Config) {
	v.global(&c.Global)
	v.coordination(&c.Coordination)
	if c.Evidence.RotateBytes < 0 {
		v.errorAt("evidence.rotate_bytes", "must not be negative")
	}
	if len(c.Targets) == 0 {
		v.errorAt("targets", "at least one target is required")
	}
	first := map[string]string{} // target name → path of its first use
	for i := range c.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		v.name(p+".name", c.Targets[i].Name, first, "target")
		v.target(c.Global, &c.Targets[i], p)
	}
	if len(v.errs) == 0 { // sums of invalid durations would only add noise
		v.canaryCapacity(c)
	}
}

func (v *validator) global(g *Global) {
	if _, _, err := net.SplitHostPort(g.Listen); err != nil {
		v.errorAt("global.listen", "must be host:port (for example :9543)")
	}
	for key, d := range map[string]Duration{
		"interval": g.Interval, "timeout": g.Timeout, "deadline": g.Deadline, "hold": g.Hold,
		"request_timeout": g.RequestTimeout, "poll_initial": g.PollInitial, "poll_max": g.PollMax, "slo": g.SLO,
	} {
		v.positive("global."+key, d)
	}
	if g.PollInitial > g.PollMax {
		v.errorAt("global.poll_initial", "must not exceed poll_max (%s)", g.PollMax)
	}
	interval, timeout, deadline := v.globals(g)
	v.order(timeout, interval, 0)
	v.order(deadline, timeout, 0)
	v.window(deadline, v.globalSetting("hold", g.Hold), timeout, 0)
	v.requestTimeoutFits(*g, timeout, 0)
}

func (v *validator) coordination(c *Coordination) {
	if !slices.Contains(backends, c.Backend) {
		v.errorAt("coordination.backend", "must be one of none, redis, kubernetes")
	}
	if c.Backend == "redis" && c.Redis.Addr == "" {
		v.errorAt("coordination.redis.addr", "required with backend redis")
	}
}

func (v *validator) target(g Global, t *Target, p string) {
	v.urls(t, p)
	v.tls(&t.TLS, p+".tls")
	v.client(t, &t.AdminClient, p+".admin_client")
	if t.IntrospectionClient != nil {
		v.client(t, t.IntrospectionClient, p+".introspection_client")
	}
	v.login(t, p)
	v.canaries(t, p)
	v.checks(&t.Checks, p+".checks")
	v.timing(g, t, p)
	v.endpoints(g, t, p)
}

// name checks a label-valued name, unique among those in first.
func (v *validator) name(path, name string, first map[string]string, what string) {
	switch prev, dup := first[name]; {
	case name == "":
		v.errorAt(path, "required")
	case !nameRE.MatchString(name):
		v.errorAt(path, "must match %s (it becomes a metric label)", nameRE)
	case dup:
		v.errorAt(path, "duplicate %s name (first at line %d)", what, v.line(prev))
	default:
		first[name] = path
	}
}

// urls requires discovery or enough explicit URLs to log in and verify.
func (v *validator) urls(t *Target, p string) {
	v.url(p+".issuer", t.Issuer)
	u := reflect.ValueOf(t.URLs)
	for key, i := range fieldsOf(u.Type()) {
		v.url(p+".urls."+key, u.Field(i).String())
	}
	if t.Issuer != "" {
		return
	}
	if t.URLs.Token == "" {
		v.errorAt(p+".urls.token", "required when issuer is not set")
	}
	if t.URLs.Introspection == "" && t.URLs.Userinfo == "" && t.URLs.SessionStatus == "" && len(t.Checks.Resources) == 0 {
		v.errorAt(p+".urls", "needs a verification URL (introspection, userinfo, session_status or checks.resources) when issuer is not set")
	}
	if t.Login.Method == "authorization_code" && t.URLs.Authorization == "" {
		v.errorFor(p+".urls.authorization", p+".login.method", "required for login.method authorization_code when issuer is not set")
	}
}

// url requires an absolute http(s) URL. Plain http is accepted here: TLS
// policy is enforced where connections are made. Credentials in a URL would
// be shown by Redacted and logged, so they are refused.
func (v *validator) url(path, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorAt(path, "must be an absolute http:// or https:// URL")
	case u.User != nil:
		v.errorAt(path, "must not contain credentials (user:password@)")
	}
}

func (v *validator) tls(t *TLS, p string) {
	if t.CertFile != "" && t.KeyFile == "" {
		v.errorFor(p+".key_file", p+".cert_file", "required with cert_file")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		v.errorFor(p+".cert_file", p+".key_file", "required with key_file")
	}
}

func (v *validator) client(t *Target, c *Client, p string) {
	loaded := v.secret(&c.ClientSecret, c.ClientSecretFile, p+".client_secret")
	if c.ClientID == "" {
		v.errorAt(p+".client_id", "required")
	}
	switch c.AuthMethod {
	case "client_secret_basic", "client_secret_post":
		if c.ClientSecret.IsZero() && loaded {
			v.errorFor(p+".client_secret", p+".auth_method", "required for auth_method %s (or client_secret_file)", c.AuthMethod)
		}
	case "private_key_jwt":
		if c.PrivateKeyFile == "" {
			v.errorFor(p+".private_key_file", p+".auth_method", "required for auth_method private_key_jwt")
		}
	case "tls_client_auth":
		if t.TLS.CertFile == "" {
			v.errorAt(p+".auth_method", "tls_client_auth needs the target's tls.cert_file and tls.key_file")
		}
	case "none":
	default:
		v.errorAt(p+".auth_method", "must be one of %s", strings.Join(authMethods, ", "))
	}
}

// secret loads s from file when one is set. A relative file is resolved
// against the config file's directory, so the config means the same thing
// whatever the daemon's working directory. Errors show the file's path,
// never its content. It reports whether s is usable (false: already reported).
func (v *validator) secret(s *secret.Secret, file, path string) bool {
	if file == "" {
		return true
	}
	if !s.IsZero() {
		v.errorAt(path+"_file", "set %s or %s_file, not both", lastKey(path), lastKey(path))
		return false
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(v.dir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if v.noSecrets {
			v.warnFor(path+"_file", path+"_file", "cannot read %s: %v (structure checked without it)", file, err)
			*s = secret.New(file) // stands in, so "required" holds
			return true
		}
		v.errorAt(path+"_file", "cannot read %s: %v", file, err)
		return false
	}
	*s = secret.New(strings.TrimRight(string(b), "\r\n"))
	return true
}

func lastKey(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

func (v *validator) login(t *Target, p string) {
	l := &t.Login
	v.client(t, &l.Client, p+".login.client")
	v.url(p+".login.redirect_uri", l.RedirectURI)
	v.url(p+".login.backchannel_logout_uri", l.BackchannelLogoutURI)
	switch l.Method {
	case "password":
		// ROPC creates no browser session, so there is nothing to check.
		if t.Checks.PromptNone {
			v.errorAt(p+".checks.prompt_none", "needs a session: set login.method authorization_code")
		}
		if t.Checks.SessionStatus {
			v.errorAt(p+".checks.session_status", "needs a session: set login.method authorization_code")
		}
	case "authorization_code":
		if l.RedirectURI == "" {
			v.errorFor(p+".login.redirect_uri", p+".login.method", "required for login.method authorization_code")
		}
	default:
		v.errorAt(p+".login.method", "must be one of %s", strings.Join(loginMethods, ", "))
	}
	for i, h := range l.AllowedHosts {
		if _, err := hostmatch.Parse(h); err != nil {
			v.errorAt(fmt.Sprintf("%s.login.allowed_hosts[%d]", p, i), "%v", err)
		}
	}
}

func (v *validator) canaries(t *Target, p string) {
	if t.Canary == nil && len(t.Canaries) == 0 {
		v.errorAt(p+".canaries", "at least one canary is required (canary or canaries)")
	}
	if t.Canary != nil {
		v.canary(t.Canary, p+".canary")
	}
	for i := range t.Canaries {
		v.canary(&t.Canaries[i], fmt.Sprintf("%s.canaries[%d]", p, i))
	}
}

func (v *validator) canary(c *Canary, p string) {
	loaded := v.secret(&c.Password, c.PasswordFile, p+".password")
	if c.Username == "" {
		v.errorAt(p+".username", "required")
	}
	if c.Password.IsZero() && loaded {
		v.errorAt(p+".password", "required (password or password_file)")
	}
}

func (v *validator) checks(c *Checks, p string) {
	v.statuses(p+".userinfo_dead_status", c.UserinfoDeadStatus)
	for i, r := range c.Resources {
		rp := fmt.Sprintf("%s.resources[%d]", p, i)
		if r.URL == "" {
			v.errorAt(rp+".url", "required")
		}
		v.url(rp+".url", r.URL)
		v.statuses(rp+".dead_status", r.DeadStatus)
	}
}

func (v *validator) statuses(p string, codes []int) {
	for i, code := range codes {
		// Only a refusal of the token can mean "dead": a 5xx, a 429 or
		// a redirect says the server could not answer, and counting it
		// as dead would turn an outage into a pass.
		if code < 400 || code > 499 || code == 429 {
			v.errorAt(fmt.Sprintf("%s[%d]", p, i), "must be a 4xx HTTP status other than 429 (a status that refuses the token)")
		}
	}
}

func (v *validator) endpoints(g Global, t *Target, p string) {
	if len(t.Endpoints) == 0 {
		v.errorAt(p+".endpoints", "at least one endpoint is required")
	}
	first := map[string]string{}
	for i := range t.Endpoints {
		e := &t.Endpoints[i]
		ep := fmt.Sprintf("%s.endpoints[%d]", p, i)
		if e.Driver == "" {
			v.errorAt(ep+".driver", "required")
		} else {
			v.name(ep+".name", e.Name, first, "endpoint")
			if v.driver(e, ep) {
				v.endpointWarnings(g, t, p, e, ep)
			}
		}
		v.url(ep+".url", e.URL)
		v.expect(e.Expect, ep+".expect")
		v.endpointTiming(g, t, p, e, ep)
	}
}

// driver checks the kind and params; it reports whether they are valid.
func (v *validator) driver(e *Endpoint, p string) bool {
	if v.checkDriver == nil {
		return true
	}
	if err := v.checkDriver(e.Driver, e.Params); err != nil {
		v.errorAt(p+".driver", "%v", err)
		return false
	}
	return true
}

func (v *validator) expect(m map[string]string, p string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(artifacts, k) {
			v.errorAt(p+"."+k, "unknown artifact: want one of %s", strings.Join(artifacts, ", "))
		} else if !slices.Contains(expectations, m[k]) {
			v.errorAt(p+"."+k, "must be one of %s", strings.Join(expectations, ", "))
		}
	}
}
