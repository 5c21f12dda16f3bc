package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env is the environment the tests see; Parse never reads the real one.
var env = map[string]string{
	"REDIS_PASSWORD":    "env-secret-redis",
	"CANARY_APP_SECRET": "env-secret-app",
	"CANARY01_PASSWORD": "env-secret-canary01",
	"CANARY03_PASSWORD": "env-secret-canary03",
	"HASHED":            "a # not a comment\nkey: not a key",
	"HOST":              "idp.example.com",
}

func lookup(name string) (string, bool) { v, ok := env[name]; return v, ok }

// checkDriver stands in for the driver registry.
func checkDriver(kind string, params map[string]string) error {
	switch kind {
	case "rfc7009", "keycloak-user-logout", "janssen-global-token-revocation", "webhook":
		return nil
	case "needs-param":
		if params["realm"] == "" {
			return errors.New("param realm is required")
		}
		return nil
	}
	return fmt.Errorf("unknown driver %q", kind)
}

// secretParam stands in for the registry's secret params: the webhook's headers.
func secretParam(kind, name string) bool {
	return kind == "webhook" && strings.HasPrefix(name, "header_")
}

var opts = LoadOptions{CheckDriver: checkDriver, LookupEnv: lookup, SecretParam: secretParam}

// base is a minimal valid config; validation cases edit one line of it.
const base = `global:
  interval: 1m
targets:
  - name: idp
    issuer: https://idp.example.com
    admin_client:
      client_id: prober
      client_secret: s3cret
    login:
      client: {client_id: app, auth_method: none}
    canary:
      username: canary1
      password: pw
    endpoints:
      - driver: rfc7009
`

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse("test.yml", []byte(doc), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %v", err)
	}
	return errs.List
}

func TestFull(t *testing.T) {
	c, err := Load("testdata/full.yml", opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "testdata/full.yml" || len(c.Digest) != 64 {
		t.Errorf("Path %q Digest %q", c.Path, c.Digest)
	}
	if c.Global.Interval.D() != time.Minute || c.Global.PollInitial.D() != 10*time.Millisecond {
		t.Errorf("global: %+v", c.Global)
	}
	if c.Coordination.Redis.Password.Reveal() != "env-secret-redis" || c.Coordination.Redis.DB != 2 {
		t.Errorf("redis: %+v", c.Coordination.Redis)
	}
	jans, kc := &c.Targets[0], &c.Targets[1]
	for _, tc := range []struct{ name, got, want string }{
		{"admin secret (file, newline trimmed)", jans.AdminClient.ClientSecret.Reveal(), "file-secret-admin"},
		{"login secret (env)", jans.Login.Client.ClientSecret.Reveal(), "env-secret-app"},
		{"canary02 password (file)", jans.Canaries[0].Password.Reveal(), "file-password-canary2"},
		{"$$ escape, # in quotes", kc.AdminClient.ClientSecret.Reveal(), "lit$eral#not-a-comment"},
		{"merged login, overridden method", kc.Login.Method, "password"},
		{"merged login client", kc.Login.Client.ClientID, "canary-app"},
		{"endpoint name defaults to driver", jans.Endpoints[1].Name, "rfc7009"},
		{"canary name defaults to username", jans.Canaries[0].Name, "canary02"},
		{"auth_method default", kc.AdminClient.AuthMethod, "client_secret_basic"},
		{"expect", jans.Endpoints[0].Expect["resource"], "unchecked"},
		{"attributes", jans.Canary.Attributes["user_dn"], "inum=CANARY01,ou=people,o=jans"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if jans.Checks.RefreshEnabled() || !jans.Checks.UserinfoEnabled() || !kc.Checks.IntrospectionEnabled() {
		t.Error("checks enabled flags")
	}
	if got := kc.Checks.UserinfoDeadStatus; !reflect.DeepEqual(got, []int{401}) {
		t.Errorf("userinfo_dead_status default: %v", got)
	}
	if got := jans.Login.AllowedHosts; !reflect.DeepEqual(got, []string{"login.example.com", "accounts.example.com:8443"}) {
		t.Errorf("login.allowed_hosts: %v", got)
	}
	if got := len(jans.AllCanaries()); got != 2 {
		t.Errorf("AllCanaries: %d", got)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, strings.Replace(base, "global:\n  interval: 1m\n", "", 1))
	want := Global{
		Listen: ":9543", Interval: Duration(time.Minute), Timeout: Duration(45 * time.Second),
		Deadline: Duration(30 * time.Second), Hold: Duration(10 * time.Second), RequestTimeout: Duration(5 * time.Second),
		PollInitial: Duration(10 * time.Millisecond),
		PollMax:     Duration(time.Second), SLO: Duration(30 * time.Second),
	}
	if c.Global != want {
		t.Errorf("global: got %+v", c.Global)
	}
	tg := c.Targets[0]
	if tg.Login.Method != "password" || strings.Join(tg.Login.Scopes, " ") != "openid profile email offline_access" {
		t.Errorf("login: %+v", tg.Login)
	}
	if tg.Endpoints[0].Name != "rfc7009" || tg.Canary.Name != "canary1" {
		t.Errorf("names: %q %q", tg.Endpoints[0].Name, tg.Canary.Name)
	}
	c = mustParse(t, strings.Replace(base, "    endpoints:", "    checks:\n      resources: [{url: https://api.example.com}]\n    endpoints:", 1))
	if r := c.Targets[0].Checks.Resources[0]; r.Method != "GET" || !reflect.DeepEqual(r.DeadStatus, []int{401, 403}) {
		t.Errorf("resource: %+v", r)
	}
}

// TestValidation edits one line of base per case. The line that must be
// blamed carries the marker "#<"; the error must be there, with that path.
func TestValidation(t *testing.T) {
	tests := []struct {
		name, old, new, path, msg string
	}{
		{"no targets", base, "global: {} #<\n", "targets", "at least one target"},
		{"target name required", "name: idp", "name: \"\" #<", "targets[0].name", "required"},
		{"target name label", "name: idp", "name: my idp #<", "targets[0].name", "must match"},
		{"target name unique", "    endpoints:\n      - driver: rfc7009\n", "    endpoints:\n      - driver: rfc7009\n" +
			"  - name: idp #<\n    issuer: https://x.example\n    admin_client: {client_id: a, auth_method: none}\n    login: {client: {client_id: a, auth_method: none}}\n    canary: {username: u, password: p}\n    endpoints: [{driver: rfc7009}]\n",
			"targets[1].name", "duplicate target name (first at line 4)"},
		{"issuer or urls", "    issuer: https://idp.example.com", "    urls: {token: https://idp.example.com/token} #<", "targets[0].urls", "needs a verification URL"},
		{"token url without issuer", "    issuer: https://idp.example.com", "    urls: #<\n      userinfo: https://idp.example.com/userinfo", "targets[0].urls.token", "required when issuer is not set"},
		{"relative url", "issuer: https://idp.example.com", "issuer: /idp #<", "targets[0].issuer", "absolute http:// or https:// URL"},
		{"ftp url", "issuer: https://idp.example.com", "issuer: ftp://idp.example.com #<", "targets[0].issuer", "absolute http"},
		{"credentials in url", "issuer: https://idp.example.com", "issuer: https://u:p@idp.example.com #<", "targets[0].issuer", "credentials"},
		{"resource url", "    endpoints:", "    checks:\n      resources:\n        - url: api.example.com #<\n    endpoints:", "targets[0].checks.resources[0].url", "absolute"},
		{"endpoint url", "- driver: rfc7009", "- driver: rfc7009\n        url: //x #<", "targets[0].endpoints[0].url", "absolute"},
		{"timeout < interval", "  interval: 1m", "  interval: 1m\n  timeout: 1m #<", "global.timeout", "must be shorter than the interval (1m)"},
		{"target interval < global timeout", "    issuer:", "    interval: 40s #<\n    issuer:", "targets[0].interval", "must be longer than the timeout (45s)"},
		{"deadline < timeout, target", "    issuer:", "    timeout: 20s #<\n    issuer:", "targets[0].timeout", "must be longer than the deadline (30s)"},
		{"deadline < timeout, endpoint", "- driver: rfc7009", "- driver: rfc7009\n        deadline: 50s #<", "targets[0].endpoints[0].deadline", "must be shorter than the timeout (45s)"},
		{"deadline + hold < timeout, global", "  interval: 1m", "  interval: 1m\n  hold: 15s #<", "global.hold", "plus the deadline (30s) must be shorter than the timeout (45s): shorten the hold below 15s, or raise the timeout"},
		{"deadline + hold < timeout, global deadline", "  interval: 1m", "  interval: 1m\n  deadline: 40s #<", "global.deadline", "plus the hold (10s) must be shorter than the timeout (45s): shorten the deadline below 35s"},
		{"deadline + hold < timeout, target", "    issuer:", "    timeout: 35s #<\n    issuer:", "targets[0].timeout", "must be longer than the deadline plus the hold (30s + 10s): raise it above 40s"},
		{"deadline + hold < timeout, endpoint hold", "- driver: rfc7009", "- driver: rfc7009\n        hold: 20s #<", "targets[0].endpoints[0].hold", "plus the deadline (30s) must be shorter than the timeout (45s)"},
		{"deadline + hold < timeout, endpoint deadline", "- driver: rfc7009", "- driver: rfc7009\n        deadline: 40s #<", "targets[0].endpoints[0].deadline", "plus the hold (10s) must be shorter than the timeout (45s)"},
		{"hold positive", "    issuer:", "    hold: 0s #<\n    issuer:", "targets[0].hold", "must be positive"},
		{"request_timeout < timeout", "  interval: 1m", "  interval: 1m\n  request_timeout: 45s #<", "global.request_timeout", "must be shorter than the timeout (45s)"},
		{"request_timeout < target timeout", "    issuer:", "    timeout: 4s #<\n    deadline: 2s\n    hold: 1s\n    issuer:", "targets[0].timeout", "must be longer than the request_timeout (5s, the default): raise it, or set global.request_timeout below 4s"},
		{"request_timeout set < target timeout", "  interval: 1m\ntargets:\n  - name: idp\n", "  interval: 1m\n  request_timeout: 3s\ntargets:\n  - name: idp\n    timeout: 2s #<\n    deadline: 1s\n    hold: 500ms\n",
			"targets[0].timeout", "must be longer than the request_timeout (3s)"},
		{"positive duration", "  interval: 1m", "  interval: 1m\n  slo: 0s #<", "global.slo", "must be positive"},
		{"poll_initial > 0", "  interval: 1m", "  interval: 1m\n  poll_initial: 0s #<", "global.poll_initial", "must be positive"},
		{"poll_initial <= poll_max", "  interval: 1m", "  interval: 1m\n  poll_initial: 2s #<", "global.poll_initial", "must not exceed poll_max (1s)"},
		{"bad duration", "interval: 1m", "interval: 1 minute #<", "global.interval", "invalid duration"},
		{"listen", "  interval: 1m", "  interval: 1m\n  listen: 9543 #<", "global.listen", "host:port"},
		{"client_id", "client_id: prober", "client_id: \"\" #<", "targets[0].admin_client.client_id", "required"},
		{"auth_method enum", "client_secret: s3cret", "client_secret: s3cret\n      auth_method: basic #<", "targets[0].admin_client.auth_method", "must be one of client_secret_basic,"},
		{"private_key_jwt", "client_secret: s3cret", "auth_method: private_key_jwt #<", "targets[0].admin_client.private_key_file", "required for auth_method private_key_jwt"},
		{"secret for basic", "      client_secret: s3cret\n", "", "targets[0].admin_client.client_secret", "required for auth_method client_secret_basic"},
		{"secret for post", "client_secret: s3cret", "client_secret: \"\"\n      auth_method: client_secret_post", "targets[0].admin_client.client_secret", "required for auth_method client_secret_post"},
		{"tls_client_auth", "client_secret: s3cret", "auth_method: tls_client_auth #<", "targets[0].admin_client.auth_method", "tls.cert_file"},
		{"introspection client", "    canary:", "    introspection_client: #<\n      auth_method: none\n    canary:", "targets[0].introspection_client.client_id", "required"},
		{"login method", "    login:\n", "    login:\n      method: implicit #<\n", "targets[0].login.method", "must be one of password, authorization_code"},
		{"login client", "client_id: app,", "client_id: \"\", #<\n       ", "targets[0].login.client.client_id", "required"},
		{"redirect_uri", "    login:\n", "    login:\n      method: authorization_code #<\n", "targets[0].login.redirect_uri", "required for login.method authorization_code"},
		{"backchannel_logout_uri", "    login:\n", "    login:\n      backchannel_logout_uri: /backchannel-logout #<\n", "targets[0].login.backchannel_logout_uri", "absolute http"},
		{"allowed_hosts entry", "    login:\n", "    login:\n      method: authorization_code\n      redirect_uri: https://cb.example/cb\n      allowed_hosts:\n        - login.example.com\n        - https://login.example.com #<\n", "targets[0].login.allowed_hosts[1]", "must be host or host:port, not a URL"},
		{"allowed_hosts wildcard", "    login:\n", "    login:\n      method: authorization_code\n      redirect_uri: https://cb.example/cb\n      allowed_hosts: [\"*.example.com\"] #<\n", "targets[0].login.allowed_hosts[0]", "wildcards are not supported"},
		{"prompt_none needs a session", "    canary:", "    checks:\n      prompt_none: true #<\n    canary:", "targets[0].checks.prompt_none", "authorization_code"},
		{"session_status needs a session", "    canary:", "    checks:\n      session_status: true #<\n    canary:", "targets[0].checks.session_status", "authorization_code"},
		{"a canary", "    canary:\n      username: canary1\n      password: pw\n", "    canaries: [] #<\n", "targets[0].canaries", "at least one canary"},
		{"canary username", "    canary:\n      username: canary1", "    canary: #<\n      name: c", "targets[0].canary.username", "required"},
		{"canary password", "      password: pw\n", "", "targets[0].canary.password", "required (password or password_file)"},
		{"expect key", "- driver: rfc7009", "- driver: rfc7009\n        expect: {id_token: dies} #<", "targets[0].endpoints[0].expect.id_token", "unknown artifact"},
		{"expect value", "- driver: rfc7009", "- driver: rfc7009\n        expect:\n          session: maybe #<", "targets[0].endpoints[0].expect.session", "must be one of dies, survives, unchecked"},
		{"an endpoint", "    endpoints:\n      - driver: rfc7009\n", "    endpoints: [] #<\n", "targets[0].endpoints", "at least one endpoint"},
		{"driver required", "- driver: rfc7009", "- name: x #<", "targets[0].endpoints[0].driver", "required"},
		{"driver checked", "- driver: rfc7009", "- driver: nope #<", "targets[0].endpoints[0].driver", `unknown driver "nope"`},
		{"driver params checked", "- driver: rfc7009", "- driver: needs-param #<\n        params: {}", "targets[0].endpoints[0].driver", "param realm is required"},
		{"endpoint name unique", "- driver: rfc7009\n", "- driver: rfc7009\n      - driver: rfc7009 #<\n", "targets[0].endpoints[1].name", "duplicate endpoint name (first at line 15)"},
		{"endpoint name label", "- driver: rfc7009", "- driver: rfc7009\n        name: a/b #<", "targets[0].endpoints[0].name", "must match"},
		{"tls pair", "    canary:", "    tls:\n      cert_file: c.pem #<\n    canary:", "targets[0].tls.key_file", "required with cert_file"},
		{"dead status", "    canary:", "    checks:\n      userinfo_dead_status: [401, 4010] #<\n    canary:", "targets[0].checks.userinfo_dead_status[1]", "HTTP status"},
		{"backend", "targets:", "coordination: {backend: etcd} #<\ntargets:", "coordination.backend", "must be one of"},
		{"duplicate key", "client_id: prober", "client_id: prober\n      client_id: again #<", "targets[0].admin_client.client_id", "duplicate key (first at line 7)"},
		{"unknown key", "client_secret: s3cret", "client_secret: s3cret\n      client_secrte: x #<", "targets[0].admin_client.client_secrte", "unknown key (did you mean client_secret?)"},
		{"wrong shape", "    canary:\n      username: canary1\n      password: pw\n", "    canary: [canary1] #<\n", "targets[0].canary", "must be a mapping, not a list"},
		{"not an integer", "targets:", "coordination:\n  redis: {db: two} #<\ntargets:", "coordination.redis.db", "must be an integer"},
		{"unset variable", "client_id: prober", "client_id: ${NOPE} #<", "targets[0].admin_client.client_id", "environment variable NOPE is not set"},
		{"both secret and file", "client_secret: s3cret", "client_secret: s3cret\n      client_secret_file: f #<", "targets[0].admin_client.client_secret_file", "set client_secret or client_secret_file, not both"},
		{"missing secret file", "password: pw", "password_file: missing.txt #<", "targets[0].canary.password_file", "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("base has no %q", tc.old)
			}
			doc := strings.Replace(base, tc.old, tc.new, 1)
			_, err := Parse("test.yml", []byte(doc), opts)
			if err == nil {
				t.Fatal("no error")
			}
			list := fieldErrors(t, err)
			if len(list) != 1 {
				t.Errorf("want one error, got:\n%v", err)
			}
			fe := list[0]
			if fe.Path != tc.path || !strings.Contains(fe.Message, tc.msg) {
				t.Errorf("got %q, want path %q and message containing %q", fe.Error(), tc.path, tc.msg)
			}
			if want := markedLine(doc); want != 0 && fe.Line != want {
				t.Errorf("got line %d, want %d (#<):\n%s", fe.Line, want, doc)
			}
		})
	}
}

// markedLine is the 1-based line holding "#<", or 0.
func markedLine(doc string) int {
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, "#<") {
			return i + 1
		}
	}
	return 0
}

func TestErrorFormat(t *testing.T) {
	doc := `targets:
  - name: idp
    issuer: https://idp.example.com
    admin_client: {client_id: a, client_secret: b}
    login: {client: {client_id: app, auth_method: none}}
    canary: {username: u, password: p}
    endpoints:
      - driver: rfc7009
      - name: slow
        driver: rfc7009
        deadline: 45s
`
	_, err := Parse("revprober.yml", []byte(doc), opts)
	want := "revprober.yml:11:19: targets[0].endpoints[1].deadline: must be shorter than the timeout (45s)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestSeveralErrors(t *testing.T) {
	doc := `global:
  timeout: 2m
  colour: blue
targets:
  - name: a b
    admin_client: {auth_method: none}
    canary: {username: u, password: "${UNSET}"}
    login: {client: {client_id: app, auth_method: none}}
    endpoints: [{driver: nope, expect: {session: gone}}]
`
	_, err := Parse("x.yml", []byte(doc), opts)
	want := strings.Join([]string{
		"x.yml:2:12: global.timeout: must be shorter than the interval (1m)",
		"x.yml:3:3: global.colour: unknown key",
		"x.yml:5:5: targets[0].urls.token: required when issuer is not set",
		"x.yml:5:5: targets[0].urls: needs a verification URL (introspection, userinfo, session_status or checks.resources) when issuer is not set",
		"x.yml:5:11: targets[0].name: must match ^[a-zA-Z0-9_.:-]+$ (it becomes a metric label)",
		"x.yml:6:5: targets[0].admin_client.client_id: required",
		"x.yml:7:37: targets[0].canary.password: environment variable UNSET is not set",
		"x.yml:9:26: targets[0].endpoints[0].driver: unknown driver \"nope\"",
		"x.yml:9:50: targets[0].endpoints[0].expect.session: must be one of dies, survives, unchecked",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("x.yml", []byte("targets:\n  - name: a\n   bad: [\n"), opts)
	list := fieldErrors(t, err)
	if len(list) != 1 || list[0].Line == 0 || list[0].Path != "" {
		t.Errorf("got %#v", list)
	}
	_, err = Parse("x.yml", []byte(base+"---\n"+base), opts)
	if err == nil || !strings.Contains(err.Error(), "only one YAML document") {
		t.Errorf("two documents: %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	doc := strings.Replace(base, "password: pw", "password: ${HASHED}\n      attributes:\n        ${HOST}: x$$y-${HOST}-$z", 1)
	c := mustParse(t, doc)
	if got := c.Targets[0].Canary.Password.Reveal(); got != env["HASHED"] {
		t.Errorf("password: got %q", got)
	}
	// Keys are never expanded; values are, with $$ as a literal $ and a lone $ kept.
	if got := c.Targets[0].Canary.Attributes; !reflect.DeepEqual(got, map[string]string{"${HOST}": "x$y-idp.example.com-$z"}) {
		t.Errorf("attributes: %q", got)
	}
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"}, {"$", "$"}, {"a$$", "a$"}, {"$${HOST}", "${HOST}"},
		{"https://${HOST}/x", "https://idp.example.com/x"}, {"${HOST}${HOST}", "idp.example.comidp.example.com"},
	} {
		if got, err := expand(tc.in, lookup); err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"${HOST", "${1X}", "${}", "${NOPE}"} {
		if _, err := expand(in, lookup); err == nil {
			t.Errorf("expand(%q): no error", in)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(base, "password: pw", "password_file: pw", 1)
	doc = strings.Replace(doc, "client_secret: s3cret", "client_secret_file: "+filepath.Join(dir, "pw"), 1)
	path := filepath.Join(dir, "revprober.yml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, opts) // the relative "pw" resolves against dir, not the working directory
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Targets[0].Canary.Password.Reveal(); got != "from-file" {
		t.Errorf("password_file: %q", got)
	}
	if got := c.Targets[0].AdminClient.ClientSecret.Reveal(); got != "from-file" {
		t.Errorf("client_secret_file: %q", got)
	}
}

// TestSecretsNeverShown plants secrets in the environment and in a file,
// breaks the config around them, and checks every error and Redacted.
func TestSecretsNeverShown(t *testing.T) {
	const envSecret, fileSecret = "ENV-SECRET-d8f1", "FILE-SECRET-77a2"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s"), []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := opts
	o.LookupEnv = func(n string) (string, bool) {
		if n == "S" {
			return envSecret, true
		}
		return lookup(n)
	}
	docs := []string{
		strings.Replace(base, "client_secret: s3cret", "client_secret: ${S}\n      client_secret_file: s", 1),
		strings.Replace(base, "password: pw", "password: ${S}\n      password_file: s", 1),
		strings.Replace(base, "issuer: https://idp.example.com", "issuer: ${S}", 1),
		strings.Replace(base, "issuer: https://idp.example.com", "issuer: https://${S}:${S}@x", 1),
		strings.Replace(base, "interval: 1m", "interval: ${S}", 1),
		strings.Replace(base, "name: idp", "name: ${S} x", 1),
		strings.Replace(base, "- driver: rfc7009", "- driver: rfc7009\n        expect: {session: '${S}'}", 1),
		strings.Replace(base, "client_secret: s3cret", "client_secret: ${S}\n      auth_method: ${S}", 1),
		strings.Replace(base, "password: pw", "password: ${S}${", 1),
	}
	for i, doc := range docs {
		_, err := Parse(filepath.Join(dir, "c.yml"), []byte(doc), o)
		if err == nil {
			t.Errorf("doc %d: no error", i)
			continue
		}
		if s := err.Error(); strings.Contains(s, envSecret) || strings.Contains(s, fileSecret) {
			t.Errorf("doc %d leaks a secret: %s", i, s)
		}
	}
	doc := strings.Replace(base, "client_secret: s3cret", "client_secret_file: s", 1)
	doc = strings.Replace(doc, "password: pw", "password: ${S}", 1)
	c, err := Parse(filepath.Join(dir, "c.yml"), []byte(doc), o)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out) + fmt.Sprintf("%v %+v", c, c); strings.Contains(s, envSecret) || strings.Contains(s, fileSecret) {
		t.Errorf("leak:\n%s", s)
	}
}

func TestRedacted(t *testing.T) {
	c, err := Load("testdata/full.yml", opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, v := range []string{"env-secret-redis", "env-secret-app", "env-secret-canary01", "env-secret-canary03"} {
		if strings.Contains(s, v) {
			t.Errorf("secret %q in:\n%s", v, s)
		}
	}
	for _, want := range []string{
		"password: <secret>",                      // from the environment
		"client_secret_file: admin-client-secret", // from a file: the file is shown...
		"client_secret: <secret>",
		"lease_name: revprober",
		"interval: 3m\n",
		"poll_initial: 10ms\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("want %q in:\n%s", want, s)
		}
	}
	if strings.Contains(s, "file-secret") || strings.Count(s, "client_secret: <secret>") != 3 {
		t.Errorf("...and not the secret:\n%s", s)
	}
	// Round trip: parsing the output gives the same config (literal
	// secrets aside), so printing it again gives the same bytes.
	c2, err := Parse("testdata/redacted.yml", out, opts)
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, s)
	}
	out2, err := c2.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if string(out2) != s {
		t.Errorf("round trip differs:\n%s\n---\n%s", s, out2)
	}
	if c2.Targets[1].AdminClient.ClientSecret.Reveal() != "<secret>" {
		t.Error("a literal secret should come back as <secret>")
	}
	c.Path, c.Digest, c2.Path, c2.Digest = "", "", "", ""
	c.secretParam, c2.secretParam = nil, nil // funcs are never DeepEqual
	c.Warnings, c2.Warnings = nil, nil       // they name the file they were found in
	clearSecrets(reflect.ValueOf(c).Elem())
	clearSecrets(reflect.ValueOf(c2).Elem())
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", c, c2)
	}
}

// clearSecrets zeroes every secret reachable from v.
func clearSecrets(v reflect.Value) {
	switch {
	case v.Type() == secretType:
		v.Set(reflect.Zero(secretType))
	case v.Kind() == reflect.Pointer && !v.IsNil():
		clearSecrets(v.Elem())
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				clearSecrets(v.Field(i))
			}
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			clearSecrets(v.Index(i))
		}
	}
}

func TestEffective(t *testing.T) {
	d := func(s string) *Duration { v, _ := time.ParseDuration(s); x := Duration(v); return &x }
	g := Global{Interval: *d("1m"), Timeout: *d("45s"), Deadline: *d("30s")}
	inherits := &Target{}
	overrides := &Target{Interval: d("5m"), Timeout: d("2m"), Deadline: d("1m")}
	slow := &Endpoint{Deadline: d("100s")}
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"interval inherited", inherits.EffectiveInterval(g), time.Minute},
		{"timeout inherited", inherits.EffectiveTimeout(g), 45 * time.Second},
		{"deadline inherited", inherits.EffectiveDeadline(g, nil), 30 * time.Second},
		{"deadline, endpoint without one", inherits.EffectiveDeadline(g, &Endpoint{}), 30 * time.Second},
		{"interval overridden", overrides.EffectiveInterval(g), 5 * time.Minute},
		{"timeout overridden", overrides.EffectiveTimeout(g), 2 * time.Minute},
		{"deadline overridden", overrides.EffectiveDeadline(g, nil), time.Minute},
		{"endpoint deadline wins", overrides.EffectiveDeadline(g, slow), 100 * time.Second},
		{"zero global falls back to the default", inherits.EffectiveTimeout(Global{}), 45 * time.Second},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	c := Checks{Refresh: new(false)}
	if !c.IntrospectionEnabled() || !c.UserinfoEnabled() || c.RefreshEnabled() {
		t.Error("checks: nil means enabled, false means disabled")
	}
	tg := &Target{Canary: &Canary{Username: "a"}, Canaries: []Canary{{Name: "second", Username: "b"}}}
	if got := tg.AllCanaries(); len(got) != 2 || got[0].Name != "a" || got[1].Name != "second" {
		t.Errorf("AllCanaries: %+v", got)
	}
}

func TestDurationString(t *testing.T) {
	for in, want := range map[time.Duration]string{
		time.Minute: "1m", time.Hour: "1h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s",
		10 * time.Millisecond: "10ms", 61 * time.Second: "1m1s", 0: "0s",
	} {
		if got := Duration(in).String(); got != want {
			t.Errorf("%v: got %q, want %q", in, got, want)
		}
	}
}

// TestAliasBomb: aliases are expanded by our walk, which must stay bounded
// however they are nested: through lists that fit the schema, or merge keys.
func TestAliasBomb(t *testing.T) {
	ten := func(a string) string { return strings.TrimSuffix(strings.Repeat("*"+a+", ", 10), ", ") }
	schema := "x: &a {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v, k9: v}\n" +
		"y: &c {username: u, attributes: *a}\n" +
		"z: &cs [" + strings.Repeat(ten("c")+", ", 99) + ten("c") + "]\n" +
		"w: &t {name: t, canaries: *cs}\n" +
		"targets: [" + strings.Repeat(ten("t")+", ", 9) + ten("t") + "]\n"
	merge := "m0: &m0 {name: x}\n"
	for i := 1; i < 10; i++ {
		merge += fmt.Sprintf("m%d: &m%d {<<: [%s]}\n", i, i, ten(fmt.Sprintf("m%d", i-1)))
	}
	merge += "targets: [{<<: *m9}]\n"
	defer func(n int) { maxNodes = n }(maxNodes)
	maxNodes = 100_000 // the bombs expand to 10^8 and 10^9 nodes; this keeps the test fast
	for name, doc := range map[string]string{"schema": schema, "merge": merge} {
		_, err := Parse("bomb.yml", []byte(doc), opts)
		if err == nil || !strings.Contains(err.Error(), "document too large") {
			t.Errorf("%s: got %.300v", name, err)
		}
	}
}

func TestRelativePathsFollowTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	data := []byte(`
evidence: {path: evidence/revprober.jsonl}
targets:
  - name: t
    issuer: https://idp.example.com
    tls: {ca_file: certs/ca.pem}
    admin_client: {client_id: a, client_secret: s, auth_method: client_secret_basic}
    login: {client: {client_id: c, client_secret: s}}
    canary: {username: u, password: p}
    endpoints: [{driver: x}]
`)
	c, err := Parse(filepath.Join(dir, "revprober.yml"), data, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "evidence/revprober.jsonl"); c.Evidence.Path != want {
		t.Errorf("evidence.path = %q, want %q", c.Evidence.Path, want)
	}
	if want := filepath.Join(dir, "certs/ca.pem"); c.Targets[0].TLS.CAFile != want {
		t.Errorf("tls.ca_file = %q, want %q", c.Targets[0].TLS.CAFile, want)
	}
}
