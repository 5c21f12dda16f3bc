package idpsim

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// A login UI on another origin, as Ory Hydra always runs one (and Okta custom
// domains, Keycloak behind a separate front end): with SetLoginOrigin, the
// authorization endpoint never shows a form of its own. It hands the browser
// to the login app (LoginApp, served by a second listener) with a
// login_challenge; the app shows the form, checks the password, and hands
// the browser back to the authorization endpoint with a single-use
// login_verifier, on which the OP creates its session and issues the code.
// A request with a live session goes through the app too, which answers at
// once without a form (Hydra's skip=true): so prompt=none visits the app's
// origin as well. The app keeps a CSRF cookie of its own origin, so a client
// must carry cookies across both origins as a browser does.

const (
	loginAppPath       = "/login"
	loginAppCSRFCookie = "login_csrf"
)

// loginApp is the state of the login hand-over: pending challenges and
// issued verifiers, each single use and short lived.
type loginApp struct {
	mu         sync.Mutex
	origin     string // the app's base URL; "" turns the hand-over off
	challenges map[string]loginChallenge
	verifiers  map[string]loginVerdict
}

// loginChallenge is an authorization request waiting for the login app.
type loginChallenge struct {
	authorize string     // the authorization endpoint's absolute URL, to come back to
	params    url.Values // the authorization request
	session   string     // a live session to answer from without a form (skip), or ""
	expires   time.Time
}

// loginVerdict is what the app decided: the user, and the session to reuse
// (skip) or "" for a new one.
type loginVerdict struct {
	user, session, client string
	expires               time.Time
}

// SetLoginOrigin turns the login hand-over on: origin is the base URL
// (http://127.0.0.1:PORT) of a listener serving LoginApp. "" turns it off.
func (s *Server) SetLoginOrigin(origin string) {
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	s.login.origin = strings.TrimSuffix(origin, "/")
}

func (s *Server) loginOrigin() string {
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	return s.login.origin
}

// authorizeViaLoginApp is the authorization endpoint in hand-over mode: a
// request coming back with a login_verifier is finished; prompt=none
// without a live session is refused at once (as Hydra does); anything else
// goes to the login app, with the live session it may answer from.
func (s *Server) authorizeViaLoginApp(w http.ResponseWriter, r *http.Request, a authzRequest, prompt []string) {
	if a.get("login_verifier") != "" {
		s.finishHandOver(w, r, a)
		return
	}
	live := ""
	if !slices.Contains(prompt, "login") {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			if ss, ok := s.liveSession(ck.Value); ok {
				live = ss.id
			}
		}
	}
	if live == "" && slices.Contains(prompt, "none") {
		s.redirectError(w, r, a, "login_required")
		return
	}
	s.handOver(w, r, a, live)
}

// handOver sends an authorization request to the login app.
func (s *Server) handOver(w http.ResponseWriter, r *http.Request, a authzRequest, liveSession string) {
	params := url.Values{}
	for k, v := range a.form {
		if k != "login_verifier" {
			params[k] = slices.Clone(v)
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ch := loginChallenge{authorize: scheme + "://" + r.Host + r.URL.Path, params: params, session: liveSession,
		expires: s.now().Add(codeTTL)}
	id := randomToken()
	s.login.mu.Lock()
	s.pruneLoginLocked()
	s.login.challenges[id] = ch
	origin := s.login.origin
	s.login.mu.Unlock()
	http.Redirect(w, r, origin+loginAppPath+"?login_challenge="+url.QueryEscape(id), http.StatusFound)
}

// finishHandOver completes an authorization request that came back from
// the login app with a login_verifier: a new session (or the skipped-to
// one), its cookie, and the code.
func (s *Server) finishHandOver(w http.ResponseWriter, r *http.Request, a authzRequest) {
	s.login.mu.Lock()
	v, ok := s.login.verifiers[a.get("login_verifier")]
	delete(s.login.verifiers, a.get("login_verifier"))
	s.login.mu.Unlock()
	if !ok || v.client != a.client.ID || !s.now().Before(v.expires) {
		s.redirectError(w, r, a, "access_denied")
		return
	}
	if v.session == "" {
		ss := s.newSession(v.user)
		setSessionCookie(w, ss)
		s.redirectCode(w, r, a, ss)
		return
	}
	// Skipped: the session must still live (it may have been revoked
	// while the browser was at the app).
	ss, live := s.liveSession(v.session)
	if !live {
		s.redirectError(w, r, a, "login_required")
		return
	}
	s.redirectCode(w, r, a, ss)
}

func (s *Server) pruneLoginLocked() {
	now := s.now()
	for k, c := range s.login.challenges {
		if !now.Before(c.expires) {
			delete(s.login.challenges, k)
		}
	}
	for k, v := range s.login.verifiers {
		if !now.Before(v.expires) {
			delete(s.login.verifiers, k)
		}
	}
}

// LoginApp is the login UI of the hand-over mode, to be served on its own
// listener (its own origin): GET /login?login_challenge=C shows the form
// (or answers at once for a live session), POST /login checks the password.
func (s *Server) LoginApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+loginAppPath, s.handleLoginAppForm)
	mux.HandleFunc("POST "+loginAppPath, s.handleLoginAppSubmit)
	return mux
}

func (s *Server) challenge(id string) (loginChallenge, bool) {
	s.login.mu.Lock()
	defer s.login.mu.Unlock()
	c, ok := s.login.challenges[id]
	if !ok || !s.now().Before(c.expires) {
		return loginChallenge{}, false
	}
	return c, true
}

func (s *Server) handleLoginAppForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("login_challenge")
	ch, ok := s.challenge(id)
	if !ok {
		http.Error(w, "unknown or expired login_challenge", http.StatusBadRequest)
		return
	}
	if ss, live := s.liveSession(ch.session); live {
		s.acceptLogin(w, r, id, ch, ss.user, ss.id)
		return
	}
	csrf := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginAppCSRFCookie, Value: csrf, Path: loginAppPath, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	loginAppPage(w, id, csrf, "")
}

func (s *Server) handleLoginAppSubmit(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	id := r.PostForm.Get("login_challenge")
	ch, ok := s.challenge(id)
	if !ok {
		http.Error(w, "unknown or expired login_challenge", http.StatusBadRequest)
		return
	}
	if ck, err := r.Cookie(loginAppCSRFCookie); err != nil || ck.Value == "" || ck.Value != r.PostForm.Get("csrf") {
		http.Error(w, "CSRF cookie missing or wrong", http.StatusForbidden)
		return
	}
	u, ok := s.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		loginAppPage(w, id, r.PostForm.Get("csrf"), "Invalid username or password.")
		return
	}
	s.acceptLogin(w, r, id, ch, u.Inum, "")
}

// acceptLogin ends the challenge and sends the browser back to the
// authorization endpoint with a verifier.
func (s *Server) acceptLogin(w http.ResponseWriter, r *http.Request, id string, ch loginChallenge, user, session string) {
	verifier := randomToken()
	s.login.mu.Lock()
	delete(s.login.challenges, id)
	s.login.verifiers[verifier] = loginVerdict{user: user, session: session, client: ch.params.Get("client_id"), expires: s.now().Add(codeTTL)}
	s.login.mu.Unlock()
	back := url.Values{}
	for k, v := range ch.params {
		back[k] = v
	}
	back.Set("login_verifier", verifier)
	http.Redirect(w, r, ch.authorize+"?"+back.Encode(), http.StatusFound)
}

var loginAppTmpl = template.Must(template.New("login-app").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Login app</title></head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="login_challenge" value="{{.Challenge}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Username <input type="text" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</body></html>
`))

func loginAppPage(w http.ResponseWriter, challenge, csrf, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = loginAppTmpl.Execute(w, struct{ Challenge, CSRF, Error string }{challenge, csrf, msg})
}
