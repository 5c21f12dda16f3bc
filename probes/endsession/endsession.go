// Package endsession drives OpenID Connect RP-Initiated Logout 1.0: the
// browser logout at the issuer's end_session_endpoint. Wire facts:
// docs/wire-facts.md §4 and §1.8.
package endsession

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "end-session",
		Summary: "OpenID RP-initiated logout at end_session_endpoint with id_token_hint and the canary's session cookie: kills the OP session",
		Params:  []string{"method", "post_logout_redirect_uri", "client_id"},
		New:     newEndSession,
	})
}

type endSession struct {
	method     string // GET (a browser redirect) or POST (a form post)
	postLogout string // post_logout_redirect_uri, sent when set (must be registered)
	sendClient bool   // send client_id (the login client's)
}

func newEndSession(p driver.Params) (driver.Driver, error) {
	e := &endSession{method: strings.ToUpper(p["method"]), postLogout: p["post_logout_redirect_uri"], sendClient: true}
	switch e.method {
	case "":
		e.method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		return nil, fmt.Errorf("param method: %q is not GET or POST", p["method"])
	}
	switch p["client_id"] {
	case "", "true":
	case "false":
		e.sendClient = false
	default:
		return nil, fmt.Errorf("param client_id: %q is not true or false", p["client_id"])
	}
	return e, nil
}

// Profile is informational: RP-initiated logout ends the OP session and has
// no token duty (§4). Janssen's end_session does remove the session's
// tokens (§1.8); an operator who relies on that says so with
// expect: {access_token: dies, refresh_token: dies}.
//
// An OP that supports Back-Channel Logout 1.0 notifies, on logout, every
// RP with a registered backchannel_logout_uri (Janssen's end_session does):
// BackchannelLogout is set, and the check runs when revprober serves that
// URI (login.backchannel_logout_uri).
func (e *endSession) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Unchecked, RefreshToken: verdict.Unchecked, Session: verdict.Dies, Resource: verdict.Unchecked,
		BackchannelLogout: true}
}

func (e *endSession) Revoke(ctx context.Context, env *driver.Env) error {
	u := env.URL
	if u == "" {
		u = env.Endpoints.EndSession
	}
	if u == "" {
		return verdict.Errorf(verdict.EndpointNotOffered, "the issuer publishes no end_session_endpoint and no url is configured")
	}
	endpoint, err := url.Parse(u)
	if err != nil {
		return verdict.Errorf(verdict.ConfigError, "end_session url: %v", err)
	}
	for _, c := range env.Canaries {
		if c.Jar == nil && c.Tokens.IDToken.IsZero() {
			return verdict.Errorf(verdict.NoSession, "canary %s has neither a session cookie nor an id token: RP-initiated logout needs a session-creating login (login.method: authorization_code)", c.Name)
		}
		q := url.Values{}
		if !c.Tokens.IDToken.IsZero() {
			q.Set("id_token_hint", c.Tokens.IDToken.Reveal())
		}
		if e.sendClient && env.LoginClient != nil {
			q.Set("client_id", env.LoginClient.ID)
		}
		if e.postLogout != "" {
			q.Set("post_logout_redirect_uri", e.postLogout)
			q.Set("state", oauth.RandomString(12))
		}
		var req *http.Request
		if e.method == http.MethodPost {
			body := q.Encode()
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
			}
		} else {
			eu := *endpoint
			eq := eu.Query()
			for k, v := range q {
				eq[k] = v
			}
			eu.RawQuery = eq.Encode()
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, eu.String(), nil)
		}
		if err != nil {
			return verdict.Errorf(verdict.ConfigError, "end_session: %v", err)
		}
		// The session cookie goes on the request by hand, and the answer's
		// Set-Cookie (the OP clearing it) is not applied to the canary's
		// jar: the session checks must replay the OLD cookie, the way a
		// thief would. A browser that merely forgot its cookie proves
		// nothing about the server-side session.
		if c.Jar != nil {
			for _, ck := range c.Jar.Cookies(endpoint) {
				req.AddCookie(ck)
			}
		}
		env.Sending()
		resp, err := httpx.Do(env.HTTP, req)
		if err != nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "end_session: %v", err)
		}
		if err := classify(ctx, endpoint, resp); err != nil {
			return err
		}
		// Some OPs (oidc-provider) answer with a "sign out?" page; the
		// logout happens only when its form is submitted.
		if resp.Status == http.StatusOK {
			if err := confirm(ctx, env, req, resp); err != nil {
				return err
			}
		}
	}
	return nil
}

// confirm submits a logout confirmation form with the same cookies, on
// the end-session endpoint's host only.
func confirm(ctx context.Context, env *driver.Env, prev *http.Request, resp *httpx.Response) error {
	action, method, values, ok := oauth.ConfirmForm(resp.Body)
	if !ok {
		return nil // a plain "you are signed out" page
	}
	u, err := prev.URL.Parse(action)
	if err != nil || u.Host != prev.URL.Host {
		return verdict.Errorf(verdict.RevokeHTTPError, "end_session: the confirmation form posts to another host or a bad URL")
	}
	var req *http.Request
	if strings.EqualFold(method, "get") {
		u.RawQuery = values.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(values.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return verdict.Errorf(verdict.ConfigError, "end_session confirmation: %v", err)
	}
	for _, ck := range prev.Cookies() {
		req.AddCookie(ck)
	}
	r2, err := httpx.Do(env.HTTP, req)
	if err != nil {
		return verdict.Errorf(verdict.RevokeHTTPError, "end_session confirmation: %v", err)
	}
	return classify(ctx, u, r2)
}

// classify: a redirect (to post_logout_redirect_uri or a logout page) or a
// logout page is accepted. Janssen's "session_not_passed" 400 means the OP
// found no session to end. The URL may come from the OP's own page (a
// confirmation form's action), whose path can echo the id_token_hint: it
// is scrubbed of the run's secrets like a quoted body.
func classify(ctx context.Context, u *url.URL, resp *httpx.Response) error {
	switch resp.Status {
	case http.StatusOK, http.StatusNoContent, http.StatusFound, http.StatusSeeOther:
		return nil
	}
	se := &oauth.StatusError{Op: "end_session", URL: httpx.Scrub(ctx, httpx.RedactURL(u)), Status: resp.Status, Body: resp.Snippet()}
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		return &verdict.Err{Reason: verdict.RevokeUnauthorized, Err: se}
	case resp.Status == http.StatusBadRequest && strings.Contains(string(resp.Body), "session_not_passed"):
		return &verdict.Err{Reason: verdict.NoSession, Err: se}
	}
	return &verdict.Err{Reason: verdict.RevokeHTTPError, Err: se}
}
