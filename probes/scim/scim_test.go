package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/scim"
)

const kind = "scim-deactivate"

var short = probetest.Deadline(400 * time.Millisecond)

// scimAt points the probe at a SCIM base and gives the canary its SCIM id.
func scimAt(base string) probetest.Option {
	return func(p *probe.Probe) {
		p.EndpointURL = base + "/scim/v2"
		p.Canaries[0].Attributes["scim_id"] = "CANARY01"
	}
}

func run(t *testing.T, p *probe.Probe, n int, result verdict.Result, reason verdict.Reason) *verdict.Run {
	t.Helper()
	var r *verdict.Run
	for i := 0; i < n; i++ {
		r = probe.Run(context.Background(), p)
		if r.Result != result || r.Reason != reason {
			t.Fatalf("run %d: got %s/%s, want %s/%s (detail: %s; cleanup: %s)", i, r.Result, r.Reason, result, reason, r.Detail, r.Cleanup)
		}
		if r.Result == verdict.Pass {
			for _, c := range r.Checks {
				if c.Expect == verdict.Dies && (c.Before != verdict.Alive || c.After != verdict.Dead) {
					t.Fatalf("run %d: pass with %s before=%s after=%s", i, c.Check, c.Before, c.After)
				}
			}
		}
	}
	return r
}

// active asks the simulator's SCIM endpoint whether canary01 is active.
func active(t *testing.T, base string) bool {
	t.Helper()
	ctx := context.Background()
	c := &http.Client{}
	tok, err := oauth.ClientCredentials(ctx, c, base+"/jans-auth/restv1/token",
		&oauth.ClientAuth{ID: "revprober-admin", Secret: secret.New("admin-secret")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/scim/v2/Users/CANARY01", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u struct {
		Active *bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || u.Active == nil {
		t.Fatalf("GET user: %d %v", resp.StatusCode, err)
	}
	return *u.Active
}

func TestSCIMDeactivate(t *testing.T) {
	noScope := func(p *probe.Probe) {
		p.Admin = &oauth.ClientAuth{ID: "no-scope-admin", Secret: secret.New("noscope-secret")}
	}
	badSecret := func(p *probe.Probe) {
		p.Admin = &oauth.ClientAuth{ID: "revprober-admin", Secret: secret.New("wrong")}
	}
	cases := []struct {
		name   string
		params driver.Params
		faults []string
		opts   []probetest.Option
		runs   int
		result verdict.Result
		reason verdict.Reason
	}{
		// (a) several runs in a row: each restores the canary for the next login.
		{"no fault", nil, nil, nil, 5, verdict.Pass, verdict.ReasonNone},
		{"with the session checks", nil, nil, []probetest.Option{probetest.CodeLogin}, 3, verdict.Pass, verdict.ReasonNone},
		{"scope and attribute params", driver.Params{"scope": "openid", "attribute": "user_id"}, nil, nil, 2, verdict.Pass, verdict.ReasonNone},
		{"delay within the deadline", nil, []string{"delay=150ms"}, nil, 2, verdict.Pass, verdict.ReasonNone},
		// (b) each run restores the canary even after a fail.
		{"ignore-revocation", nil, []string{"ignore-revocation"}, []probetest.Option{short}, 2, verdict.Fail, verdict.AccessTokenStillActive},
		{"keep-access", nil, []string{"keep-access"}, []probetest.Option{short}, 1, verdict.Fail, verdict.AccessTokenStillActive},
		{"keep-refresh", nil, []string{"keep-refresh"}, []probetest.Option{short}, 2, verdict.Fail, verdict.RefreshTokenStillWorks},
		{"ignore-revocation, session only", nil, []string{"ignore-revocation"}, []probetest.Option{probetest.CodeLogin, short, func(p *probe.Probe) {
			p.Checks.Introspection, p.Checks.Userinfo, p.Checks.Refresh = false, false, false
		}}, 1, verdict.Fail, verdict.SessionStillAlive},
		// (d)
		{"bad admin credentials: 401 at the token endpoint", nil, nil, []probetest.Option{badSecret}, 1, verdict.Error, verdict.RevokeUnauthorized},
		{"client may not manage users: 403", nil, nil, []probetest.Option{noScope}, 1, verdict.Error, verdict.RevokeUnauthorized},
		{"500", nil, []string{"revoke-500"}, nil, 2, verdict.Error, verdict.RevokeHTTPError},
		{"unknown SCIM id: 404", driver.Params{"attribute": "mail"}, nil, nil, 1, verdict.Error, verdict.ConfigError},
		{"no scim_id", driver.Params{"attribute": "employee_number"}, nil, nil, 1, verdict.Error, verdict.ConfigError},
		{"no url", nil, nil, []probetest.Option{func(p *probe.Probe) { p.EndpointURL = "" }}, 1, verdict.Error, verdict.ConfigError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			p := probetest.Probe(t, base, kind, tc.params, append([]probetest.Option{scimAt(base)}, tc.opts...)...)
			r := run(t, p, tc.runs, tc.result, tc.reason)
			if !active(t, base) {
				t.Errorf("canary01 left deactivated (cleanup: %s)", r.Cleanup)
			}
			if r.Reason != verdict.ConfigError && r.Reason != verdict.RevokeUnauthorized && !strings.Contains(r.Cleanup, "canaries restored") {
				t.Errorf("cleanup %q does not report the restore", r.Cleanup)
			}
		})
	}
}

// TestRestoreFailure: a failed reactivation is reported in the clean-up
// text; the verdict stays what the verification saw.
func TestRestoreFailure(t *testing.T) {
	s := idpsim.New(idpsim.Options{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			b, _ := io.ReadAll(r.Body)
			if bytes.Contains(b, []byte(`"value":true`)) {
				http.Error(w, "reactivation refused", http.StatusInternalServerError)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	p := probetest.Probe(t, ts.URL, kind, nil, scimAt(ts.URL))
	r := run(t, p, 1, verdict.Pass, verdict.ReasonNone)
	if !strings.Contains(r.Cleanup, "restoring the canaries FAILED") || !strings.Contains(r.Cleanup, "500") {
		t.Errorf("cleanup %q does not report the failed restore", r.Cleanup)
	}
	// And the next run cannot log in: the truth, as an error.
	run(t, p, 1, verdict.Error, verdict.LoginFailed)
}

// TestWire checks the PATCH body and headers.
func TestWire(t *testing.T) {
	type call struct {
		method, path, ctype, auth string
		body                      map[string]any
	}
	calls := make(chan call, 4)
	_, base := probetest.Sim(t)
	scimSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		calls <- call{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(scimSrv.Close)
	p := probetest.Probe(t, base, kind, nil, short, func(p *probe.Probe) {
		p.EndpointURL = scimSrv.URL + "/v2/"
		p.Canaries[0].Attributes["scim_id"] = "id with/slash"
	})
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Fail { // nothing was deactivated
		t.Errorf("got %s/%s", r.Result, r.Reason)
	}
	for i, wantActive := range []bool{false, true} {
		c := <-calls
		ops, _ := c.body["Operations"].([]any)
		op, _ := ops[0].(map[string]any)
		if c.method != "PATCH" || c.path != "/v2/Users/"+url.PathEscape("id with/slash") || c.ctype != "application/scim+json" ||
			!strings.HasPrefix(c.auth, "Bearer ") || len(ops) != 1 || op["op"] != "replace" || op["path"] != "active" || op["value"] != wantActive {
			t.Errorf("call %d: %+v", i, c)
		}
		if schemas, _ := c.body["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:PatchOp" {
			t.Errorf("call %d: schemas %v", i, c.body["schemas"])
		}
	}
}
