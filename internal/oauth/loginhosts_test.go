package oauth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/revprober/revprober/internal/hostmatch"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
)

const canaryPassword = "canary-password-01" // idpsim.DefaultUsers()[0]

// wire records what reached one server: a test asserts on what was sent,
// not on what the client says it sent.
type wire struct {
	mu   sync.Mutex
	seen []seen
}

type seen struct {
	method, path  string
	authorization bool
	password      bool // the canary's password in the URL or the body
}

func (w *wire) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		w.mu.Lock()
		w.seen = append(w.seen, seen{method: r.Method, path: r.URL.Path, authorization: r.Header.Get("Authorization") != "",
			password: strings.Contains(string(body), canaryPassword) || strings.Contains(r.URL.RawQuery, canaryPassword)})
		w.mu.Unlock()
		h.ServeHTTP(rw, r)
	})
}

func (w *wire) requests() []seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]seen(nil), w.seen...)
}

func (w *wire) reset() {
	w.mu.Lock()
	w.seen = nil
	w.mu.Unlock()
}

// loginOnAnotherOrigin starts the simulator with its login UI on a second
// listener (another port: another origin), both recorded.
func loginOnAnotherOrigin(t *testing.T) (s *idpsim.Server, idp, app *wire, idpURL, appHost string) {
	t.Helper()
	s = idpsim.New(idpsim.Options{})
	idp, app = &wire{}, &wire{}
	is := httptest.NewServer(idp.wrap(s))
	t.Cleanup(is.Close)
	as := httptest.NewServer(app.wrap(s.LoginApp()))
	t.Cleanup(as.Close)
	s.SetLoginOrigin(as.URL)
	u, _ := url.Parse(as.URL)
	return s, idp, app, is.URL, u.Host
}

func login(t *testing.T, idpURL string, allowed hostmatch.List) (*oauth.Tokens, oauth.Endpoints, error) {
	t.Helper()
	tr, err := httpx.NewTransport(httpx.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := oauth.Discover(context.Background(), httpx.Client(tr, nil), idpURL+"/jans-auth")
	if err != nil {
		t.Fatal(err)
	}
	client := &oauth.ClientAuth{ID: "canary-app", Secret: secret.New("canary-secret")}
	toks, err := oauth.CodeLogin(context.Background(), tr, nil, ep, allowed, client, "http://127.0.0.1/callback",
		"canary01", secret.New(canaryPassword), []string{"openid", "offline_access"})
	return toks, ep, err
}

func promptNone(t *testing.T, toks *oauth.Tokens, ep oauth.Endpoints, allowed hostmatch.List) (bool, error) {
	t.Helper()
	tr, _ := httpx.NewTransport(httpx.TLS{})
	return oauth.PromptNone(context.Background(), httpx.Client(tr, toks.Jar), ep, allowed, "canary-app",
		"http://127.0.0.1/callback", []string{"openid", "offline_access"})
}

func TestLoginUIOnAllowedHost(t *testing.T) {
	s, idp, app, idpURL, appHost := loginOnAnotherOrigin(t)
	allowed, err := hostmatch.ParseList([]string{appHost})
	if err != nil {
		t.Fatal(err)
	}
	toks, ep, err := login(t, idpURL, allowed)
	if err != nil {
		t.Fatalf("login through the allowed login app: %v", err)
	}
	if toks.AccessToken.IsZero() || toks.RefreshToken.IsZero() || toks.Jar == nil {
		t.Fatal("the login returned no tokens or no session")
	}
	// The password went to the login app in one POST body, and nowhere
	// else; no Authorization header ever reached the app.
	var posts int
	for _, r := range app.requests() {
		if r.authorization {
			t.Errorf("%s %s at the login app carried an Authorization header", r.method, r.path)
		}
		if r.password {
			if r.method != http.MethodPost {
				t.Errorf("the password reached the login app in a %s", r.method)
			}
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("the password reached the login app %d times, want once", posts)
	}
	for _, r := range idp.requests() {
		if r.password {
			t.Errorf("the password reached the IdP host (%s %s): it belongs to the login app only", r.method, r.path)
		}
	}

	// prompt=none goes through the app too, which answers from the session.
	app.reset()
	alive, err := promptNone(t, toks, ep, allowed)
	if err != nil || !alive {
		t.Fatalf("prompt=none right after the login: alive=%v err=%v", alive, err)
	}
	if len(app.requests()) == 0 {
		t.Fatal("prompt=none never visited the login app: the test proves nothing about it")
	}
	// After the session is ended it answers login_required.
	req := httptest.NewRequest(http.MethodDelete, "/hydra/admin/oauth2/auth/sessions/login?subject=CANARY01", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("ending the session: %d", rec.Code)
	}
	if alive, err := promptNone(t, toks, ep, allowed); err != nil || alive {
		t.Fatalf("prompt=none after the session ended: alive=%v err=%v", alive, err)
	}
}

func TestLoginUIOnHostNotAllowed(t *testing.T) {
	_, idp, app, idpURL, appHost := loginOnAnotherOrigin(t)
	_, _, err := login(t, idpURL, nil)
	if err == nil {
		t.Fatal("the login followed a redirect to a host login.allowed_hosts does not list")
	}
	for _, want := range []string{appHost, "login.allowed_hosts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if got := app.requests(); len(got) != 0 {
		t.Errorf("the login app received %d requests (first %s %s), want none", len(got), got[0].method, got[0].path)
	}
	for _, r := range idp.requests() {
		if r.password {
			t.Errorf("the password reached the IdP host (%s %s)", r.method, r.path)
		}
	}

	// Another allowed host does not stand for this one.
	other, _ := hostmatch.ParseList([]string{"127.0.0.1:1"})
	if _, _, err := login(t, idpURL, other); err == nil || !strings.Contains(err.Error(), "login.allowed_hosts") {
		t.Fatalf("login with another host allowed: %v", err)
	}
	if got := app.requests(); len(got) != 0 {
		t.Errorf("the login app received %d requests, want none", len(got))
	}
}

func TestPromptNoneOnHostNotAllowed(t *testing.T) {
	_, _, app, idpURL, appHost := loginOnAnotherOrigin(t)
	allowed, _ := hostmatch.ParseList([]string{appHost})
	toks, ep, err := login(t, idpURL, allowed)
	if err != nil {
		t.Fatal(err)
	}
	app.reset()
	alive, err := promptNone(t, toks, ep, nil)
	if err == nil || !strings.Contains(err.Error(), "login.allowed_hosts") || !strings.Contains(err.Error(), appHost) {
		t.Fatalf("prompt=none to a host not allowed: alive=%v err=%v, want an error naming %s and login.allowed_hosts", alive, err, appHost)
	}
	if n := len(app.requests()); n != 0 {
		t.Fatalf("the login app received %d requests, want none", n)
	}
}

// A page on an allowed host whose form submits to a third host: the form
// is not submitted, and the error names that host and the setting.
func TestLoginFormSubmittingElsewhere(t *testing.T) {
	third := &wire{}
	ts := httptest.NewServer(third.wrap(http.NotFoundHandler()))
	defer ts.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<form method="post" action="`+ts.URL+`/collect">
			<input name="username"><input type="password" name="password"><button type="submit">Go</button></form>`)
	}))
	defer app.Close()
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, app.URL+"/login", http.StatusFound)
	}))
	defer idp.Close()
	tr, _ := httpx.NewTransport(httpx.TLS{})
	appURL, _ := url.Parse(app.URL)
	thirdURL, _ := url.Parse(ts.URL)
	allowed, _ := hostmatch.ParseList([]string{appURL.Host})
	_, err := oauth.CodeLogin(context.Background(), tr, nil, oauth.Endpoints{Authorization: idp.URL + "/authorize", Token: idp.URL + "/token"},
		allowed, &oauth.ClientAuth{ID: "c"}, "http://127.0.0.1/callback", "canary01", secret.New(canaryPassword), []string{"openid"})
	if err == nil || !strings.Contains(err.Error(), thirdURL.Host) || !strings.Contains(err.Error(), "login.allowed_hosts") {
		t.Fatalf("got %v, want an error naming %s and login.allowed_hosts", err, thirdURL.Host)
	}
	if n := len(third.requests()); n != 0 {
		t.Fatalf("the third host received %d requests", n)
	}
}

// A login form that would put the password into a URL is not submitted.
func TestLoginFormWithGETIsRefused(t *testing.T) {
	seenWire := &wire{}
	idp := httptest.NewServer(seenWire.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<form method="get" action="/login"><input name="username"><input type="password" name="password"><button>Go</button></form>`)
	})))
	defer idp.Close()
	tr, _ := httpx.NewTransport(httpx.TLS{})
	_, err := oauth.CodeLogin(context.Background(), tr, nil, oauth.Endpoints{Authorization: idp.URL + "/authorize", Token: idp.URL + "/token"},
		nil, &oauth.ClientAuth{ID: "c"}, "http://127.0.0.1/callback", "canary01", secret.New(canaryPassword), []string{"openid"})
	if err == nil || !strings.Contains(err.Error(), "GET") {
		t.Fatalf("got %v, want a refusal of the GET login form", err)
	}
	for _, r := range seenWire.requests() {
		if r.password {
			t.Fatalf("the password was sent (%s %s)", r.method, r.path)
		}
	}
}
