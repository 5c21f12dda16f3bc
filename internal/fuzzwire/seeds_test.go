package fuzzwire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/config"
	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/evidence"
	"github.com/revprober/revprober/internal/fuzzwire"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/all"
)

// TestWriteSeeds rewrites the committed seed corpora of the fuzz targets
// from real answers: the simulator's, captured here, and Ory Hydra
// v2.3.0's, captured in internal/oauth/testdata/fuzz-seeds/hydra.
// Run: REVPROBER_WRITE_FUZZ_SEEDS=1 go test -run TestWriteSeeds ./internal/fuzzwire/
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("REVPROBER_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set REVPROBER_WRITE_FUZZ_SEEDS=1 to rewrite the seed corpora")
	}
	oauthDir := filepath.Join("..", "oauth")
	seed := func(dir, target, name string, values ...any) {
		t.Helper()
		if err := fuzzwire.WriteSeed(dir, target, name, values...); err != nil {
			t.Fatal(err)
		}
	}

	// Ory Hydra v2.3.0.
	hydra := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(oauthDir, "testdata", "fuzz-seeds", "hydra", name))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(strings.TrimSpace(string(b)))
	}
	seed(oauthDir, "FuzzDiscover", "hydra-discovery", 200, hydra("discovery.json"))
	seed(oauthDir, "FuzzIntrospect", "hydra-active", 200, "application/json", hydra("introspection-active.json"))
	seed(oauthDir, "FuzzIntrospect", "hydra-inactive", 200, "application/json", hydra("introspection-inactive.json"))
	seed(oauthDir, "FuzzRefresh", "hydra-refresh", 200, "application/json;charset=UTF-8", hydra("token-refresh.json"))
	seed(oauthDir, "FuzzRefresh", "hydra-refresh-reused", 400, "application/json;charset=UTF-8", hydra("token-error-refresh-reused.json"))
	seed(oauthDir, "FuzzTokenAnswer", "hydra-token", 200, "application/json;charset=UTF-8", hydra("token.json"))
	seed(oauthDir, "FuzzTokenAnswer", "hydra-admin-error", 400, "application/json", hydra("admin-error-400.json"))
	seed(oauthDir, "FuzzUserinfo", "hydra-userinfo", 200, "", hydra("userinfo.json"))
	seed(oauthDir, "FuzzUserinfo", "hydra-userinfo-revoked", 401, `Bearer error="request_unauthorized"`, hydra("userinfo-401.json"))

	// The simulator (Janssen-compatible), through its HTTP interface.
	ts := httptest.NewServer(idpsim.New(idpsim.Options{}))
	defer ts.Close()
	type reply struct {
		status int
		header http.Header
		body   []byte
	}
	do := func(method, path string, form url.Values, user, pass, bearer string) reply {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+"/jans-auth"+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{resp.StatusCode, resp.Header, b}
	}
	r := do("GET", "/.well-known/openid-configuration", nil, "", "", "")
	seed(oauthDir, "FuzzDiscover", "sim-discovery", r.status, r.body)
	r = do("POST", "/restv1/token", url.Values{"grant_type": {"password"}, "username": {"canary01"},
		"password": {"canary-password-01"}, "scope": {"openid offline_access"}}, "canary-app", "canary-secret", "")
	seed(oauthDir, "FuzzTokenAnswer", "sim-password", r.status, r.header.Get("Content-Type"), r.body)
	var toks struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.body, &toks); err != nil || toks.AccessToken == "" {
		t.Fatalf("simulator login: %d %s", r.status, r.body)
	}
	r = do("POST", "/restv1/token", url.Values{"grant_type": {"password"}, "username": {"canary01"},
		"password": {"wrong"}}, "canary-app", "canary-secret", "")
	seed(oauthDir, "FuzzTokenAnswer", "sim-wrong-password", r.status, r.header.Get("Content-Type"), r.body)
	r = do("POST", "/restv1/introspection", url.Values{"token": {toks.AccessToken}}, "revprober-admin", "admin-secret", "")
	seed(oauthDir, "FuzzIntrospect", "sim-active", r.status, r.header.Get("Content-Type"), r.body)
	r = do("GET", "/restv1/userinfo", nil, "", "", toks.AccessToken)
	seed(oauthDir, "FuzzUserinfo", "sim-userinfo", r.status, r.header.Get("WWW-Authenticate"), r.body)
	r = do("POST", "/restv1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks.RefreshToken}}, "canary-app", "canary-secret", "")
	seed(oauthDir, "FuzzRefresh", "sim-refresh", r.status, r.header.Get("Content-Type"), r.body)
	r = do("POST", "/restv1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks.RefreshToken}}, "canary-app", "canary-secret", "")
	seed(oauthDir, "FuzzRefresh", "sim-refresh-rotated-out", r.status, r.header.Get("Content-Type"), r.body)
	r = do("POST", "/restv1/revoke", url.Values{"token": {toks.AccessToken}}, "canary-app", "canary-secret", "")
	r = do("POST", "/restv1/introspection", url.Values{"token": {toks.AccessToken}}, "revprober-admin", "admin-secret", "")
	seed(oauthDir, "FuzzIntrospect", "sim-revoked", r.status, r.header.Get("Content-Type"), r.body)
	r = do("GET", "/restv1/userinfo", nil, "", "", toks.AccessToken)
	seed(oauthDir, "FuzzUserinfo", "sim-revoked", r.status, r.header.Get("WWW-Authenticate"), r.body)
	r = do("GET", "/restv1/session_status", nil, "", "", "")
	seed(oauthDir, "FuzzSessionChecks", "sim-session-status-unknown", r.status, "", r.body)

	writeDriverSeeds(t, ts.URL, seed)

	// The shipped example configurations.
	examples, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	for _, e := range examples {
		b, err := os.ReadFile(e)
		if err != nil {
			t.Fatal(err)
		}
		seed(filepath.Join("..", "config"), "FuzzParse", "configs-"+strings.TrimSuffix(filepath.Base(e), ".yml"), b)
	}

	// A logout token's claims as the simulator writes them
	// (idpsim/backchannel.go), at the fuzz target's clock.
	claims, _ := json.Marshal(map[string]any{"iss": "https://op.example", "aud": "canary-app", "iat": 1796457600,
		"exp": 1796457720, "jti": "Zm9vYmFyYmF6cXV4MTIzNDU2", "sub": "CANARY01", "sid": "S1",
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}})
	seed(filepath.Join("..", "backchannel"), "FuzzBackchannelLogout", "sim-logout-token", claims, "")

	// An evidence file as the writer writes it: three run records.
	path := filepath.Join(t.TempDir(), "evidence.jsonl")
	l, err := evidence.Open(config.Evidence{Path: path}, "replica-1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p := 0.25 * float64(i+1)
		if _, err := l.Append(&verdict.Run{ID: fmt.Sprintf("run-%d", i), Target: "sim", Endpoint: "gtr", Driver: "janssen-global-token-revocation",
			Started: time.Date(2026, 12, 5, 8, i, 0, 0, time.UTC), Duration: time.Second, Result: verdict.Pass, Reason: verdict.ReasonNone,
			PropagationSeconds: &p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seed(filepath.Join("..", "evidence"), "FuzzVerify", "writer-3-runs", b)
}

// recorder keeps the answers a driver read.
type recorder struct {
	next    http.RoundTripper
	answers []fuzzwire.Answer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.answers = append(r.answers, fuzzwire.Answer{Status: resp.StatusCode, Body: b})
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// writeDriverSeeds runs every driver's revocation against the simulator,
// as the demo configures it (internal/demo), and keeps the first three
// answers it read as a seed of FuzzDriverAnswers.
func writeDriverSeeds(t *testing.T, base string, seed func(dir, target, name string, values ...any)) {
	cases := []struct {
		kind, url string
		params    driver.Params
		attrs     map[string]string
	}{
		{"janssen-global-token-revocation", "", driver.Params{"format": "uid"}, nil},
		{"janssen-revoke-session", "", driver.Params{"key": "uid"}, nil},
		{"janssen-config-api-session", "", nil, nil},
		{"rfc7009", "", driver.Params{"token": "refresh_token"}, nil},
		{"end-session", "", driver.Params{"post_logout_redirect_uri": "http://127.0.0.1/callback"}, nil},
		{"webhook", "/hooks/offboard", driver.Params{"auth": "basic", "body": `{"user":{{json (.Attr "mail")}},"by":"mail"}`}, nil},
		{"scim-deactivate", "/scim/v2", nil, map[string]string{"scim_id": "CANARY01"}},
		{"keycloak-user-logout", "/keycloak", driver.Params{"realm": "demo"}, nil},
		{"keycloak-offline-consent", "/keycloak", driver.Params{"realm": "demo", "client_id": "canary-app"}, nil},
		{"okta-user-sessions", "/okta", driver.Params{"oauth_tokens": "true"}, nil},
		{"okta-global-token-revocation", "/okta", nil, nil},
		{"auth0-delete-sessions", "/auth0", nil, map[string]string{"user_id": "auth0|CANARY01"}},
		{"auth0-delete-refresh-tokens", "/auth0", nil, map[string]string{"user_id": "auth0|CANARY01"}},
		{"auth0-revoke-access", "/auth0", nil, map[string]string{"user_id": "auth0|CANARY01"}},
		{"entra-revoke-signin-sessions", "/entra", nil, map[string]string{"user_id": "canary01@example.com"}},
		{"hydra-consent-revoke", "/hydra", nil, nil},
		{"hydra-login-session-revoke", "/hydra", nil, nil},
	}
	issuer := base + "/jans-auth"
	plain := httpx.Client(http.DefaultTransport, nil)
	ep, err := oauth.Discover(context.Background(), plain, issuer)
	if err != nil {
		t.Fatal(err)
	}
	app := &oauth.ClientAuth{ID: "canary-app", Secret: secret.New("canary-secret")}
	for _, c := range cases {
		toks, err := oauth.PasswordLogin(context.Background(), plain, ep, app, "canary01", secret.New("canary-password-01"), []string{"openid", "offline_access"})
		if err != nil {
			t.Fatal(err)
		}
		attrs := map[string]string{"uid": "canary01", "mail": "canary01@example.com", "user_dn": "inum=CANARY01,ou=people,o=jans",
			"user_id": "CANARY01", "subject": "CANARY01"}
		for k, v := range c.attrs {
			attrs[k] = v
		}
		d, err := driver.Build(c.kind, c.params)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{next: http.DefaultTransport}
		env := &driver.Env{HTTP: httpx.Client(rec, nil), Endpoints: ep, Admin: &oauth.ClientAuth{ID: "revprober-admin", Secret: secret.New("admin-secret")},
			LoginClient: app, Canaries: []*driver.Canary{{Name: "canary01", Username: "canary01", Attributes: attrs, Tokens: toks, Grants: []*oauth.Tokens{toks}}}}
		if c.url != "" {
			env.URL = base + c.url
		}
		// A refusal is a real answer too (a password login has no session
		// for the session drivers to end): it is kept as a seed.
		err = d.Revoke(context.Background(), env)
		t.Logf("%s: %d answers, error %v", c.kind, len(rec.answers), err)
		a := rec.answers
		if len(a) == 0 {
			t.Fatalf("%s sent no request", c.kind)
		}
		for len(a) < 3 {
			a = append(a, a[len(a)-1])
		}
		seed(filepath.Join("..", "..", "probes", "all"), "FuzzDriverAnswers", "sim-"+c.kind,
			c.kind, false, a[0].Status, a[0].Body, a[1].Status, a[1].Body, a[2].Status, a[2].Body)
		if r, ok := d.(driver.Restorer); ok {
			_ = r.Restore(context.Background(), env)
		}
	}
}
