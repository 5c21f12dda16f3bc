// Package okta drives Okta's user-wide revocations.
// Wire facts: docs/wire-facts.md §3 (Okta rows) and §5.
//
// okta-user-sessions: DELETE {base}/api/v1/users/{id}/sessions?oauthTokens=…
// Params:
//   - oauth_tokens: true (default) or false. Okta's own default is false,
//     which ends the IdP sessions only; revprober defaults to true, the
//     "revoke everything" form. The profile follows the param.
//   - auth: ssws (default): "Authorization: SSWS <API token>", the token
//     being the admin_client's client_secret; or oauth: a bearer from the
//     client-credentials grant with scope okta.users.manage (Okta service
//     apps use private_key_jwt for that grant).
//   - attribute: the canary attribute holding the Okta user id (00u…);
//     default user_id, falling back to the username (Okta accepts the login).
//   - token_url: the token endpoint for auth=oauth; default
//     {base}/oauth2/v1/token (the org authorization server).
//   - scope: the scope requested for auth=oauth; default okta.users.manage.
//
// okta-global-token-revocation: POST {base}/oauth2/v1/global-token-revocation
// with an RFC 9493 subject identifier, {"sub_id":{"format":"opaque","id":"<user id>"}}
// or {"sub_id":{"format":"email","email":"<address>"}}, bearer from the
// client-credentials grant with scope okta.universalLogout.manage; 204.
// Params: attribute, token_url, scope (default okta.universalLogout.manage),
// format: opaque (default, the Okta user id) or email (then the attribute
// defaults to mail). Okta documents opaque; email is RFC 9493's shape.
//
// {base} is the endpoint's url when set (e.g. https://acme.okta.com), else
// the issuer's origin.
package okta

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

func init() {
	driver.Register(driver.Info{
		Kind:    "okta-user-sessions",
		Summary: "Okta DELETE /api/v1/users/{id}/sessions: ends the user's sessions, and its OAuth tokens with oauth_tokens=true",
		Params:  []string{"oauth_tokens", "auth", "attribute", "token_url", "scope"},
		New:     newSessions,
	})
	driver.Register(driver.Info{
		Kind:    "okta-global-token-revocation",
		Summary: "Okta POST /oauth2/v1/global-token-revocation: ends every session and token of the user",
		Params:  []string{"format", "attribute", "token_url", "scope"},
		New:     newGTR,
	})
}

type sessions struct {
	oauthTokens bool
	oauth       bool // bearer instead of SSWS
	attribute   string
	tokenURL    string
	scope       string
}

func newSessions(p driver.Params) (driver.Driver, error) {
	d := &sessions{oauthTokens: true, attribute: p["attribute"], tokenURL: p["token_url"], scope: p["scope"]}
	switch p["oauth_tokens"] {
	case "", "true":
	case "false":
		d.oauthTokens = false
	default:
		return nil, fmt.Errorf("param oauth_tokens: %q is not true or false", p["oauth_tokens"])
	}
	switch p["auth"] {
	case "", "ssws":
		if d.tokenURL != "" || d.scope != "" {
			return nil, fmt.Errorf("params token_url and scope need auth: oauth")
		}
	case "oauth":
		d.oauth = true
	default:
		return nil, fmt.Errorf("param auth: %q is not ssws or oauth", p["auth"])
	}
	if d.attribute == "" {
		d.attribute = "user_id"
	}
	if d.scope == "" {
		d.scope = "okta.users.manage"
	}
	return d, nil
}

// Profile: "Revokes all active identity provider sessions of the user.
// Optionally revokes OpenID Connect and OAuth refresh and access tokens"
// (oauthTokens). Without oauthTokens the tokens survive: finding them dead
// is drift, not a failure.
func (d *sessions) Profile() verdict.Profile {
	tok := verdict.Survives
	if d.oauthTokens {
		tok = verdict.Dies
	}
	return verdict.Profile{AccessToken: tok, RefreshToken: tok, Session: verdict.Dies, Resource: verdict.Unchecked}
}

func (d *sessions) Revoke(ctx context.Context, env *driver.Env) error {
	const op = "okta user sessions delete"
	base, err := baseURL(env, op)
	if err != nil {
		return err
	}
	var auth string
	if d.oauth {
		auth, err = wire.Bearer(ctx, env, op, tokenURL(d.tokenURL, base), []string{d.scope}, nil)
		if err != nil {
			return err
		}
	} else {
		if env.Admin == nil || env.Admin.Secret.IsZero() {
			return verdict.Errorf(verdict.ConfigError, "%s: auth ssws needs the API token as the admin_client's client_secret", op)
		}
		auth = "SSWS " + env.Admin.Secret.Reveal()
	}
	for _, c := range env.Canaries {
		id, err := wire.CanaryAttr(op, c, d.attribute, "username")
		if err != nil {
			return err
		}
		u := wire.Join(base, "api", "v1", "users", id, "sessions") + "?" + url.Values{"oauthTokens": {fmt.Sprint(d.oauthTokens)}}.Encode()
		env.Sending()
		resp, err := wire.Do(ctx, env.HTTP, wire.Request{Op: op, Method: http.MethodDelete, URL: u, Auth: auth})
		if err != nil {
			return err
		}
		if resp.Status == http.StatusNotFound {
			return verdict.Errorf(verdict.RevokeHTTPError, "%s: DELETE %s answered 404: no Okta user %q (%s)", op, strings.Split(u, "?")[0], id, resp.Snippet())
		}
		if err := wire.Classify(op, u, resp, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

type gtr struct {
	format    string
	attribute string
	tokenURL  string
	scope     string
}

func newGTR(p driver.Params) (driver.Driver, error) {
	d := &gtr{format: p["format"], attribute: p["attribute"], tokenURL: p["token_url"], scope: p["scope"]}
	switch d.format {
	case "", "opaque":
		d.format = "opaque"
		if d.attribute == "" {
			d.attribute = "user_id"
		}
	case "email":
		if d.attribute == "" {
			d.attribute = "mail"
		}
	default:
		return nil, fmt.Errorf("param format: %q is not opaque or email", d.format)
	}
	if d.scope == "" {
		d.scope = "okta.universalLogout.manage"
	}
	return d, nil
}

// Profile: "all tokens and sessions" of the user.
func (d *gtr) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Dies, Resource: verdict.Unchecked}
}

func (d *gtr) Revoke(ctx context.Context, env *driver.Env) error {
	const op = "okta global token revocation"
	base, err := baseURL(env, op)
	if err != nil {
		return err
	}
	auth, err := wire.Bearer(ctx, env, op, tokenURL(d.tokenURL, base), []string{d.scope}, nil)
	if err != nil {
		return err
	}
	u := wire.Join(base, "oauth2", "v1", "global-token-revocation")
	for _, c := range env.Canaries {
		id, err := wire.CanaryAttr(op, c, d.attribute)
		if err != nil {
			return err
		}
		body := map[string]any{"sub_id": subID(d.format, id)}
		env.Sending()
		if _, err := wire.Call(ctx, env.HTTP, wire.Request{Op: op, Method: http.MethodPost, URL: u, Auth: auth, JSON: body}, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

// subID is the RFC 9493 subject identifier of the format: the value's
// member is named by the format (§3.2.4 opaque: "id", §3.2.2 email: "email").
func subID(format, value string) map[string]string {
	member := "id"
	if format == "email" {
		member = "email"
	}
	return map[string]string{"format": format, member: value}
}

func baseURL(env *driver.Env, op string) (string, error) {
	if env.URL != "" {
		return strings.TrimSuffix(env.URL, "/"), nil
	}
	if o := wire.Origin(env.Endpoints.Issuer); o != "" {
		return o, nil
	}
	return "", verdict.Errorf(verdict.ConfigError, "%s: no Okta base URL (set the endpoint's url, e.g. https://acme.okta.com)", op)
}

func tokenURL(param, base string) string {
	if param != "" {
		return param
	}
	return base + "/oauth2/v1/token"
}
