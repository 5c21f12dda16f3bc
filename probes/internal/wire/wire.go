// Package wire holds what the vendor admin-API drivers share: sending one
// admin request, mapping its answer to a verdict reason, getting an admin
// bearer token, and deriving default URLs.
//
// The rule for every answer: only the statuses the vendor documents as
// "accepted" are nil; 401 and 403 are revoke_unauthorized (the prober's
// admin credentials lack the permission, so the endpoint was not
// exercised); anything else, and any transport error, is revoke_http_error.
// Error texts name the operation, the URL (without its query) and the
// status, never a token.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
)

// Classify maps a revocation answer to nil (accepted) or an error with its
// reason. It is the same mapping as janssen.Classify.
func Classify(op, u string, resp *httpx.Response, accepted ...int) error {
	for _, s := range accepted {
		if resp.Status == s {
			return nil
		}
	}
	se := &oauth.StatusError{Op: op, URL: redact(u), Status: resp.Status, Body: resp.Snippet()}
	switch resp.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return &verdict.Err{Reason: verdict.RevokeUnauthorized, Err: se}
	}
	return &verdict.Err{Reason: verdict.RevokeHTTPError, Err: se}
}

// Request is one admin API call.
type Request struct {
	Op     string // names the call in error text: "keycloak user logout"
	Method string
	URL    string
	Auth   string // the Authorization header value
	// JSON, when not nil, is marshalled as the body with
	// Content-Type: application/json.
	JSON any
}

// Do sends r and returns the bounded answer. A transport error is
// revoke_http_error naming the URL.
func Do(ctx context.Context, c *http.Client, r Request) (*httpx.Response, error) {
	var body *bytes.Reader
	if r.JSON != nil {
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, verdict.Errorf(verdict.InternalError, "%s: encoding the body: %v", r.Op, err)
		}
		body = bytes.NewReader(b)
	}
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	} else {
		req, err = http.NewRequestWithContext(ctx, r.Method, r.URL, nil)
	}
	if err != nil {
		return nil, verdict.Errorf(verdict.ConfigError, "%s: bad URL %s: %v", r.Op, redact(r.URL), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if r.Auth != "" {
		req.Header.Set("Authorization", r.Auth)
	}
	resp, err := httpx.Do(c, req)
	if err != nil {
		return nil, verdict.Errorf(verdict.RevokeHTTPError, "%s: %v", r.Op, err)
	}
	return resp, nil
}

// Call sends r and classifies the answer.
func Call(ctx context.Context, c *http.Client, r Request, accepted ...int) (*httpx.Response, error) {
	resp, err := Do(ctx, c, r)
	if err != nil {
		return nil, err
	}
	return resp, Classify(r.Op, r.URL, resp, accepted...)
}

// Bearer gets an admin access token for env.Admin by the client-credentials
// grant at tokenURL and returns the Authorization header value. The token
// joins the run's secrets (oauth.ClientCredentials registers it), so no
// error text can carry it. A refused or failed token request is
// revoke_unauthorized: the revocation could not be attempted with the
// prober's credentials.
func Bearer(ctx context.Context, env *driver.Env, op, tokenURL string, scopes []string, extra url.Values) (string, error) {
	if tokenURL == "" {
		return "", verdict.Errorf(verdict.ConfigError, "%s: no token endpoint for the admin client (set the target's urls.token or the token_url param)", op)
	}
	if env.Admin == nil {
		return "", verdict.Errorf(verdict.ConfigError, "%s: no admin_client configured", op)
	}
	tok, err := oauth.ClientCredentials(ctx, env.HTTP, tokenURL, env.Admin, scopes, extra)
	if err != nil {
		return "", verdict.Errorf(verdict.RevokeUnauthorized, "%s: admin client token: %v", op, err)
	}
	return "Bearer " + tok.Reveal(), nil
}

// Origin is scheme://host of u, or "" when u is not an absolute URL.
func Origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// Join appends path segments to a base URL, escaping each segment.
func Join(base string, segments ...string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(base, "/"))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// CanaryAttr returns the first non-empty attribute of the canary among
// names, or a config_error naming them.
func CanaryAttr(op string, c *driver.Canary, names ...string) (string, error) {
	for _, n := range names {
		if v := c.Attr(n); v != "" {
			return v, nil
		}
	}
	return "", verdict.Errorf(verdict.ConfigError, "%s: canary %s has no attribute %s", op, c.Name, strings.Join(names, " or "))
}

// redact drops the query of a URL for error text.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<url>"
	}
	return httpx.RedactURL(p)
}
