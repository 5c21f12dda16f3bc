package idpsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The browser flow: /authorize (GET shows the login form or answers from the
// session cookie, POST checks the password), /authorize-challenge (the
// first-party login without a browser), and the code exchange at /token.
// These are the only ways to get an OP session: ROPC creates none (§0.5).

// authzParams are the authorization request parameters the login form carries
// in hidden inputs, so a pending login needs no server state.
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method"}

type authzRequest struct {
	client *Client
	form   url.Values
}

func (a authzRequest) get(k string) string { return a.form.Get(k) }

// validateAuthz checks a request. A bad client or redirect URI gets a 400 page
// (never a redirect to an unverified URI); other errors go back to the client.
func (s *Server) validateAuthz(w http.ResponseWriter, r *http.Request) (authzRequest, bool) {
	a := authzRequest{form: r.Form}
	c, ok := s.clients[a.get("client_id")]
	if !ok || !c.allowsRedirect(a.get("redirect_uri")) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>Unknown client or unregistered redirect_uri.</p>\n"))
		return a, false
	}
	a.client = c
	switch {
	case a.get("response_type") != "code":
		s.redirectError(w, r, a, "unsupported_response_type")
	case !c.hasGrantType("authorization_code"):
		s.redirectError(w, r, a, "unauthorized_client")
	case a.get("code_challenge") == "" || a.get("code_challenge_method") != "S256":
		s.redirectError(w, r, a, "invalid_request") // PKCE S256 is required here
	default:
		return a, true
	}
	return a, false
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, a authzRequest, code string) {
	http.Redirect(w, r, withQuery(a.get("redirect_uri"), map[string]string{"error": code, "state": a.get("state")}), http.StatusFound)
}

// handleAuthorize answers from a live session cookie, or with login_required
// for prompt=none, or with the login form.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	a, ok := s.validateAuthz(w, r)
	if !ok {
		return
	}
	prompt := strings.Fields(a.get("prompt"))
	if s.loginOrigin() != "" {
		s.authorizeViaLoginApp(w, r, a, prompt)
		return
	}
	if !slices.Contains(prompt, "login") {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			if ss, ok := s.liveSession(ck.Value); ok {
				s.redirectCode(w, r, a, ss)
				return
			}
		}
	}
	if slices.Contains(prompt, "none") {
		s.redirectError(w, r, a, "login_required")
		return
	}
	s.loginPage(w, a, http.StatusOK, "")
}

// handleLogin is the login form's POST.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	a, ok := s.validateAuthz(w, r)
	if !ok {
		return
	}
	u, ok := s.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		s.loginPage(w, a, http.StatusOK, "Invalid username or password.")
		return
	}
	ss := s.newSession(u.Inum)
	setSessionCookie(w, ss)
	s.redirectCode(w, r, a, ss)
}

func setSessionCookie(w http.ResponseWriter, ss session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: ss.id, Path: janssenBase, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
}

func (s *Server) redirectCode(w http.ResponseWriter, r *http.Request, a authzRequest, ss session) {
	code := s.newCode(authCode{client: a.client.ID, redirectURI: a.get("redirect_uri"), session: ss.id,
		user: ss.user, scopes: grantedScopes(a.client, a.get("scope")), nonce: a.get("nonce"),
		challenge: a.get("code_challenge")})
	http.Redirect(w, r, withQuery(a.get("redirect_uri"), map[string]string{"code": code, "state": a.get("state")}), http.StatusFound)
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Janssen simulator: login</title></head>
<body>
<h1>Login</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/jans-auth/restv1/authorize">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label>Username <input type="text" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Login</button>
</form>
</body></html>
`))

func (s *Server) loginPage(w http.ResponseWriter, a authzRequest, status int, msg string) {
	type field struct{ Name, Value string }
	var hidden []field
	for _, k := range authzParams {
		if v := a.get(k); v != "" {
			hidden = append(hidden, field{k, v})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, struct {
		Error  string
		Hidden []field
	}{msg, hidden})
}

// handleAuthorizeChallenge is /authorize-challenge as if
// authorizationChallengeShouldGenerateSession=true: the clean way to give a
// canary a real session without a browser (§1.7). The client needs the
// authorization_challenge scope.
func (s *Server) handleAuthorizeChallenge(w http.ResponseWriter, r *http.Request) {
	if !s.requireFeature(w, featChallenge) || !parseForm(w, r) {
		return
	}
	c, ok := s.clients[r.PostForm.Get("client_id")]
	if !ok || !c.hasScope("authorization_challenge") {
		writeError(w, http.StatusUnauthorized, "invalid_client", "The client is not allowed to use the authorization challenge.")
		return
	}
	u, ok := s.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
	if !ok {
		writeError(w, http.StatusUnauthorized, "access_denied", "Invalid user.")
		return
	}
	if ch := r.PostForm.Get("code_challenge"); ch != "" && r.PostForm.Get("code_challenge_method") != "S256" {
		writeError(w, http.StatusBadRequest, "invalid_request", "Only code_challenge_method S256 is supported.")
		return
	}
	ss := s.newSession(u.Inum)
	setSessionCookie(w, ss)
	code := s.newCode(authCode{client: c.ID, session: ss.id, user: u.Inum,
		scopes: grantedScopes(c, r.PostForm.Get("scope")), challenge: r.PostForm.Get("code_challenge")})
	writeJSON(w, http.StatusOK, map[string]string{"authorization_code": code})
}

// exchangeCode is grant_type=authorization_code: the code is single use and
// bound to the client, the redirect URI, the PKCE challenge and the session.
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, c *Client) {
	code, ok := s.takeCode(r.PostForm.Get("code"))
	switch {
	case !ok || code.client != c.ID:
		writeError(w, http.StatusBadRequest, "invalid_grant", "The authorization code is not valid.")
	case code.redirectURI != r.PostForm.Get("redirect_uri"):
		writeError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request.")
	case code.challenge != "" && !pkceOK(code.challenge, r.PostForm.Get("code_verifier")):
		writeError(w, http.StatusBadRequest, "invalid_grant", "PKCE check failed.")
	default:
		if _, live := s.liveSession(code.session); !live {
			writeError(w, http.StatusBadRequest, "invalid_grant", "The session of the authorization code is gone.")
			return
		}
		out := s.newGrant(code.user, c.ID, code.session, code.scopes, wantsRefresh(c, code.scopes))
		s.writeTokens(w, r, out, code.nonce)
	}
}

func pkceOK(challenge, verifier string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return verifier != "" && subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// allowsRedirect matches a registered URI exactly, or, for a registered
// loopback URI without a port, any port and path on that loopback host
// (RFC 8252 §7.3 allows any port; any path keeps tests simple).
func (c *Client) allowsRedirect(uri string) bool {
	u, err := url.Parse(uri)
	if uri == "" || err != nil || u.Fragment != "" || u.User != nil {
		return false
	}
	for _, reg := range c.RedirectURIs {
		if uri == reg {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Port() != "" {
			continue
		}
		if ip := net.ParseIP(ru.Hostname()); ip != nil && ip.IsLoopback() && u.Scheme == "http" && u.Hostname() == ru.Hostname() {
			return true
		}
	}
	return false
}

// withQuery adds the non-empty parameters to the URI's query.
func withQuery(uri string, params map[string]string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
