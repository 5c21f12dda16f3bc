package idpsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is the injected time: tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one simulator behind httptest with a few protocol helpers.
type env struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
	clk *clock
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts.Now = clk.Now
	srv := New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, srv: srv, ts: ts, clk: clk}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

func (r reply) str(t *testing.T, key string) string {
	t.Helper()
	s, _ := r.json(t)[key].(string)
	return s
}

// opt changes a request before it is sent.
type opt func(*http.Request)

func basic(id, secret string) opt { return func(r *http.Request) { r.SetBasicAuth(id, secret) } }
func bearerAuth(tok string) opt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}
func cookie(v string) opt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v}) }
}
func jsonBody(r *http.Request) { r.Header.Set("Content-Type", "application/json") }

var admin = basic("revprober-admin", "admin-secret")
var app = basic("canary-app", "canary-secret")

// do sends a request without following redirects. A url.Values body is sent
// as a form; a string body as is.
func (e *env) do(method, path string, body any, opts ...opt) reply {
	e.t.Helper()
	r, err := send(http.DefaultClient, e.ts.URL+path, method, body, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// send is do without a *testing.T, for goroutines: it returns its error.
func send(c *http.Client, u, method string, body any, opts ...opt) (reply, error) {
	var rd io.Reader
	form := false
	switch b := body.(type) {
	case url.Values:
		rd, form = strings.NewReader(b.Encode()), true
	case string:
		rd = strings.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return reply{}, err
	}
	if form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, o := range opts {
		if o != nil {
			o(req)
		}
	}
	cl := *c
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}, err
}

type tokens struct{ access, refresh, id string }

func (e *env) tokensFrom(r reply) tokens {
	e.t.Helper()
	if r.status != 200 {
		e.t.Fatalf("token request: %d %s", r.status, r.body)
	}
	return tokens{r.str(e.t, "access_token"), r.str(e.t, "refresh_token"), r.str(e.t, "id_token")}
}

// ropc logs a canary in with the password grant (no session).
func (e *env) ropc(user, pass string) tokens {
	e.t.Helper()
	return e.tokensFrom(e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"password"},
		"username": {user}, "password": {pass}, "scope": {"openid offline_access"}}, app))
}

func (e *env) refresh(rt string) reply {
	e.t.Helper()
	return e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, app)
}

// adminToken is a client_credentials access token of revprober-admin.
func (e *env) adminToken(scope string) string {
	e.t.Helper()
	return e.tokensFrom(e.do("POST", "/jans-auth/restv1/token",
		url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, admin)).access
}

// active introspects with the admin client's Basic credentials.
func (e *env) active(tok string) bool {
	e.t.Helper()
	r := e.do("POST", "/jans-auth/restv1/introspection", url.Values{"token": {tok}}, admin)
	if r.status != 200 {
		e.t.Fatalf("introspection: %d %s", r.status, r.body)
	}
	return r.json(e.t)["active"] == true
}

func (e *env) refreshWorks(rt string) bool { e.t.Helper(); return e.refresh(rt).status == 200 }

func (e *env) userinfo(at string) int {
	e.t.Helper()
	return e.do("GET", "/jans-auth/restv1/userinfo", nil, bearerAuth(at)).status
}

func (e *env) sessionState(sessionID string) string {
	e.t.Helper()
	return e.do("GET", "/jans-auth/restv1/session_status", nil, cookie(sessionID)).str(e.t, "state")
}

func (e *env) gtr(uid string) int {
	e.t.Helper()
	return e.do("POST", "/jans-auth/restv1/global-token-revocation",
		`{"sub_id":{"format":"uid","id":"`+uid+`"}}`, admin, jsonBody).status
}

const redirectURI = "http://127.0.0.1:8912/callback"

func pkce(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeQuery(extra url.Values) string {
	q := url.Values{"response_type": {"code"}, "client_id": {"canary-app"}, "redirect_uri": {redirectURI},
		"scope": {"openid offline_access"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {pkce("verifier-0123456789-0123456789-0123456789")}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return "/jans-auth/restv1/authorize?" + q.Encode()
}

var (
	formRe  = regexp.MustCompile(`(?is)<form[^>]*\baction="([^"]*)"`)
	inputRe = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRe  = regexp.MustCompile(`(?is)\b(name|value|type)="([^"]*)"`)
)

// parseForm reads the login page's form: its action, its hidden inputs, and
// the names of its text and password inputs.
func parseLoginForm(t *testing.T, page string) (action string, fields url.Values, visible []string) {
	t.Helper()
	m := formRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in %q", page)
	}
	fields = url.Values{}
	for _, in := range inputRe.FindAllString(page, -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(in, -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		if attrs["type"] == "hidden" {
			fields.Set(attrs["name"], attrs["value"])
		} else {
			visible = append(visible, attrs["type"]+":"+attrs["name"])
		}
	}
	return html.UnescapeString(m[1]), fields, visible
}

// browserLogin runs the authorization-code flow through the HTML form and
// returns the session cookie value and the tokens.
func (e *env) browserLogin(user, pass string) (string, tokens) {
	e.t.Helper()
	page := e.do("GET", authorizeQuery(nil), nil)
	if page.status != 200 {
		e.t.Fatalf("authorize: %d %s", page.status, page.body)
	}
	action, fields, _ := parseLoginForm(e.t, string(page.body))
	fields.Set("username", user)
	fields.Set("password", pass)
	r := e.do("POST", action, fields)
	if r.status != http.StatusFound {
		e.t.Fatalf("login POST: %d %s", r.status, r.body)
	}
	var sess string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			sess = c.Value
		}
	}
	loc, _ := url.Parse(r.header.Get("Location"))
	if sess == "" || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-1" {
		e.t.Fatalf("login: cookie %q, Location %q", sess, loc)
	}
	return sess, e.exchange(loc.Query().Get("code"), "verifier-0123456789-0123456789-0123456789")
}

func (e *env) exchangeReply(code, verifier string) reply {
	e.t.Helper()
	return e.do("POST", "/jans-auth/restv1/token", url.Values{"grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}, app)
}

func (e *env) exchange(code, verifier string) tokens {
	e.t.Helper()
	return e.tokensFrom(e.exchangeReply(code, verifier))
}
