// Package rfc7009 revokes a canary's token through an RFC 7009 revocation
// endpoint. RFC 7009 answers 200 even for tokens it does not know, so the
// engine's verification is what proves anything.
package rfc7009

import (
	"context"
	"fmt"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "rfc7009",
		Summary: "RFC 7009 POST /revoke of the canary's refresh or access token",
		Params:  []string{"token", "hint", "client"},
		New:     newRevoke,
	})
}

type revoke struct {
	token  string // which token: refresh_token or access_token
	hint   string // token_type_hint sent ("" = none)
	client string // "login" (the token's own client) or "admin"
}

func newRevoke(p driver.Params) (driver.Driver, error) {
	r := &revoke{token: p["token"], hint: p["hint"], client: p["client"]}
	if r.token == "" {
		r.token = "refresh_token"
	}
	if r.token != "refresh_token" && r.token != "access_token" {
		return nil, fmt.Errorf("param token: %q is not refresh_token or access_token", r.token)
	}
	switch r.hint {
	case "":
		r.hint = r.token
	case "none":
		r.hint = ""
	case "access_token", "refresh_token":
	default:
		return nil, fmt.Errorf("param hint: %q is not access_token, refresh_token or none", r.hint)
	}
	switch r.client {
	case "":
		r.client = "login"
	case "login", "admin":
	default:
		return nil, fmt.Errorf("param client: %q is not login or admin", r.client)
	}
	return r, nil
}

// Profile (RFC 7009 §2.1): revoking a refresh token SHOULD also kill the
// access tokens of its grant; revoking an access token MAY kill the
// refresh token, so that is not promised. Sessions are not in scope.
// Whatever the hint, the named token must die: §2.1 says the server MUST
// extend its search when the hint is wrong.
func (r *revoke) Profile() verdict.Profile {
	p := verdict.Profile{AccessToken: verdict.Dies, Session: verdict.Unchecked, Resource: verdict.Dies, RefreshToken: verdict.Unchecked}
	if r.token == "refresh_token" {
		p.RefreshToken = verdict.Dies
	}
	return p
}

func (r *revoke) Revoke(ctx context.Context, env *driver.Env) error {
	u := env.URL
	if u == "" {
		u = env.Endpoints.Revocation
	}
	if u == "" {
		return verdict.Errorf(verdict.EndpointNotOffered, "the issuer publishes no revocation_endpoint and no url is configured")
	}
	client := env.LoginClient
	if r.client == "admin" {
		client = env.Admin
	}
	// Every grant the checks observe: revoking only the main grant's
	// refresh token would leave the refresh check's own grant alive.
	for _, c := range env.Canaries {
		for _, g := range c.Grants {
			tok := g.RefreshToken
			if r.token == "access_token" {
				tok = g.AccessToken
			}
			if tok.IsZero() {
				return verdict.Errorf(verdict.PositiveControlFailed, "canary %s has no %s to revoke", c.Name, r.token)
			}
			env.Sending()
			if err := oauth.RevokeToken(ctx, env.HTTP, u, client, tok, r.hint); err != nil {
				if se, ok := err.(*oauth.StatusError); ok && (se.Status == 401 || se.Status == 403) {
					return &verdict.Err{Reason: verdict.RevokeUnauthorized, Err: err}
				}
				return &verdict.Err{Reason: verdict.RevokeHTTPError, Err: err}
			}
		}
	}
	return nil
}
