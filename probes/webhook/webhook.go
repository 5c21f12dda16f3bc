// Package webhook drives any HTTP automation that should end in revocation:
// an HR offboarding hook, a SIEM playbook, a ticketing workflow. The driver
// sends one templated request; what the pipeline promises to kill is
// declared in params, and the engine verifies it like any endpoint.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "webhook",
		Summary: "a templated HTTP request to any URL (HR/SIEM/ticketing automation); its promise is declared in params",
		Params: []string{"method", "body", "content_type", "auth", "scope", "accept",
			"access_token", "refresh_token", "session", "resource", "async"},
		ParamPrefixes: []string{headerPrefix},
		// A header is where an automation's API key travels
		// (header_X-Api-Key): every header value is treated as a secret.
		SecretParamPrefixes: []string{headerPrefix},
		New:                 newWebhook,
		Doc:                 "docs/drivers-generic.md#webhook-any-http-automation-that-should-end-in-revocation",
	})
}

const headerPrefix = "header_"

type header struct {
	name string
	tmpl *template.Template
}

type webhook struct {
	method      string
	body        *template.Template // nil: no body
	contentType string
	headers     []header
	auth        string   // none, basic, bearer
	scopes      []string // for auth bearer
	accept      []int    // nil: any 2xx
	profile     verdict.Profile
}

func newWebhook(p driver.Params) (driver.Driver, error) {
	w := &webhook{method: strings.ToUpper(p["method"]), contentType: p["content_type"], auth: p["auth"], scopes: strings.Fields(p["scope"])}
	if w.method == "" {
		w.method = http.MethodPost
	}
	if !validToken(w.method) {
		return nil, fmt.Errorf("param method: %q is not an HTTP method", p["method"])
	}
	if w.contentType == "" {
		w.contentType = "application/json"
	}
	if b := p["body"]; b != "" {
		t, err := parse("body", b)
		if err != nil {
			return nil, err
		}
		w.body = t
	}
	switch w.auth {
	case "":
		w.auth = "none"
	case "none", "basic", "bearer":
	default:
		return nil, fmt.Errorf("param auth: %q is not none, basic or bearer", p["auth"])
	}
	if len(w.scopes) > 0 && w.auth != "bearer" {
		return nil, fmt.Errorf("param scope: only used with auth: bearer")
	}
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic header order
	for _, name := range names {
		h, ok := strings.CutPrefix(name, headerPrefix)
		if !ok {
			continue
		}
		if !validToken(h) {
			return nil, fmt.Errorf("param %s: %q is not a valid header name", name, h)
		}
		canon := http.CanonicalHeaderKey(h)
		if canon == "Content-Type" || canon == "Content-Length" || canon == "Host" || (canon == "Authorization" && w.auth != "none") {
			return nil, fmt.Errorf("param %s: the %s header is set by the driver (content_type, auth)", name, canon)
		}
		t, err := parse(name, p[name])
		if err != nil {
			return nil, err
		}
		w.headers = append(w.headers, header{name: canon, tmpl: t})
	}
	if a := p["accept"]; a != "" {
		for _, f := range strings.Split(a, ",") {
			code, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || code < 100 || code > 599 {
				return nil, fmt.Errorf("param accept: %q is not an HTTP status code", strings.TrimSpace(f))
			}
			w.accept = append(w.accept, code)
		}
	}
	var err error
	if w.profile, err = profileFrom(p); err != nil {
		return nil, err
	}
	return w, nil
}

// profileFrom reads the pipeline's promise. Defaults: the access and
// refresh tokens and the resource die; the session is not checked.
func profileFrom(p driver.Params) (verdict.Profile, error) {
	prof := verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Unchecked, Resource: verdict.Dies}
	for _, a := range verdict.Artifacts {
		v, ok := p[string(a)]
		if !ok || v == "" {
			continue
		}
		e := verdict.Expect(v)
		if e != verdict.Dies && e != verdict.Survives && e != verdict.Unchecked {
			return prof, fmt.Errorf("param %s: %q is not dies, survives or unchecked", a, v)
		}
		prof.Set(a, e)
	}
	switch p["async"] {
	case "", "false":
	case "true":
		prof.Async = true
	default:
		return prof, fmt.Errorf("param async: %q is not true or false", p["async"])
	}
	return prof, nil
}

func (w *webhook) Profile() verdict.Profile { return w.profile }

// Data is all a template sees: the canary's username and its configured
// attributes. Nothing else (no password, no token, no client secret) is
// reachable from it.
type Data struct {
	Username string
	attrs    *driver.Canary
}

// Attr returns a canary attribute ({{.Attr "mail"}}); a missing one is an
// error, so no request ever names an empty user.
func (d Data) Attr(name string) (string, error) {
	if v := d.attrs.Attr(name); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("canary has no attribute %q", name)
}

// funcs: json quotes a value for a JSON body ({"user":{{json .Username}}}).
var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

func parse(name, text string) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("param %s: %v", name, err)
	}
	return t, nil
}

func render(t *template.Template, c *driver.Canary) (string, error) {
	// A copy that exposes only the username and the attributes.
	view := c.Identity()
	var b bytes.Buffer
	if err := t.Execute(&b, Data{Username: c.Username, attrs: view}); err != nil {
		return "", verdict.Errorf(verdict.ConfigError, "webhook %s template for canary %s: %v", t.Name(), c.Name, err)
	}
	return b.String(), nil
}

func (w *webhook) Revoke(ctx context.Context, env *driver.Env) error {
	if env.URL == "" {
		return verdict.Errorf(verdict.ConfigError, "the webhook driver needs the endpoint's url")
	}
	var authz string
	switch w.auth {
	case "basic":
		if env.Admin == nil {
			return verdict.Errorf(verdict.ConfigError, "auth basic needs the target's admin_client")
		}
		req, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		req.SetBasicAuth(env.Admin.ID, env.Admin.Secret.Reveal())
		authz = req.Header.Get("Authorization")
	case "bearer":
		if env.Endpoints.Token == "" {
			return verdict.Errorf(verdict.ConfigError, "auth bearer needs the target's token endpoint (issuer or urls.token)")
		}
		tok, err := oauth.ClientCredentials(ctx, env.HTTP, env.Endpoints.Token, env.Admin, w.scopes, nil)
		if err != nil {
			return verdict.Errorf(verdict.RevokeUnauthorized, "webhook bearer token for the admin client: %v", err)
		}
		authz = "Bearer " + tok.Reveal()
	}
	for _, c := range env.Canaries {
		var body string
		if w.body != nil {
			var err error
			if body, err = render(w.body, c); err != nil {
				return err
			}
		}
		req, err := http.NewRequestWithContext(ctx, w.method, env.URL, strings.NewReader(body))
		if err != nil {
			return verdict.Errorf(verdict.ConfigError, "webhook: %v", err)
		}
		if w.body != nil {
			req.Header.Set("Content-Type", w.contentType)
		}
		for _, h := range w.headers {
			v, err := render(h.tmpl, c)
			if err != nil {
				return err
			}
			req.Header.Set(h.name, v)
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		env.Sending()
		resp, err := httpx.Do(env.HTTP, req)
		if err != nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "webhook: %v", err)
		}
		if err := w.classify(req, resp); err != nil {
			return err
		}
	}
	return nil
}

// classify: the accepted statuses (default any 2xx) are nil; 401 and 403
// mean the prober's credentials were refused; anything else is an HTTP error.
func (w *webhook) classify(req *http.Request, resp *httpx.Response) error {
	if slices.Contains(w.accept, resp.Status) || (w.accept == nil && resp.Status >= 200 && resp.Status < 300) {
		return nil
	}
	se := &oauth.StatusError{Op: "webhook " + req.Method, URL: httpx.RedactURL(req.URL), Status: resp.Status, Body: resp.Snippet()}
	if resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden {
		return &verdict.Err{Reason: verdict.RevokeUnauthorized, Err: se}
	}
	return &verdict.Err{Reason: verdict.RevokeHTTPError, Err: se}
}

// validToken reports whether s is an RFC 9110 token (method or header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 127 || !(r == '!' || r == '#' || r == '$' || r == '%' || r == '&' || r == '\'' || r == '*' || r == '+' ||
			r == '-' || r == '.' || r == '^' || r == '_' || r == '`' || r == '|' || r == '~' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}
