package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/demo"
	"github.com/revprober/revprober/internal/verdict"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, &o, &e)
	return code, o.String(), e.String()
}

func TestDemoOnceExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, ExitPass},
		// A fail waits out the deadline of every probe: keep it short.
		{[]string{"--fault", "ignore-revocation", "--deadline", "700ms"}, ExitFail},
		{[]string{"--fault", "introspection-always-inactive"}, ExitError},
		{[]string{"--fault", "no-such-fault"}, ExitConfig},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"demo", "--once", "--json"}, tc.args...)
			code, out, errOut := run(t, args...)
			if code != tc.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.want, out, errOut)
			}
			if tc.want == ExitConfig {
				return
			}
			var doc struct {
				Results []verdict.Run `json:"results"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("--json output is not one JSON document: %v", err)
			}
			if len(doc.Results) == 0 {
				t.Fatal("no results")
			}
			for _, r := range doc.Results {
				if r.Target == "" || r.Endpoint == "" || r.Result == "" || r.Reason == "" || len(r.Checks) == 0 {
					t.Errorf("result lacks a required field: %+v", r)
				}
				if tc.want == ExitPass && (r.Result != verdict.Pass || r.PropagationSeconds == nil) {
					t.Errorf("%s/%s: %s/%s %s", r.Target, r.Endpoint, r.Result, r.Reason, r.Detail)
				}
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(good, demo.ConfigYAML(demo.Params{SimURL: "http://127.0.0.1:1"}), 0o600); err != nil {
		t.Fatal(err)
	}
	// The demo gives every probe a canary of its own, so its config draws
	// no warning (the canary-capacity one fired while they shared one).
	code, out, errOut := run(t, "check-config", "-c", good)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("good config (the demo's): exit %d: %s %s", code, out, errOut)
	}
	if strings.TrimSpace(errOut) != "" {
		t.Fatalf("the demo's config draws warnings:\n%s", errOut)
	}

	bad := filepath.Join(dir, "bad.yml")
	conf := strings.Join([]string{
		"global:",
		"  interval: 10s",
		"  timeout: 20s", // line 3: not shorter than the interval
		"targets:",
		"  - name: t",
		"    issuer: http://127.0.0.1:1/x",
		"    admin_client: {client_id: a, client_secret: s}",
		"    canary: {username: u, password: p}",
		"    endpoints:",
		"      - driver: no-such-driver", // line 10
		"    colour: blue",               // line 11: unknown key
	}, "\n")
	if err := os.WriteFile(bad, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "check-config", "-c", bad)
	if code != ExitConfig {
		t.Fatalf("bad config: exit %d, want %d", code, ExitConfig)
	}
	for _, want := range []string{"bad.yml:3:", "bad.yml:10:", "no-such-driver", "bad.yml:11:", "colour"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("errors lack %q:\n%s", want, errOut)
		}
	}
	if code, _, _ := run(t, "once", "-c", bad); code != ExitConfig {
		t.Errorf("once with a bad config: exit %d, want %d", code, ExitConfig)
	}
	if code, _, _ := run(t, "bogus"); code != ExitConfig {
		t.Errorf("unknown command: exit %d", code)
	}
}

// TestCheckConfigWarnings: a valid config that is bound to mislead draws
// warnings on stderr, in the errors' file:line:path form, and exit 0.
func TestCheckConfigWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warn.yml")
	conf := strings.Join([]string{
		"targets:",
		"  - name: kc",
		"    issuer: https://sso.example.com/realms/acme",
		"    admin_client: {client_id: a, client_secret: s}",
		"    login:",
		"      client: {client_id: app, client_secret: s}",
		"      scopes: [openid, offline_access]", // line 7
		"    canary: {username: u, password: p}",
		"    endpoints:",
		"      - driver: keycloak-user-logout", // line 10
		"  - name: entra",
		"    issuer: https://login.microsoftonline.com/t/v2.0",
		"    admin_client: {client_id: a, client_secret: s}",
		"    login: {client: {client_id: app, client_secret: s}}",
		"    canary: {username: u, password: p}",
		"    checks: {introspection: false}",
		"    endpoints:",
		"      - name: revoke", // line 18
		"        driver: entra-revoke-signin-sessions",
	}, "\n")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "check-config", "-c", path)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{
		"warn.yml:10:17: targets[0].endpoints[0].driver: warning: keycloak-user-logout does not end offline sessions, and the target's login.scopes (line 7) ask for offline_access",
		"(see docs/drivers-vendors.md#keycloak)",
		"warn.yml:19:17: targets[1].endpoints[0].deadline: warning: entra-revoke-signin-sessions revokes asynchronously",
		"(see docs/drivers-vendors.md#microsoft-entra-id)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "warning:"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, errOut)
	}
}
