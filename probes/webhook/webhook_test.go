package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
	_ "github.com/revprober/revprober/probes/webhook"
)

const kind = "webhook"

var short = probetest.Deadline(400 * time.Millisecond)

func at(u string) probetest.Option { return func(p *probe.Probe) { p.EndpointURL = u } }

func params(kv ...string) driver.Params {
	p := driver.Params{"body": `{"user":{{json .Username}}}`, "auth": "basic"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(p, kv[i])
			continue
		}
		p[kv[i]] = kv[i+1]
	}
	return p
}

func run(t *testing.T, p *probe.Probe, n int, result verdict.Result, reason verdict.Reason) *verdict.Run {
	t.Helper()
	var r *verdict.Run
	for i := 0; i < n; i++ {
		r = probe.Run(context.Background(), p)
		if r.Result != result || r.Reason != reason {
			t.Fatalf("run %d: got %s/%s, want %s/%s (detail: %s)", i, r.Result, r.Reason, result, reason, r.Detail)
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

func TestWebhook(t *testing.T) {
	noScope := func(p *probe.Probe) {
		p.Admin = &oauth.ClientAuth{ID: "no-scope-admin", Secret: secret.New("noscope-secret")}
	}
	cases := []struct {
		name   string
		params driver.Params
		path   string // "" = /hooks/offboard
		faults []string
		opts   []probetest.Option
		runs   int
		result verdict.Result
		reason verdict.Reason
	}{
		// (a)
		{"basic", params(), "", nil, nil, 5, verdict.Pass, verdict.ReasonNone},
		{"bearer", params("auth", "bearer", "scope", "openid"), "", nil, nil, 3, verdict.Pass, verdict.ReasonNone},
		{"by attribute, with headers", params("body", `{"user":"{{.Attr "mail"}}","by":"mail"}`, "header_X-Request-Source", "revprober {{.Username}}",
			"content_type", "application/json; charset=utf-8"), "", nil, nil, 2, verdict.Pass, verdict.ReasonNone},
		{"session promised too", params("session", "dies"), "", nil, []probetest.Option{probetest.CodeLogin}, 3, verdict.Pass, verdict.ReasonNone},
		{"accept 202 only", params("accept", "202"), "", nil, nil, 1, verdict.Pass, verdict.ReasonNone},
		// (b)
		{"ignore-revocation", params(), "", []string{"ignore-revocation"}, []probetest.Option{short}, 2, verdict.Fail, verdict.AccessTokenStillActive},
		{"keep-refresh", params(), "", []string{"keep-refresh"}, []probetest.Option{short}, 1, verdict.Fail, verdict.RefreshTokenStillWorks},
		{"delay beyond the deadline", params(), "", []string{"delay=5s"}, []probetest.Option{short}, 1, verdict.Fail, verdict.AccessTokenStillActive},
		{"async pipeline within its deadline", params("async", "true"), "", []string{"delay=300ms"}, nil, 1, verdict.Pass, verdict.ReasonNone},
		// (c) a pipeline that only promises the access token
		{"keep-refresh, refresh unchecked", params("refresh_token", "unchecked"), "", []string{"keep-refresh"}, nil, 3, verdict.Pass, verdict.ReasonNone},
		// (d)
		{"no auth: 401", params("auth", "none"), "", nil, nil, 1, verdict.Error, verdict.RevokeUnauthorized},
		{"client refused: 403", params(), "", nil, []probetest.Option{noScope}, 1, verdict.Error, verdict.RevokeUnauthorized},
		{"500", params(), "", []string{"revoke-500"}, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"404", params(), "/hooks/nowhere", nil, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"bad body: 400", params("body", `user={{.Username}}`), "", nil, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"202 not in accept", params("accept", "200,204"), "", nil, nil, 1, verdict.Error, verdict.RevokeHTTPError},
		{"missing attribute", params("body", `{"user":"{{.Attr "scim_id"}}"}`), "", nil, nil, 1, verdict.Error, verdict.ConfigError},
		{"no url", params(), "-", nil, nil, 1, verdict.Error, verdict.ConfigError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, base := probetest.Sim(t, tc.faults...)
			u := base + "/hooks/offboard"
			switch tc.path {
			case "":
			case "-":
				u = ""
			default:
				u = base + tc.path
			}
			p := probetest.Probe(t, base, kind, tc.params, append([]probetest.Option{at(u)}, tc.opts...)...)
			run(t, p, tc.runs, tc.result, tc.reason)
		})
	}

	t.Run("drift: a pipeline promised to spare the refresh token kills it", func(t *testing.T) {
		t.Parallel()
		_, base := probetest.Sim(t)
		p := probetest.Probe(t, base, kind, params("refresh_token", "survives"), at(base+"/hooks/offboard"))
		r := run(t, p, 2, verdict.Pass, verdict.ReasonNone)
		if len(r.Drift) != 1 || r.Drift[0] != verdict.RefreshToken {
			t.Errorf("drift %v, want [refresh_token]", r.Drift)
		}
	})
}

// TestRequest checks the wire: method, rendered body and headers, content
// type, Basic credentials.
func TestRequest(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r.Clone(context.Background()), string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	_, base := probetest.Sim(t)
	p := probetest.Probe(t, base, kind, driver.Params{
		"method": "put", "body": `{"user":{{json .Username}},"mail":{{json (.Attr "mail")}},"quote":{{json "a\"b"}}}`,
		"content_type": "application/vnd.offboard+json", "header_x-ticket": "OFF-{{.Attr \"user_id\"}}", "auth": "basic",
	}, at(hook.URL+"/offboard"), short)
	r := probe.Run(context.Background(), p)
	// The hook revoked nothing: the verdict must be a fail, never a pass.
	if r.Result == verdict.Pass {
		t.Fatalf("a hook that revokes nothing passed")
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("the hook was not called")
	}
	id, sec, ok := got.BasicAuth()
	if got.Method != "PUT" || got.URL.Path != "/offboard" || !ok || id != "revprober-admin" || sec != "admin-secret" ||
		got.Header.Get("Content-Type") != "application/vnd.offboard+json" || got.Header.Get("X-Ticket") != "OFF-CANARY01" {
		t.Errorf("request: %s %s auth=%v %q %q headers=%v", got.Method, got.URL.Path, ok, id, sec, got.Header)
	}
	if want := `{"user":"canary01","mail":"canary01@example.com","quote":"a\"b"}`; body != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

// TestTemplatesSeeNoSecrets: a template can reach the username and the
// attributes, and nothing else of the canary or the run.
func TestTemplatesSeeNoSecrets(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	_, base := probetest.Sim(t)
	for _, tmpl := range []string{`{{.Tokens}}`, `{{.Password}}`, `{{.attrs}}`, `{{.attrs.Tokens}}`, `{{.Jar}}`, `{{.Attributes}}`} {
		if _, err := driver.Build(kind, driver.Params{"body": tmpl}); err != nil {
			continue // rejected at load: fine
		}
		p := probetest.Probe(t, base, kind, driver.Params{"body": tmpl}, at(hook.URL))
		if r := probe.Run(context.Background(), p); r.Reason != verdict.ConfigError {
			t.Errorf("template %s: got %s/%s, want a config error", tmpl, r.Result, r.Reason)
		}
	}
	// Printing the whole data value shows the username only.
	p := probetest.Probe(t, base, kind, driver.Params{"body": `{{printf "%+v" .}}`}, at(hook.URL), short)
	r := probe.Run(context.Background(), p)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		for _, bad := range []string{"canary-password-01", "admin-secret", "canary-secret"} {
			if strings.Contains(s, bad) {
				t.Errorf("a template reached a secret: %q", s)
			}
		}
		if len(s) > 200 {
			t.Errorf("unexpectedly long rendering %q", s)
		}
	}
	if len(seen) == 0 {
		t.Errorf("the whole-value template was not sent (%s/%s: %s)", r.Result, r.Reason, r.Detail)
	}
}

func TestParams(t *testing.T) {
	bad := []driver.Params{
		{"method": "GET POST"}, {"auth": "digest"}, {"scope": "x"}, {"accept": "2xx"}, {"accept": "99"},
		{"access_token": "maybe"}, {"async": "yes"}, {"body": "{{.Username"}, {"header_": "x"},
		{"header_Bad Name": "x"}, {"header_Content-Type": "x"}, {"auth": "basic", "header_Authorization": "x"}, {"nope": "x"},
	}
	for _, p := range bad {
		if _, err := driver.Build(kind, p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
	d, err := driver.Build(kind, driver.Params{"header_Authorization": "ApiKey x", "session": "dies", "resource": "unchecked", "async": "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Dies, Resource: verdict.Unchecked, Async: true}
	if d.Profile() != want {
		t.Errorf("profile %+v, want %+v", d.Profile(), want)
	}
}

// TestHeaderParamsAreSecret: header values are where an automation's API
// key travels; the other params are shown and not scrubbed.
func TestHeaderParamsAreSecret(t *testing.T) {
	for name, want := range map[string]bool{"header_X-Api-Key": true, "header_Cookie": true, "body": false, "method": false, "auth": false} {
		if got := driver.IsSecretParam("webhook", name); got != want {
			t.Errorf("IsSecretParam(webhook, %s) = %v, want %v", name, got, want)
		}
	}
	if !driver.IsSecretParam("no-such-driver", "anything") {
		t.Error("an unknown driver's params must count as secret")
	}
}
