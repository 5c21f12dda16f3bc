package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/probetest"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// wire records, off the wire, the path of every request a probe sends and
// every token the IdP issues to it.
type wire struct {
	next   http.RoundTripper
	mu     sync.Mutex
	paths  []string
	access []string
	fresh  []string // refresh tokens
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.paths = append(w.paths, req.Method+" "+req.URL.Path)
	w.mu.Unlock()
	resp, err := w.next.RoundTrip(req)
	if err != nil || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return resp, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var m struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &m) == nil {
		w.mu.Lock()
		if m.Access != "" {
			w.access = append(w.access, m.Access)
		}
		if m.Refresh != "" {
			w.fresh = append(w.fresh, m.Refresh)
		}
		w.mu.Unlock()
	}
	return resp, nil
}

func (w *wire) sent(part string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.paths, func(p string) bool { return strings.Contains(p, part) })
}

// tapped routes a probe's requests through a new wire.
func tapped(w **wire) probetest.Option {
	return func(p *probe.Probe) {
		*w = &wire{next: p.Transport}
		p.Transport = *w
	}
}

// assertNothingLeftAlive checks, as the IdP sees it, that every token the
// pre-flight was issued is dead: the clean-up revoked them all, as it does
// after a run.
func assertNothingLeftAlive(t *testing.T, base string, w *wire) {
	t.Helper()
	ctx := context.Background()
	c := httpx.Client(probetest.Transport, nil)
	eps, err := oauth.Discover(ctx, c, base+"/jans-auth")
	if err != nil {
		t.Fatal(err)
	}
	admin := &oauth.ClientAuth{ID: "revprober-admin", Secret: secret.New("admin-secret")}
	app := &oauth.ClientAuth{ID: "canary-app", Secret: secret.New("canary-secret")}
	for _, at := range w.access {
		if active, err := oauth.Introspect(ctx, c, eps.Introspection, admin, secret.New(at), "access_token"); err != nil || active {
			t.Errorf("an access token the pre-flight was issued is still active (err %v): the clean-up left it alive", err)
		}
	}
	for _, rt := range w.fresh {
		if alive, _, err := oauth.Refresh(ctx, c, eps, app, secret.New(rt)); err != nil || alive {
			t.Errorf("a refresh token the pre-flight was issued still works (err %v): the clean-up left it alive", err)
		}
	}
}

// TestPreflightReadyRevokesNothing: a pre-flight of a working probe logs
// in, sees every artifact alive, says what a run would verify and what not,
// never calls the revocation endpoint, and leaves no token alive.
func TestPreflightReadyRevokesNothing(t *testing.T) {
	_, base := sim(t)
	var w *wire
	p := newProbe(t, base, "janssen-global-token-revocation", nil, probetest.CodeLogin, tapped(&w))
	rep := probe.Preflight(context.Background(), p)
	if !rep.Ready {
		t.Fatalf("not ready: %s: %s", rep.Reason, rep.Detail)
	}
	var got []string
	for _, c := range rep.Verified {
		got = append(got, c.String())
	}
	want := []string{
		"access_token dies: introspection, userinfo",
		"refresh_token dies: refresh",
		"session dies: prompt_none, session_status",
	}
	if !slices.Equal(got, want) {
		t.Errorf("verified:\n got %q\nwant %q", got, want)
	}
	if len(rep.Unverified) != 1 || rep.Unverified[0].Artifact != verdict.Resource {
		t.Errorf("unverified: %+v, want the resource (no checks.resources)", rep.Unverified)
	}
	if w.sent("global-token-revocation") {
		t.Fatalf("the pre-flight called the revocation endpoint: %v", w.paths)
	}
	for _, s := range rep.Steps {
		if s.Name == verdict.StepRevoke || s.Name == verdict.StepVerify {
			t.Errorf("the pre-flight ran the %s step", s.Name)
		}
	}
	if !w.sent("/restv1/revoke") || rep.CleanupFailed || !strings.HasPrefix(rep.Cleanup, "revoked ") {
		t.Errorf("no RFC 7009 clean-up: %q", rep.Cleanup)
	}
	if len(w.access) == 0 || len(w.fresh) == 0 {
		t.Fatal("no token seen on the wire: the test would prove nothing")
	}
	assertNothingLeftAlive(t, base, w)

	// The canary is unharmed: the next run passes.
	if r := probe.Run(context.Background(), newProbe(t, base, "janssen-global-token-revocation", nil, probetest.CodeLogin)); r.Result != verdict.Pass {
		t.Fatalf("run after the pre-flight: %s/%s %s", r.Result, r.Reason, r.Detail)
	}
}

// TestPreflightWrongClientSecret: a login that can never work is found
// before any run, with the reason a run would give.
func TestPreflightWrongClientSecret(t *testing.T) {
	_, base := sim(t)
	var w *wire
	p := newProbe(t, base, "janssen-global-token-revocation", nil, tapped(&w), func(p *probe.Probe) {
		p.LoginClient = &oauth.ClientAuth{ID: "canary-app", Secret: secret.New("not-the-secret")}
	})
	rep := probe.Preflight(context.Background(), p)
	if rep.Ready || rep.Reason != verdict.LoginFailed {
		t.Fatalf("ready %v reason %s, want login_failed: %s", rep.Ready, rep.Reason, rep.Detail)
	}
	if strings.Contains(rep.Detail, "not-the-secret") {
		t.Error("the client secret reached the report")
	}
	if len(rep.Verified) != 0 {
		t.Errorf("a probe that cannot log in claims coverage: %+v", rep.Verified)
	}
	if w.sent("global-token-revocation") || len(w.access) != 0 {
		t.Fatalf("requests %v, tokens %d", w.paths, len(w.access))
	}
}

// TestPreflightMissingScope: a login without offline_access on a client
// that gets no refresh token otherwise cannot feed the refresh check; the
// pre-flight says so, and revokes the access token it was issued.
func TestPreflightMissingScope(t *testing.T) {
	clients := idpsim.DefaultClients()
	for i := range clients {
		if clients[i].ID == "canary-app" { // no refresh_token grant: refresh tokens only with offline_access
			clients[i].GrantTypes = []string{"password", "authorization_code"}
		}
	}
	ts := httptest.NewServer(idpsim.New(idpsim.Options{Clients: clients}))
	t.Cleanup(ts.Close)
	var w *wire
	p := newProbe(t, ts.URL, "janssen-global-token-revocation", nil, tapped(&w), func(p *probe.Probe) {
		p.Scopes = []string{"openid", "profile", "email"}
	})
	rep := probe.Preflight(context.Background(), p)
	if rep.Ready || rep.Reason != verdict.RefreshUnavailable {
		t.Fatalf("ready %v reason %s, want refresh_unavailable: %s", rep.Ready, rep.Reason, rep.Detail)
	}
	if !strings.Contains(rep.Detail, "no refresh token") || !strings.Contains(rep.Detail, "offline_access") {
		t.Errorf("detail does not point at the scope: %s", rep.Detail)
	}
	if w.sent("global-token-revocation") {
		t.Fatalf("the pre-flight called the revocation endpoint: %v", w.paths)
	}
	if len(w.access) == 0 {
		t.Fatal("no access token seen: the test would prove nothing")
	}
	assertNothingLeftAlive(t, ts.URL, w)
}
