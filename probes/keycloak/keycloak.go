// Package keycloak drives Keycloak's admin REST API revocations.
// Wire facts: docs/wire-facts.md §3 (Keycloak rows) and §5.
//
// Both kinds authenticate with an admin bearer token from the
// client-credentials grant of the target's admin_client (a confidential
// client with a service account holding realm-management manage-users).
//
// Params (both kinds):
//   - base: the admin base URL, e.g. https://sso.example.com (Keycloak
//     ≥ 17) or https://sso.example.com/auth (older). The endpoint's url,
//     when set, wins. Default: the issuer with its /realms/… suffix cut
//     off, else the issuer's origin.
//   - realm: the realm of the canary. Default: the realm named in the
//     issuer (…/realms/{realm}).
//   - admin_realm: when set, the admin token comes from
//     {base}/realms/{admin_realm}/protocol/openid-connect/token (e.g.
//     master); default: the target's token endpoint (the canary's realm).
//
// keycloak-offline-consent also takes:
//   - client_id: the clientId whose consent and offline tokens are revoked;
//     default: the login client's id.
//
// The user id comes from the canary attribute user_id; without it the
// driver looks the canary's username up with
// GET {base}/admin/realms/{realm}/users?username=X&exact=true.
package keycloak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "keycloak-user-logout",
		Summary: "Keycloak POST /admin/realms/{realm}/users/{id}/logout: ends the user's online sessions and their tokens",
		Params:  []string{"base", "realm", "admin_realm"},
		New:     func(p driver.Params) (driver.Driver, error) { return newDriver(p, false) },
		Doc:     "docs/drivers-vendors.md#keycloak",
		// Offline sessions are a separate stream the logout does not touch
		// (docs/wire-facts.md §3).
		KeepsOfflineTokens: true,
	})
	driver.Register(driver.Info{
		Kind:    "keycloak-offline-consent",
		Summary: "Keycloak DELETE /admin/realms/{realm}/users/{id}/consents/{clientId}: revokes the client's consent and offline tokens",
		Params:  []string{"base", "realm", "admin_realm", "client_id"},
		New:     func(p driver.Params) (driver.Driver, error) { return newDriver(p, true) },
	})
}

type kc struct {
	consent    bool
	base       string
	realm      string
	adminRealm string
	clientID   string
}

func newDriver(p driver.Params, consent bool) (driver.Driver, error) {
	d := &kc{consent: consent, base: strings.TrimSuffix(p["base"], "/"), realm: p["realm"],
		adminRealm: p["admin_realm"], clientID: p["client_id"]}
	if d.base != "" {
		if u, err := url.Parse(d.base); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("param base: %q is not an absolute URL", d.base)
		}
	}
	return d, nil
}

// Profile. User logout ends every online user session with a back-channel
// logout: Keycloak introspection checks the session, so the access token is
// active:false there (a resource validating the JWT locally still accepts
// it until exp: Resource is not promised), and the online refresh token is
// bound to the session. Offline tokens are a separate session: a canary
// that logs in with offline_access gets an offline refresh token that this
// endpoint is not documented to kill (version-dependent: keycloak#31359).
//
// User logout also sends back-channel logout to the RPs of the ended
// sessions (docs/wire-facts.md §4): BackchannelLogout.
//
// Consent revocation kills the client's offline tokens; it promises nothing
// about the online session or the access token.
func (d *kc) Profile() verdict.Profile {
	if d.consent {
		return verdict.Profile{RefreshToken: verdict.Dies, AccessToken: verdict.Unchecked, Session: verdict.Unchecked, Resource: verdict.Unchecked}
	}
	return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Dies, Resource: verdict.Unchecked,
		BackchannelLogout: true}
}

// Revoke's error may quote the user id a lookup found: it is scrubbed.
func (d *kc) Revoke(ctx context.Context, env *driver.Env) error {
	return httpx.ScrubError(ctx, d.revoke(ctx, env))
}

func (d *kc) revoke(ctx context.Context, env *driver.Env) error {
	op := "keycloak user logout"
	if d.consent {
		op = "keycloak consent revocation"
	}
	base, realm, err := d.locate(env)
	if err != nil {
		return err
	}
	tokenURL := env.Endpoints.Token
	if d.adminRealm != "" {
		tokenURL = wire.Join(base, "realms", d.adminRealm, "protocol", "openid-connect", "token")
	}
	auth, err := wire.Bearer(ctx, env, op, tokenURL, nil, nil)
	if err != nil {
		return err
	}
	users := wire.Join(base, "admin", "realms", realm, "users")
	for _, c := range env.Canaries {
		id, err := d.userID(ctx, env, op, users, auth, c)
		if err != nil {
			return err
		}
		if !d.consent {
			u := wire.Join(users, id, "logout")
			env.Sending()
			resp, err := wire.Do(ctx, env.HTTP, wire.Request{Op: op, Method: http.MethodPost, URL: u, Auth: auth})
			if err != nil {
				return err
			}
			if resp.Status == http.StatusNotFound {
				return verdict.Errorf(verdict.RevokeHTTPError, "%s: POST %s answered 404: user %q not found in realm %s (%s)", op, u, id, realm, resp.Snippet())
			}
			if err := wire.Classify(op, u, resp, http.StatusNoContent); err != nil {
				return err
			}
			continue
		}
		client := d.clientID
		if client == "" && env.LoginClient != nil {
			client = env.LoginClient.ID
		}
		if client == "" {
			return verdict.Errorf(verdict.ConfigError, "%s: no client_id param and no login client", op)
		}
		u := wire.Join(users, id, "consents", client)
		env.Sending()
		resp, err := wire.Do(ctx, env.HTTP, wire.Request{Op: op, Method: http.MethodDelete, URL: u, Auth: auth})
		if err != nil {
			return err
		}
		if resp.Status == http.StatusNotFound {
			// "Consent nor offline token not found": the canary holds no
			// offline token of that client (did it log in with offline_access?).
			return verdict.Errorf(verdict.NoSession, "%s: DELETE %s answered 404: canary %s has no consent or offline token of client %s (%s)", op, u, c.Name, client, resp.Snippet())
		}
		if err := wire.Classify(op, u, resp, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

// locate finds the admin base URL and the realm.
func (d *kc) locate(env *driver.Env) (base, realm string, err error) {
	base, realm = strings.TrimSuffix(env.URL, "/"), d.realm
	iss := strings.TrimSuffix(env.Endpoints.Issuer, "/")
	issBase, issRealm, hasRealm := strings.Cut(iss, "/realms/")
	if base == "" {
		base = d.base
	}
	if base == "" {
		if hasRealm {
			base = issBase
		} else {
			base = wire.Origin(iss)
		}
	}
	if realm == "" && hasRealm {
		realm, _, _ = strings.Cut(issRealm, "/")
	}
	if base == "" {
		return "", "", verdict.Errorf(verdict.ConfigError, "keycloak: no admin base URL (set the endpoint's url or the base param)")
	}
	if realm == "" {
		return "", "", verdict.Errorf(verdict.ConfigError, "keycloak: no realm (set the realm param; the issuer names none)")
	}
	return base, realm, nil
}

// userID is the canary's user_id attribute, or the id found by an exact
// username search.
func (d *kc) userID(ctx context.Context, env *driver.Env, op, users, auth string, c *driver.Canary) (string, error) {
	if id := c.Attributes["user_id"]; id != "" {
		return id, nil
	}
	q := url.Values{"username": {c.Username}, "exact": {"true"}}
	u := users + "?" + q.Encode()
	resp, err := wire.Call(ctx, env.HTTP, wire.Request{Op: op + ": user lookup", Method: http.MethodGet, URL: u, Auth: auth}, http.StatusOK)
	if err != nil {
		return "", err
	}
	var found []struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	if err := json.Unmarshal(resp.Body, &found); err != nil {
		return "", verdict.Errorf(verdict.RevokeHTTPError, "%s: user lookup at %s: answer is not a JSON list of users", op, users)
	}
	for _, f := range found {
		if strings.EqualFold(f.Username, c.Username) && f.ID != "" {
			return f.ID, nil
		}
	}
	return "", verdict.Errorf(verdict.RevokeHTTPError, "%s: user lookup at %s found no user %q in the realm (set the canary's user_id attribute?)", op, users, c.Username)
}
