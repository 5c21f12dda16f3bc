package fuzzwire_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revprober/revprober/internal/fuzzwire"
	"github.com/revprober/revprober/internal/idpsim"
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
}
