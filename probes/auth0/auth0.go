// Package auth0 drives Auth0 Management API revocations.
// Wire facts: docs/wire-facts.md §3 (Auth0 rows) and §5.
//
// Kinds:
//   - auth0-delete-sessions:       DELETE {base}/api/v2/users/{user_id}/sessions → 202
//   - auth0-delete-refresh-tokens: DELETE {base}/api/v2/users/{user_id}/refresh-tokens → 202
//   - auth0-revoke-access:         POST {base}/api/v2/users/{user_id}/revoke-access
//     {"preserve_refresh_tokens":false} → 202
//
// Every call is asynchronous ("eventually consistent"): 202 means
// "accepted", and the profile carries async so a config gives the endpoint
// a long deadline. All three need the Enterprise plan.
//
// Auth0 has no RFC 7662 introspection endpoint: the checks that can see a
// revocation are the refresh grant (refresh token) and, for the session,
// prompt=none. Auth0 access tokens are JWTs no call recalls: the profile
// says access_token Survives, so introspection and userinfo are not
// expected to die (found dead, they report drift).
//
// Params (all kinds):
//   - attribute: the canary attribute holding the Auth0 user_id
//     ("auth0|…"); default user_id.
//   - audience: the Management API audience; default {base}/api/v2/.
//     Auth0's token endpoint refuses a client-credentials request without it.
//   - token_url: default {base}/oauth/token.
//
// {base} is the endpoint's url when set (the tenant, e.g.
// https://acme.eu.auth0.com; a custom domain cannot serve the Management
// API), else the issuer's origin. The admin_client is a machine-to-machine
// application authorised for the Management API with delete:sessions,
// delete:refresh_tokens or update:users.
package auth0

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

type kind int

const (
	deleteSessions kind = iota
	deleteRefreshTokens
	revokeAccess
)

var params = []string{"attribute", "audience", "token_url"}

func init() {
	for _, k := range []struct {
		kind    kind
		name    string
		summary string
	}{
		{deleteSessions, "auth0-delete-sessions", "Auth0 DELETE /api/v2/users/{id}/sessions: ends the user's sessions, asynchronously"},
		{deleteRefreshTokens, "auth0-delete-refresh-tokens", "Auth0 DELETE /api/v2/users/{id}/refresh-tokens: revokes the user's refresh tokens, asynchronously"},
		{revokeAccess, "auth0-revoke-access", "Auth0 POST /api/v2/users/{id}/revoke-access: ends the user's sessions and refresh tokens, asynchronously"},
	} {
		driver.Register(driver.Info{Kind: k.name, Summary: k.summary, Params: params, Doc: "docs/drivers-vendors.md#auth0",
			New: func(p driver.Params) (driver.Driver, error) { return newDriver(p, k.kind) }})
	}
}

type mgmt struct {
	kind      kind
	attribute string
	audience  string
	tokenURL  string
}

func newDriver(p driver.Params, k kind) (driver.Driver, error) {
	d := &mgmt{kind: k, attribute: p["attribute"], audience: p["audience"], tokenURL: p["token_url"]}
	if d.attribute == "" {
		d.attribute = "user_id"
	}
	for _, name := range []string{"audience", "token_url"} {
		if v := p[name]; v != "" {
			if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
				return nil, fmt.Errorf("param %s: %q is not an absolute URL", name, v)
			}
		}
	}
	return d, nil
}

// Profile per docs/wire-facts.md §3/§5: sessions delete ends sessions only
// ("refresh tokens can remain active after a session has been deleted");
// refresh-tokens delete kills refresh tokens only; revoke-access both.
// No call recalls an issued JWT access token.
func (d *mgmt) Profile() verdict.Profile {
	p := verdict.Profile{AccessToken: verdict.Survives, RefreshToken: verdict.Survives, Session: verdict.Dies,
		Resource: verdict.Unchecked, Async: true}
	switch d.kind {
	case deleteRefreshTokens:
		p.RefreshToken, p.Session = verdict.Dies, verdict.Unchecked
	case revokeAccess:
		p.RefreshToken = verdict.Dies
	}
	return p
}

func (d *mgmt) op() string {
	switch d.kind {
	case deleteRefreshTokens:
		return "auth0 refresh-tokens delete"
	case revokeAccess:
		return "auth0 revoke-access"
	}
	return "auth0 sessions delete"
}

func (d *mgmt) Revoke(ctx context.Context, env *driver.Env) error {
	op := d.op()
	base := strings.TrimSuffix(env.URL, "/")
	if base == "" {
		base = wire.Origin(env.Endpoints.Issuer)
	}
	if base == "" {
		return verdict.Errorf(verdict.ConfigError, "%s: no Auth0 tenant URL (set the endpoint's url, e.g. https://acme.eu.auth0.com)", op)
	}
	audience, tokenURL := d.audience, d.tokenURL
	if audience == "" {
		audience = base + "/api/v2/"
	}
	if tokenURL == "" {
		tokenURL = base + "/oauth/token"
	}
	auth, err := wire.Bearer(ctx, env, op, tokenURL, nil, url.Values{"audience": {audience}})
	if err != nil {
		return err
	}
	for _, c := range env.Canaries {
		id, err := wire.CanaryAttr(op, c, d.attribute)
		if err != nil {
			return err
		}
		r := wire.Request{Op: op, Auth: auth}
		switch d.kind {
		case deleteSessions:
			r.Method, r.URL = http.MethodDelete, wire.Join(base, "api", "v2", "users", id, "sessions")
		case deleteRefreshTokens:
			r.Method, r.URL = http.MethodDelete, wire.Join(base, "api", "v2", "users", id, "refresh-tokens")
		case revokeAccess:
			r.Method, r.URL = http.MethodPost, wire.Join(base, "api", "v2", "users", id, "revoke-access")
			r.JSON = map[string]any{"preserve_refresh_tokens": false}
		}
		env.Sending()
		resp, err := wire.Do(ctx, env.HTTP, r)
		if err != nil {
			return err
		}
		if resp.Status == http.StatusNotFound {
			return verdict.Errorf(verdict.RevokeHTTPError, "%s: %s %s answered 404: no Auth0 user %q (%s)", op, r.Method, r.URL, id, resp.Snippet())
		}
		if err := wire.Classify(op, r.URL, resp, http.StatusAccepted); err != nil {
			return err
		}
	}
	return nil
}
