//go:build idps

// Package idps probes three real OpenID Providers through revprober's own
// command line: panva oidc-provider 9.13.3 (Node), the zitadel/oidc
// v3.49.2 example OP (Go) and Ory Hydra v2.3.0 (Go) with a login and
// consent app of ours on its own origin. Each runs on 127.0.0.1 for the
// length of one test; every case writes its own config and runs
// `revprober once -c FILE --json`, and the test asserts the verdict, the
// reason and the observations behind them. Every passing case has a
// negative control: the same case with the revoking request swallowed by a
// proxy (swallow_test.go), which must fail and record nothing dead.
//
//	make test-idps   (npm ci, builds bin/zitadel-op and bin/hydra, then:)
//	go test -tags idps ./test/idps/ -count=1
//
// Environment: REVPROBER_BIN, ZITADEL_OP and HYDRA_BIN name prebuilt
// binaries (else they are built into a temporary directory: Hydra takes
// minutes); NODE names the node binary; IDPS_RESULTS_DIR, when set,
// receives each case's JSON output (the source of docs/compatibility.md).
package idps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/revprober/revprober/internal/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Bounds of every wait in this file. Nothing here sleeps for a fixed time:
// each wait polls a condition and gives up at its bound.
const (
	readyTimeout = 30 * time.Second // provider process prints READY
	discoTimeout = 10 * time.Second // discovery document answers 200
	caseTimeout  = 90 * time.Second // one `revprober once`
	buildTimeout = 15 * time.Minute // go build (cold caches; Hydra takes minutes)
)

var (
	repoRoot     string
	revproberBin string
	zitadelBin   string
	hydraBin     string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
		tmp, err := os.MkdirTemp("", "revprober-idps-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		if revproberBin, err = binary("REVPROBER_BIN", repoRoot, "./cmd/revprober", filepath.Join(tmp, "revprober")); err != nil {
			fmt.Fprintln(os.Stderr, "idps:", err)
			return 1
		}
		if zitadelBin, err = binary("ZITADEL_OP", filepath.Join(repoRoot, "test", "idps", "zitadel"), ".", filepath.Join(tmp, "zitadel-op")); err != nil {
			fmt.Fprintln(os.Stderr, "idps:", err)
			return 1
		}
		if hydraBin, err = binary("HYDRA_BIN", filepath.Join(repoRoot, "test", "idps", "hydra"), hydraPackage, filepath.Join(tmp, "hydra"), hydraBuildFlags...); err != nil {
			fmt.Fprintln(os.Stderr, "idps:", err)
			return 1
		}
		return m.Run()
	}())
}

// binary returns $env if set, else builds pkg (in dir) into out.
func binary(env, dir, pkg, out string, flags ...string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, flags...), "-o", out, pkg)...)
	cmd.Dir = dir
	if len(flags) > 0 {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // Hydra's SQLite
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %v\n%s", pkg, dir, err, b)
	}
	return out, nil
}

// startIdP starts a provider process that prints "READY <issuer>" on
// stdout, waits (bounded) for that line and for its discovery document,
// and kills it when the test and all its subtests are done.
func startIdP(t *testing.T, cmd *exec.Cmd) (issuer string) {
	t.Helper()
	ready := make(chan string, 1)
	exited, stderr := launch(t, cmd, func(line string) {
		if iss, ok := strings.CutPrefix(line, "READY "); ok {
			select {
			case ready <- iss:
			default:
			}
		}
	})
	select {
	case issuer = <-ready:
	case <-exited:
		t.Fatalf("%s exited before it was ready: %v\n%s", cmd.Path, cmd.ProcessState, stderr.String())
	case <-time.After(readyTimeout):
		t.Fatalf("%s: no READY line within %s\n%s", cmd.Path, readyTimeout, stderr.String())
	}
	waitDiscovery(t, issuer)
	return issuer
}

// launch starts cmd, hands each stdout line to onLine, and kills the
// process when the test and all its subtests are done (its stderr is
// logged if the test failed). exited is closed when the process is gone.
func launch(t *testing.T, cmd *exec.Cmd, onLine func(string)) (exited <-chan struct{}, stderr *testenv.SyncBuffer) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			onLine(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", cmd.Path, cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(cmd.Path), tail(stderr.String(), 4000))
		}
	})
	return done, stderr
}

func waitDiscovery(t *testing.T, issuer string) {
	t.Helper()
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(discoTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		<-tick.C
	}
	t.Fatalf("discovery at %s not ready within %s: %v", u, discoTimeout, last)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// target is what a provider's cases share in their configs.
type target struct {
	name, issuer string
	admin        map[string]any
	introspector map[string]any // nil: the admin client introspects
	password     string
	urls         map[string]any // explicit endpoint URLs, if any
	allowedHosts []string       // login.allowed_hosts
	subjectAttr  bool           // the canary's subject attribute is its username (Hydra)
}

// tcase is one config and what `revprober once` must answer for it.
type tcase struct {
	name     string
	canary   string   // unique per case: cases run concurrently and must not revoke each other
	scopes   []string // nil: openid offline_access profile email
	checks   map[string]any
	endpoint map[string]any

	result, reason string
	// after: what each check saw after the revocation (check name → state).
	after map[string]string
	// drift: the artifacts reported as drift (none when empty).
	drift []string
	// detail, when set, must appear in the run's detail.
	detail string
	// noAllowedHosts leaves login.allowed_hosts out of the config.
	noAllowedHosts bool
	// swallow, when set, puts a proxy that swallows the revoking request
	// between the driver and the server (a negative control).
	swallow *swallow
	// noneDead: no check may record an artifact dead (nothing was revoked).
	noneDead bool
}

// result is the part of `revprober once --json` the assertions read.
type result struct {
	Results []run `json:"results"`
}

type run struct {
	Target, Endpoint, Result, Reason, Detail string
	Drift                                    []string `json:"drift"`
	Checks                                   []struct {
		Check, Artifact, Expect, Before, After, Detail string
		Polls                                          int
		Drift                                          bool
	} `json:"checks"`
	Steps []struct {
		Name, Error string
	} `json:"steps"`
	Requests []struct {
		Step, Method, URL string
		Status            int
	} `json:"requests"`
	Cleanup string `json:"cleanup"`
}

// summary is a run in a few lines, for failure messages.
func (r run) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s reason=%s %s\n", r.Result, r.Reason, r.Detail)
	for _, o := range r.Checks {
		fmt.Fprintf(&b, "  check %-13s %-13s expect=%-9s before=%-5s after=%-5s polls=%d %s\n", o.Check, o.Artifact, o.Expect, o.Before, o.After, o.Polls, o.Detail)
	}
	for _, s := range r.Steps {
		if s.Error != "" {
			fmt.Fprintf(&b, "  step %s: %s\n", s.Name, s.Error)
		}
	}
	for _, q := range r.Requests {
		if q.Step == "revoke" {
			fmt.Fprintf(&b, "  revoke request: %s %s -> %d\n", q.Method, q.URL, q.Status)
		}
	}
	fmt.Fprintf(&b, "  cleanup: %s\n", r.Cleanup)
	return b.String()
}

func (tg target) config(c tcase) map[string]any {
	scopes := c.scopes
	if scopes == nil {
		scopes = []string{"openid", "offline_access", "profile", "email"}
	}
	tgt := map[string]any{
		"name":         tg.name,
		"issuer":       tg.issuer,
		"admin_client": tg.admin,
		"login": map[string]any{
			"method":       "authorization_code",
			"redirect_uri": "http://127.0.0.1/callback",
			"client":       map[string]any{"client_id": "canary-app", "client_secret": "canary-secret"},
			"scopes":       scopes,
		},
		"canary":    map[string]any{"username": c.canary, "password": tg.password},
		"endpoints": []any{c.endpoint},
	}
	if tg.urls != nil {
		tgt["urls"] = tg.urls
	}
	if len(tg.allowedHosts) > 0 && !c.noAllowedHosts {
		tgt["login"].(map[string]any)["allowed_hosts"] = tg.allowedHosts
	}
	if tg.subjectAttr {
		tgt["canary"].(map[string]any)["attributes"] = map[string]string{"subject": c.canary}
	}
	if tg.introspector != nil {
		tgt["introspection_client"] = tg.introspector
	}
	if c.checks != nil {
		tgt["checks"] = c.checks
	}
	return map[string]any{
		"global": map[string]any{
			"interval":     "5m",
			"timeout":      "60s",
			"deadline":     "10s",
			"hold":         "1s",
			"poll_initial": "10ms",
			"poll_max":     "250ms",
		},
		"targets": []any{tgt},
	}
}

// run writes the case's config, runs the CLI and checks every assertion.
func (tg target) run(t *testing.T, c tcase) {
	t.Helper()
	var proxy *swallowProxy
	if c.swallow != nil {
		proxy = c.swallow.start(t)
		ep := map[string]any{}
		for k, v := range c.endpoint {
			ep[k] = v
		}
		ep["url"] = proxy.URL + c.swallow.urlPath
		c.endpoint = ep
	}
	doc, err := yaml.Marshal(tg.config(c))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "revprober.yml")
	if err := os.WriteFile(cfg, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, revproberBin, "once", "-c", cfg, "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("revprober once: %v\nstderr: %s", err, stderr.String())
	}
	if dir := os.Getenv("IDPS_RESULTS_DIR"); dir != "" {
		name := strings.ReplaceAll(tg.name+"_"+c.name, "/", "_") + ".json"
		_ = os.WriteFile(filepath.Join(dir, name), stdout.Bytes(), 0o644)
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res.Results) != 1 {
		t.Fatalf("revprober once exited %d without one JSON result (%v)\nconfig:\n%s\nstdout: %s\nstderr: %s", code, err, doc, stdout.String(), stderr.String())
	}
	r := res.Results[0]
	t.Logf("%s/%s: %s reason=%s exit=%d in %s", r.Target, r.Endpoint, r.Result, r.Reason, code, took.Round(time.Millisecond))
	explain := func() string {
		return fmt.Sprintf("\nconfig:\n%s\nrun:\n%sstderr:\n%s", doc, r.summary(), tail(stderr.String(), 2000))
	}
	if r.Result != c.result || r.Reason != c.reason {
		t.Errorf("got %s reason=%s, want %s reason=%s", r.Result, r.Reason, c.result, c.reason)
	}
	if want := map[string]int{"pass": 0, "fail": 1, "error": 2}[c.result]; code != want {
		t.Errorf("exit code %d, want %d for %s", code, want, c.result)
	}
	if !strings.Contains(r.Detail, c.detail) {
		t.Errorf("detail %q does not say %q", r.Detail, c.detail)
	}
	if proxy != nil && proxy.swallowed.Load() == 0 {
		t.Errorf("the proxy swallowed no %s %s: the negative control proves nothing", c.swallow.method, c.swallow.path)
	}
	seen := map[string]bool{}
	for _, o := range r.Checks {
		seen[o.Check] = true
		// The positive control held for every check, or there is no
		// verdict (a run that ended in error before it lists its checks
		// as skipped).
		if r.Result != "error" && o.Before != "alive" {
			t.Errorf("check %s (%s): before=%s, want alive", o.Check, o.Artifact, o.Before)
		}
		// Never a false pass: a pass saw every promised artifact die.
		if r.Result == "pass" && o.Expect == "dies" && o.After != "dead" {
			t.Errorf("pass although check %s (%s, expect dies) saw after=%s", o.Check, o.Artifact, o.After)
		}
		// Nothing was revoked: nothing may be recorded dead.
		if c.noneDead && o.After == "dead" {
			t.Errorf("check %s (%s) recorded the artifact dead although the revocation was swallowed", o.Check, o.Artifact)
		}
		if want, ok := c.after[o.Check]; ok && o.After != want {
			t.Errorf("check %s (%s, expect %s): after=%s, want %s", o.Check, o.Artifact, o.Expect, o.After, want)
		}
	}
	for name := range c.after {
		if !seen[name] {
			t.Errorf("check %s did not run", name)
		}
	}
	drift := slices.Clone(r.Drift)
	slices.Sort(drift)
	if !slices.Equal(drift, c.drift) {
		t.Errorf("drift %v, want %v", drift, c.drift)
	}
	if t.Failed() {
		t.Log(explain())
	}
}

// TestOIDCProvider probes panva oidc-provider 9.13.3 (provider.mjs).
func TestOIDCProvider(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot, "test", "idps", "oidc-provider")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		t.Fatalf("oidc-provider is not installed: run `npm ci` in %s (make idps does)", dir)
	}
	node := os.Getenv("NODE")
	if node == "" {
		node = "node"
	}
	cmd := exec.Command(node, "provider.mjs", "0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLIENT_SECRET=canary-secret", "ADMIN_CLIENT_SECRET=admin-secret", "ADMIN_SECRET=admin-route-secret")
	issuer := startIdP(t, cmd)
	tg := target{
		name:     "oidc-provider",
		issuer:   issuer,
		admin:    map[string]any{"client_id": "revprober-admin", "client_secret": "admin-secret"},
		password: "any-password-works",
	}
	sessionCheck := map[string]any{"prompt_none": true}
	noOffline := []string{"openid", "profile", "email"}
	cases := []tcase{{
		// Revoking the refresh token kills the grant's tokens; the login
		// session stays (prompt=none answers consent_required: the grant
		// is gone, the user is still authenticated).
		name:     "rfc7009-refresh",
		canary:   "op-rfc7009-refresh",
		checks:   sessionCheck,
		endpoint: map[string]any{"name": "rfc7009-refresh", "driver": "rfc7009", "params": map[string]string{"token": "refresh_token"}, "expect": map[string]string{"session": "survives"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead", "prompt_none": "alive"},
	}, {
		// Revoking the access token revokes its whole grant here (RFC 7009
		// allows it, does not promise it): the refresh token dies too.
		name:     "rfc7009-access",
		canary:   "op-rfc7009-access",
		checks:   sessionCheck,
		endpoint: map[string]any{"name": "rfc7009-access", "driver": "rfc7009", "params": map[string]string{"token": "access_token"}, "expect": map[string]string{"refresh_token": "dies", "session": "survives"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead", "prompt_none": "alive"},
	}, {
		// The provider's admin route revokes every grant and session of
		// the user, through the webhook driver.
		name:   "webhook-revoke-user",
		canary: "op-webhook",
		checks: sessionCheck,
		endpoint: map[string]any{"name": "admin-revoke-user", "driver": "webhook", "url": issuer + "/admin/revoke-user", "params": map[string]string{
			"method": "POST", "body": `{"user": {{json .Username}}}`, "header_X-Admin-Secret": "admin-route-secret",
			"access_token": "dies", "refresh_token": "dies", "session": "dies",
		}},
		result: "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead", "prompt_none": "dead"},
	}, {
		// A 2xx proves nothing: the route answers 200 for a user it does
		// not know, and the canary's tokens live on.
		name:   "webhook-wrong-user",
		canary: "op-webhook-wrong-user",
		endpoint: map[string]any{"name": "admin-revoke-user", "driver": "webhook", "url": issuer + "/admin/revoke-user", "deadline": "2s", "params": map[string]string{
			"body": `{"user": "somebody-else"}`, "header_X-Admin-Secret": "admin-route-secret",
		}},
		result: "fail", reason: "access_token_still_active",
		after: map[string]string{"introspection": "alive", "userinfo": "alive", "refresh": "alive"},
	}, {
		// The route refuses a wrong secret: no verdict on revocation.
		name:   "webhook-wrong-secret",
		canary: "op-webhook-wrong-secret",
		endpoint: map[string]any{"name": "admin-revoke-user", "driver": "webhook", "url": issuer + "/admin/revoke-user", "params": map[string]string{
			"body": `{"user": {{json .Username}}}`, "header_X-Admin-Secret": "not-the-secret",
		}},
		result: "error", reason: "revoke_unauthorized",
	}, {
		// RP-initiated logout ends the session; offline_access tokens
		// outlive it by design (OIDC Core §11). Declared so: a pass, no drift.
		name:     "end-session-offline-survive",
		canary:   "op-logout-offline-survive",
		checks:   sessionCheck,
		endpoint: map[string]any{"name": "end-session", "driver": "end-session", "expect": map[string]string{"access_token": "survives", "refresh_token": "survives"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "alive", "userinfo": "alive", "refresh": "alive", "prompt_none": "dead"},
	}, {
		// The same logout, with an operator who expects it to kill the
		// tokens: a real failure. Both tokens are alive at the deadline;
		// the engine reports the first artifact in its order
		// (access_token before refresh_token).
		name:     "end-session-offline-expect-dies",
		canary:   "op-logout-offline-dies",
		checks:   sessionCheck,
		endpoint: map[string]any{"name": "end-session", "driver": "end-session", "deadline": "3s", "expect": map[string]string{"access_token": "dies", "refresh_token": "dies"}},
		result:   "fail", reason: "access_token_still_active",
		after: map[string]string{"introspection": "alive", "userinfo": "alive", "refresh": "alive", "prompt_none": "dead"},
	}, {
		// Only the refresh token promised: refresh_token_still_works.
		name:     "end-session-offline-expect-refresh-dies",
		canary:   "op-logout-offline-rt-dies",
		checks:   sessionCheck,
		endpoint: map[string]any{"name": "end-session", "driver": "end-session", "deadline": "3s", "expect": map[string]string{"refresh_token": "dies"}},
		result:   "fail", reason: "refresh_token_still_works",
		after: map[string]string{"refresh": "alive", "prompt_none": "dead"},
	}, {
		// Without offline_access the tokens are bound to the session: the
		// logout kills them.
		name:     "end-session-online",
		canary:   "op-logout-online",
		scopes:   noOffline,
		checks:   map[string]any{"prompt_none": true, "refresh": false},
		endpoint: map[string]any{"name": "end-session", "driver": "end-session", "expect": map[string]string{"access_token": "dies"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "prompt_none": "dead"},
	}}
	// Negative controls: every passing case with its revoking request
	// swallowed by a proxy that answers as the provider would.
	revocation := swallow{upstream: issuer, method: "POST", path: "/token/revocation", status: http.StatusOK, urlPath: "/token/revocation"}
	adminRoute := swallow{upstream: issuer, method: "POST", path: "/admin/revoke-user", status: http.StatusOK, urlPath: "/admin/revoke-user"}
	// A 200 page without a confirmation form: "you are signed out".
	endSession := swallow{upstream: issuer, method: "GET", path: "/session/end", status: http.StatusOK, urlPath: "/session/end"}
	cases = append(cases,
		swallowed(named(cases, "rfc7009-refresh"), "op-rfc7009-refresh-sw", "access_token_still_active", revocation),
		swallowed(named(cases, "rfc7009-access"), "op-rfc7009-access-sw", "access_token_still_active", revocation),
		swallowed(named(cases, "webhook-revoke-user"), "op-webhook-sw", "access_token_still_active", adminRoute),
		swallowed(named(cases, "end-session-offline-survive"), "op-logout-offline-survive-sw", "session_still_alive", endSession),
		swallowed(named(cases, "end-session-online"), "op-logout-online-sw", "access_token_still_active", endSession),
	)
	requireNegativeControls(t, cases)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg.run(t, c)
		})
	}
}

// TestZitadel probes the zitadel/oidc v3.49.2 example OP (zitadel/main.go).
func TestZitadel(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(zitadelBin, "-listen", "127.0.0.1:0", "-canaries", "8")
	cmd.Env = append(os.Environ(), "CLIENT_SECRET=canary-secret", "CANARY_PASSWORD=canary-password")
	issuer := startIdP(t, cmd)
	// The example OP has one confidential client; the token's audience
	// must include the introspecting client, so canary-app introspects.
	app := map[string]any{"client_id": "canary-app", "client_secret": "canary-secret"}
	tg := target{name: "zitadel-example", issuer: issuer, admin: app, introspector: app, password: "canary-password"}
	// Userinfo answers 403 for a dead token; the example OP keeps no
	// login session (every authorization request asks for the password),
	// so there is no session check.
	checks := map[string]any{"userinfo_dead_status": []int{401, 403}}
	cases := []tcase{{
		name:     "rfc7009-refresh",
		canary:   "canary01",
		checks:   checks,
		endpoint: map[string]any{"name": "rfc7009-refresh", "driver": "rfc7009", "params": map[string]string{"token": "refresh_token"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead"},
	}, {
		// Revoking the access token leaves the refresh token working: an
		// operator who expects the cascade gets a real failure.
		name:     "rfc7009-access-expect-refresh-dies",
		canary:   "canary02",
		checks:   checks,
		endpoint: map[string]any{"name": "rfc7009-access", "driver": "rfc7009", "deadline": "3s", "params": map[string]string{"token": "access_token"}, "expect": map[string]string{"refresh_token": "dies"}},
		result:   "fail", reason: "refresh_token_still_works",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "alive"},
	}, {
		// End session (TerminateSession) deletes the user's tokens of the
		// client; no session check is possible, so the tokens carry the proof.
		name:     "end-session",
		canary:   "canary03",
		checks:   checks,
		endpoint: map[string]any{"name": "end-session", "driver": "end-session", "expect": map[string]string{"access_token": "dies", "refresh_token": "dies", "session": "unchecked"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead"},
	}}
	cases = append(cases,
		swallowed(named(cases, "rfc7009-refresh"), "canary04", "access_token_still_active",
			swallow{upstream: issuer, method: "POST", path: "/revoke", status: http.StatusOK, urlPath: "/revoke"}),
		swallowed(named(cases, "end-session"), "canary05", "access_token_still_active",
			swallow{upstream: issuer, method: "GET", path: "/end_session", status: http.StatusFound, urlPath: "/end_session"}),
	)
	requireNegativeControls(t, cases)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tg.run(t, c)
		})
	}
}

// named is the case called name.
func named(cases []tcase, name string) tcase {
	for _, c := range cases {
		if c.name == name {
			return c
		}
	}
	panic("no case " + name)
}

// requireNegativeControls: every passing case has its swallowed twin, so
// a new passing case cannot come without the proof that it can fail.
func requireNegativeControls(t *testing.T, cases []tcase) {
	t.Helper()
	names := map[string]bool{}
	for _, c := range cases {
		names[c.name] = true
	}
	for _, c := range cases {
		if c.result == "pass" && !names[c.name+"-swallowed"] {
			t.Errorf("passing case %s has no negative control (%s-swallowed)", c.name, c.name)
		}
	}
}
