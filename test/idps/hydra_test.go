//go:build idps

package idps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Hydra v2.3.0 is pinned by the wrapper module in hydra/ (go.mod, go.sum,
// tools.go); the Makefile builds it with these flags into bin/hydra.
const hydraPackage = "github.com/ory/hydra/v2"

var hydraBuildFlags = []string{"-tags", "sqlite,sqlite_omit_load_extension",
	"-ldflags", "-X github.com/ory/hydra/v2/driver/config.Version=v2.3.0"}

// hydraServer is a running Hydra: its public URL (the issuer) and its
// admin URL (no authentication of its own).
type hydraServer struct {
	public, admin string
	app           string // the login and consent app's host:port
}

// startHydra starts the login and consent app on its own port, then Hydra
// (memory DSN, 127.0.0.1 ports of its own) pointing at it, and registers
// the canary-app client.
func startHydra(t *testing.T, canaryPassword string) hydraServer {
	t.Helper()
	app := newHydraLoginApp(canaryPassword)
	appSrv := httptest.NewUnstartedServer(app)
	t.Cleanup(appSrv.Close) // also closes the listener of a server never started
	appURL := "http://" + appSrv.Listener.Addr().String()
	publicPort, adminPort := freePort(t), freePort(t)
	h := hydraServer{
		public: "http://127.0.0.1:" + publicPort,
		admin:  "http://127.0.0.1:" + adminPort,
		app:    appSrv.Listener.Addr().String(),
	}
	cmd := exec.Command(hydraBin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Env = append(os.Environ(),
		"DSN=memory",
		"SECRETS_SYSTEM=revprober-idps-test-secret-0123456789",
		"URLS_SELF_ISSUER="+h.public+"/",
		"URLS_LOGIN="+appURL+"/login",
		"URLS_CONSENT="+appURL+"/consent",
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT="+publicPort,
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT="+adminPort,
		"LOG_LEVEL=warn",
	)
	exited, stderr := launch(t, cmd, func(string) {})
	waitReady(t, h.admin+"/health/ready", exited, stderr)
	app.admin = h.admin
	appSrv.Start()
	// The first discovery request makes Hydra generate its ID token
	// signing key (RSA). On a loaded machine that outlasts waitDiscovery's
	// per-request limit, and Hydra starts over for every request given up
	// on: one patient request first.
	patient := &http.Client{Timeout: readyTimeout}
	if resp, err := patient.Get(h.public + "/.well-known/openid-configuration"); err == nil {
		resp.Body.Close()
	}
	waitDiscovery(t, h.public)

	client := map[string]any{
		"client_id": "canary-app", "client_secret": "canary-secret",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid offline_access profile email", "redirect_uris": []string{"http://127.0.0.1/callback"},
		"token_endpoint_auth_method": "client_secret_basic",
	}
	body, _ := json.Marshal(client)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(h.admin+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating the canary-app client: %d", resp.StatusCode)
	}
	return h
}

// freePort is a port nothing listens on right now (the kernel's choice).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// waitReady polls u until it answers 200, the process exits, or
// readyTimeout passes.
func waitReady(t *testing.T, u string, exited <-chan struct{}, stderr fmt.Stringer) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.After(readyTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("the server exited before %s answered\n%s", u, tail(stderr.String(), 4000))
		case <-deadline:
			t.Fatalf("%s not ready within %s\n%s", u, readyTimeout, tail(stderr.String(), 4000))
		case <-tick.C:
		}
	}
}

// TestHydra probes Ory Hydra v2.3.0's admin session revocations, with the
// canary logging in through our login app on its own origin.
func TestHydra(t *testing.T) {
	t.Parallel()
	h := startHydra(t, "canary-password")
	tg := target{
		name:   "hydra",
		issuer: h.public + "/",
		// Hydra's admin API takes no client authentication; the config
		// still names a client, which it ignores.
		admin:    map[string]any{"client_id": "canary-app", "client_secret": "canary-secret"},
		password: "canary-password",
		// Introspection lives on the admin port, not in discovery.
		urls:         map[string]any{"introspection": h.admin + "/admin/oauth2/introspect"},
		allowedHosts: []string{h.app},
		subjectAttr:  true,
	}
	session := map[string]any{"prompt_none": true}
	cases := []tcase{{
		// Deletes the subject's access and refresh tokens; the login
		// session is another matter (unchecked).
		name:     "consent-revoke",
		canary:   "hydra-consent",
		checks:   session,
		endpoint: map[string]any{"name": "consent-revoke", "driver": "hydra-consent-revoke", "url": h.admin},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead"},
	}, {
		// Ends the login session, "does not invalidate any tokens": both
		// tokens are seen alive after it, and that is no drift.
		name:     "login-session-revoke",
		canary:   "hydra-login-session",
		checks:   session,
		endpoint: map[string]any{"name": "login-session-revoke", "driver": "hydra-login-session-revoke", "url": h.admin},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "alive", "userinfo": "alive", "refresh": "alive", "prompt_none": "dead"},
	}, {
		// RFC 7009 on the refresh token kills its grant's tokens.
		name:     "rfc7009-refresh",
		canary:   "hydra-rfc7009",
		checks:   session,
		endpoint: map[string]any{"name": "rfc7009-refresh", "driver": "rfc7009", "params": map[string]string{"token": "refresh_token"}},
		result:   "pass", reason: "none",
		after: map[string]string{"introspection": "dead", "userinfo": "dead", "refresh": "dead"},
	}, {
		// The login app is on another origin: without its host in
		// login.allowed_hosts the login stops at the first redirect there,
		// and the error says which setting fixes it.
		name:           "login-app-not-allowed",
		canary:         "hydra-not-allowed",
		checks:         session,
		noAllowedHosts: true,
		endpoint:       map[string]any{"name": "consent-revoke", "driver": "hydra-consent-revoke", "url": h.admin},
		result:         "error", reason: "login_failed",
		detail: "login.allowed_hosts",
	}}
	admin := func(method, path string, status int) swallow {
		return swallow{upstream: h.admin, method: method, path: path, status: status}
	}
	cases = append(cases,
		swallowed(named(cases, "consent-revoke"), "hydra-consent-sw", "access_token_still_active",
			admin("DELETE", "/admin/oauth2/auth/sessions/consent", http.StatusNoContent)),
		swallowed(named(cases, "login-session-revoke"), "hydra-login-session-sw", "session_still_alive",
			admin("DELETE", "/admin/oauth2/auth/sessions/login", http.StatusNoContent)),
		swallowed(named(cases, "rfc7009-refresh"), "hydra-rfc7009-sw", "access_token_still_active",
			swallow{upstream: h.public, method: "POST", path: "/oauth2/revoke", status: http.StatusOK, urlPath: "/oauth2/revoke"}),
	)
	requireNegativeControls(t, cases)
	// One case at a time: with DSN=memory (SQLite, shared cache) Hydra
	// answers concurrent logins with "Unable to serialize access due to a
	// concurrent update in another session" (400 at /oauth2/auth, 500 at
	// /oauth2/token).
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { tg.run(t, c) })
	}
}
