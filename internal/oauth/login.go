package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/revprober/revprober/internal/hostmatch"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/secret"
)

// maxLoginSteps bounds the redirects and forms of one login: a server
// that loops costs a bounded number of requests.
const maxLoginSteps = 16

// CodeLogin logs a canary in through the IdP's own HTML login form, the
// way a browser would but without one: authorization request with PKCE,
// redirects followed by hand, the login form filled (hidden inputs kept), a
// consent form accepted, and the code taken from the redirect to
// redirectURI and exchanged. The returned tokens carry the cookie jar that
// holds the OP session, for prompt=none checks. A nil jar starts a fresh
// browser; a jar from an earlier login carries its OP session, so an IdP
// that remembers it issues a code without a form.
//
// Redirects are followed and forms submitted only on the authorization
// endpoint's host and the hosts in allowed (login.allowed_hosts: a login
// UI on its own origin, as Ory Hydra's always is). These requests carry no
// Authorization header and no client credential (those go to the token
// endpoint only); the password goes only in the body of the login form's
// POST; cookies follow the jar's rules.
//
// The flow follows URLs the IdP chose, and its errors quote them: they are
// scrubbed of the run's secrets.
func CodeLogin(ctx context.Context, rt http.RoundTripper, jar http.CookieJar, ep Endpoints, allowed hostmatch.List, client *ClientAuth, redirectURI, username string, password secret.Secret, scopes []string) (*Tokens, error) {
	t, err := codeLogin(ctx, rt, jar, ep, allowed, client, redirectURI, username, password, scopes)
	return t, httpx.ScrubError(ctx, err)
}

func codeLogin(ctx context.Context, rt http.RoundTripper, jar http.CookieJar, ep Endpoints, allowed hostmatch.List, client *ClientAuth, redirectURI, username string, password secret.Secret, scopes []string) (*Tokens, error) {
	if ep.Authorization == "" {
		return nil, errors.New("authorization-code login: the issuer offers no authorization_endpoint")
	}
	if jar == nil {
		jar, _ = cookiejar.New(nil)
	}
	c := httpx.Client(rt, jar)
	cfg := client.oauth2Config(ep, redirectURI, scopes)
	verifier := oauth2.GenerateVerifier()
	state := RandomString(12)
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", RandomString(12))}
	if hasScope(scopes, "offline_access") {
		// OIDC Core §11: offline_access is ignored unless consent is prompted.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "consent"))
	}
	authURL, err := url.Parse(cfg.AuthCodeURL(state, opts...))
	if err != nil {
		return nil, fmt.Errorf("authorization-code login: %w", err)
	}
	redirect, err := url.Parse(redirectURI)
	if err != nil {
		return nil, fmt.Errorf("authorization-code login: redirect_uri: %w", err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL.String(), nil)
	passwordSent := false
	for step := 0; step < maxLoginSteps; step++ {
		resp, err := httpx.Do(c, req)
		if err != nil {
			return nil, fmt.Errorf("authorization-code login: %w", err)
		}
		switch {
		case resp.Status >= 300 && resp.Status < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return nil, fmt.Errorf("authorization-code login: %d from %s without a usable Location", resp.Status, httpx.RedactURL(req.URL))
			}
			if sameEndpoint(loc, redirect) {
				code, err := codeFrom(loc, state)
				if err != nil {
					return nil, fmt.Errorf("authorization-code login: %w", err)
				}
				exOpts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
				more, err := client.assertionOpts(ep.Token)
				if err != nil {
					return nil, err
				}
				t, err := cfg.Exchange(withClient(ctx, c), code, append(exOpts, more...)...)
				if err != nil {
					return nil, fmt.Errorf("authorization-code login: code exchange at %s: %w", ep.Token, describeTokenError(ctx, err))
				}
				toks := fromOAuth2(t)
				toks.Jar = jar
				return toks, nil
			}
			if !visitable(loc, authURL, allowed) {
				// Never carry a canary's password to a host we were not configured for.
				return nil, fmt.Errorf("authorization-code login: %w", offHost("redirected to", loc))
			}
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
		case resp.Status == http.StatusOK || resp.Status == http.StatusUnauthorized:
			forms := parseForms(resp.Body)
			f, kind := pickForm(forms)
			if f == nil {
				return nil, fmt.Errorf("authorization-code login: %s answered %d with no login or consent form", httpx.RedactURL(req.URL), resp.Status)
			}
			action, err := req.URL.Parse(f.action)
			switch {
			case err != nil:
				return nil, fmt.Errorf("authorization-code login: the form at %s has a bad action URL", httpx.RedactURL(req.URL))
			case !visitable(action, authURL, allowed):
				return nil, fmt.Errorf("authorization-code login: the form at %s %w", httpx.RedactURL(req.URL), offHost("submits to", action))
			}
			get := strings.EqualFold(f.method, "get")
			if kind == loginForm {
				if passwordSent {
					return nil, errors.New("authorization-code login: the IdP rejected the canary's credentials (login form shown again)")
				}
				if get {
					// A GET form would put the password in a URL, where
					// proxies and access logs keep it.
					return nil, fmt.Errorf("authorization-code login: the login form at %s submits with GET; revprober sends a password only in a POST body", httpx.RedactURL(req.URL))
				}
				passwordSent = true
				f.values.Set(f.userField, username)
				f.values.Set(f.passField, password.Reveal())
			}
			if get {
				action.RawQuery = f.values.Encode()
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
			} else {
				body := f.values.Encode()
				req, _ = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		default:
			return nil, fmt.Errorf("authorization-code login: %s answered %d", httpx.RedactURL(req.URL), resp.Status)
		}
	}
	return nil, fmt.Errorf("authorization-code login: no code after %d steps", maxLoginSteps)
}

// visitable tells whether a login may send a request to u: the
// authorization endpoint's own host, or a host the configuration allows.
func visitable(u, authURL *url.URL, allowed hostmatch.List) bool {
	return hostmatch.Same(u, authURL) || allowed.Allows(u)
}

// offHost says that the flow led to a host it may not visit, and which
// setting lets it.
func offHost(what string, u *url.URL) error {
	return fmt.Errorf("%s another host (%s), which login.allowed_hosts does not list: "+
		"add it there if the IdP's login UI is served from it", what, u.Host)
}

func hasScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}

func sameEndpoint(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Host == b.Host && a.Path == b.Path
}

// codeFrom reads the authorization response (query or fragment).
func codeFrom(loc *url.URL, state string) (string, error) {
	q := loc.Query()
	if q.Get("code") == "" && q.Get("error") == "" && loc.Fragment != "" {
		q, _ = url.ParseQuery(loc.Fragment)
	}
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("the IdP answered error %q", e)
	}
	if q.Get("state") != state {
		return "", errors.New("state mismatch in the authorization response")
	}
	if q.Get("code") == "" {
		return "", errors.New("no code in the authorization response")
	}
	return q.Get("code"), nil
}

type form struct {
	action, method       string
	values               url.Values
	userField, passField string
	hasPassword          bool
	submits              int
}

type formKind int

const (
	noForm formKind = iota
	loginForm
	consentForm
)

var userNameRe = regexp.MustCompile(`(?i)user|login|email|mail|name|^id$`)

// pickForm prefers a form with a password field (login); else a form with
// a submit control (consent: accept it as given).
func pickForm(forms []*form) (*form, formKind) {
	for _, f := range forms {
		if f.hasPassword && f.userField != "" {
			return f, loginForm
		}
	}
	for _, f := range forms {
		if !f.hasPassword && f.submits > 0 {
			return f, consentForm
		}
	}
	return nil, noForm
}

// parseForms collects the forms of a page with their default values.
func parseForms(body []byte) []*form {
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	var forms []*form
	byID := map[string]*form{}
	var outside []*html.Node // controls after their form, tied by form="id"
	var cur *form
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			owner := cur
			if id := attr(n, "form"); id != "" && (n.Data == "input" || n.Data == "button") {
				if owner = byID[id]; owner == nil {
					outside = append(outside, n)
				}
			}
			switch n.Data {
			case "form":
				cur = &form{action: attr(n, "action"), method: attr(n, "method"), values: url.Values{}}
				forms = append(forms, cur)
				if id := attr(n, "id"); id != "" {
					byID[id] = cur
				}
				for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
					walk(ch)
				}
				cur = nil
				return
			case "input":
				if owner != nil {
					addInput(owner, n)
				}
			case "button":
				if owner != nil {
					addButton(owner, n)
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	// A control may name a form that comes later in the page.
	for _, n := range outside {
		if f := byID[attr(n, "form")]; f != nil {
			if n.Data == "button" {
				addButton(f, n)
			} else {
				addInput(f, n)
			}
		}
	}
	return forms
}

func addButton(f *form, n *html.Node) {
	if t := attr(n, "type"); t != "" && !strings.EqualFold(t, "submit") {
		return
	}
	f.submits++
	// The first submit button's value is what a click sends.
	if name := attr(n, "name"); name != "" && f.submits == 1 {
		f.values.Set(name, attr(n, "value"))
	}
}

// ConfirmForm finds a confirmation form on a page (a logout or consent
// prompt: a form with a submit control and no password field) and returns
// where and how a click on its first button would submit it.
func ConfirmForm(page []byte) (action, method string, values url.Values, ok bool) {
	f, kind := pickForm(parseForms(page))
	if kind != consentForm {
		return "", "", nil, false
	}
	return f.action, f.method, f.values, true
}

func addInput(f *form, n *html.Node) {
	name, typ := attr(n, "name"), strings.ToLower(attr(n, "type"))
	switch typ {
	case "submit":
		f.submits++
		if name != "" && f.submits == 1 {
			f.values.Set(name, attr(n, "value"))
		}
		return
	case "checkbox", "radio":
		if _, checked := attrOK(n, "checked"); checked && name != "" {
			f.values.Add(name, attrOr(n, "value", "on"))
		}
		return
	case "button", "reset", "image", "file":
		return
	}
	if name == "" {
		return
	}
	switch {
	case typ == "password" || (typ != "hidden" && strings.Contains(strings.ToLower(name), "pass")):
		f.hasPassword, f.passField = true, name
	case typ != "hidden" && f.userField == "" && userNameRe.MatchString(name):
		f.userField = name
	}
	f.values.Set(name, attr(n, "value"))
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOr(n *html.Node, key, def string) string {
	if v, ok := attrOK(n, key); ok {
		return v
	}
	return def
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

// PromptNone sends an authorization request with prompt=none and the
// session cookies in c's jar. alive is true when the IdP issued a code (or
// asked only for consent: the login session still authenticates the user);
// false on login_required or interaction_required. Redirects are followed
// on the authorization endpoint's host and the hosts in allowed (a login
// app that answers from the session, as Hydra's does with skip=true).
// Its errors quote URLs and codes the IdP chose: they are scrubbed of the
// run's secrets.
func PromptNone(ctx context.Context, c *http.Client, ep Endpoints, allowed hostmatch.List, clientID, redirectURI string, scopes []string) (alive bool, err error) {
	alive, err = promptNone(ctx, c, ep, allowed, clientID, redirectURI, scopes)
	return alive, httpx.ScrubError(ctx, err)
}

func promptNone(ctx context.Context, c *http.Client, ep Endpoints, allowed hostmatch.List, clientID, redirectURI string, scopes []string) (alive bool, err error) {
	if ep.Authorization == "" {
		return false, errors.New("prompt=none: no authorization_endpoint")
	}
	cfg := &oauth2.Config{ClientID: clientID, RedirectURL: redirectURI, Scopes: scopes, Endpoint: oauth2.Endpoint{AuthURL: ep.Authorization}}
	state := RandomString(12)
	u := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("nonce", RandomString(12)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	redirect, err := url.Parse(redirectURI)
	if err != nil {
		return false, err
	}
	authURL := req.URL
	// Some servers bounce through their own host (resume URLs) or a login
	// app that answers from its own session first.
	for step := 0; step < maxLoginSteps; step++ {
		resp, err := httpx.Do(c, req)
		if err != nil {
			return false, fmt.Errorf("prompt=none: %w", err)
		}
		if resp.Status < 300 || resp.Status >= 400 {
			return false, fmt.Errorf("prompt=none at %s answered %d, not a redirect", httpx.RedactURL(req.URL), resp.Status)
		}
		loc, err := req.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return false, fmt.Errorf("prompt=none: bad Location")
		}
		if !sameEndpoint(loc, redirect) {
			if !visitable(loc, authURL, allowed) {
				return false, fmt.Errorf("prompt=none: %w", offHost("redirected to", loc))
			}
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
			continue
		}
		q := loc.Query()
		if q.Get("code") == "" && q.Get("error") == "" && loc.Fragment != "" {
			q, _ = url.ParseQuery(loc.Fragment)
		}
		switch e := q.Get("error"); {
		case q.Get("code") != "":
			return true, nil
		case e == "login_required" || e == "interaction_required":
			return false, nil
		case e == "consent_required" || e == "account_selection_required":
			return true, nil
		case e != "":
			return false, fmt.Errorf("prompt=none: the IdP answered error %q", e)
		}
		return false, errors.New("prompt=none: redirect carries neither code nor error")
	}
	return false, errors.New("prompt=none: too many redirects")
}

// SessionStatus asks Janssen's /session_status about the session in c's
// jar: "authenticated" is alive; "unknown" (gone) or "unauthenticated" dead.
func SessionStatus(ctx context.Context, c *http.Client, u string) (alive bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := httpx.Do(c, req)
	if err != nil {
		return false, fmt.Errorf("session_status: %w", err)
	}
	if resp.Status != http.StatusOK {
		return false, fmt.Errorf("session_status at %s answered %d", u, resp.Status)
	}
	var body struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.State == "" {
		return false, fmt.Errorf("session_status at %s: answer has no state", u)
	}
	switch body.State {
	case "authenticated":
		return true, nil
	case "unknown", "unauthenticated": // gone, or never completed (docs/wire-facts.md §1.8)
		return false, nil
	}
	state := httpx.Scrub(ctx, body.State)
	if len(state) > 40 {
		state = state[:40] + "…"
	}
	return false, fmt.Errorf("session_status at %s: unexpected state %q", u, state)
}
