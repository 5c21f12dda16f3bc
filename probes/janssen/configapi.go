package janssen

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "janssen-config-api-session",
		Summary: "Janssen config-api DELETE …/session/user/{userDn} (Terraform jans_session_revocation): kills the user's sessions and their access tokens",
		Params:  []string{"attribute", "scope"},
		New:     newConfigAPISession,
	})
}

// configAPIPath is the config-api per-user session delete (§1.5); the
// user's DN is appended.
const configAPIPath = "/jans-config-api/api/v1/jans-auth-server/session/user/"

// configAPIScopes are what the Terraform provider requests ("requires both
// scopes"): whether the config-api needs all or any is unconfirmed (§1.5).
var configAPIScopes = []string{"revoke_session", "https://jans.io/oauth/jans-auth-server/session.delete"}

// configAPISession is DELETE {origin}/jans-config-api/…/session/user/{userDn}
// with a Bearer token of the admin client's client-credentials grant.
type configAPISession struct {
	attribute string   // the canary attribute holding the user's DN
	scopes    []string // requested for the Bearer token
}

func newConfigAPISession(p driver.Params) (driver.Driver, error) {
	c := &configAPISession{attribute: p["attribute"], scopes: strings.Fields(p["scope"])}
	if c.attribute == "" {
		c.attribute = "user_dn"
	}
	if len(c.scopes) == 0 {
		c.scopes = configAPIScopes
	}
	return c, nil
}

// Profile: the call removes the user's AUTHENTICATED sessions and, for
// each, the session's access and id tokens; refresh tokens survive (§0.6,
// §1.5), and so does anything not bound to a session. A canary that logs in
// with the password grant (ROPC) has no session at all: the call answers
// 404 and the run is an error (no_session), which is the truth. Use
// login.method: authorization_code with this driver.
func (c *configAPISession) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Survives, Session: verdict.Dies, Resource: verdict.Dies}
}

func (c *configAPISession) Revoke(ctx context.Context, env *driver.Env) error {
	base := env.URL
	if base == "" {
		origin, err := originOf(env.Endpoints.Issuer)
		if err != nil {
			return verdict.Errorf(verdict.ConfigError, "config-api session delete: no url configured and %v", err)
		}
		base = origin + configAPIPath
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	tok, err := oauth.ClientCredentials(ctx, env.HTTP, env.Endpoints.Token, env.Admin, c.scopes, nil)
	if err != nil {
		return verdict.Errorf(verdict.RevokeUnauthorized, "config-api token for the admin client: %v", err)
	}
	for _, cn := range env.Canaries {
		dn := cn.Attr(c.attribute)
		if dn == "" {
			return verdict.Errorf(verdict.ConfigError, "canary %s has no attribute %q (the user's DN)", cn.Name, c.attribute)
		}
		// Terraform concatenates the DN raw; escaping it keeps a DN with
		// '/' or '?' in one path segment, and JAX-RS decodes it.
		u := base + url.PathEscape(dn)
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
		if err != nil {
			return verdict.Errorf(verdict.ConfigError, "config-api session delete: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
		req.Header.Set("Accept", "application/json")
		env.Sending()
		resp, err := httpx.Do(env.HTTP, req)
		if err != nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "config-api session delete: %v", err)
		}
		if resp.Status == http.StatusNotFound {
			// "No authenticated session exists for user …": nothing was
			// revoked, so nothing can be verified. Not a pass.
			return verdict.Errorf(verdict.NoSession, "config-api session delete at %s answered 404: canary %s has no authenticated session (a password login creates none; use login.method: authorization_code)", httpx.RedactURL(req.URL), cn.Name)
		}
		// 200 is what the code returns, 204 what the API documents.
		if err := wire.Classify("config-api session delete", httpx.RedactURL(req.URL), resp, http.StatusOK, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

// originOf is scheme://host of the issuer.
func originOf(issuer string) (string, error) {
	if issuer == "" {
		return "", errNoIssuer
	}
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errNoIssuer
	}
	return u.Scheme + "://" + u.Host, nil
}

var errNoIssuer = errors.New("the target has no issuer URL to derive the config-api origin from")
