// Package hydra drives Ory Hydra's admin session revocations.
// Wire facts: docs/wire-facts.md §3 (Hydra rows) and §5.
//
// Kinds:
//   - hydra-consent-revoke: DELETE {admin}/admin/oauth2/auth/sessions/consent?subject=S&all=true
//     (or &client=C) → 204. Deletes the access and refresh tokens of the
//     subject's consents; the login session is separate and untouched.
//   - hydra-login-session-revoke: DELETE {admin}/admin/oauth2/auth/sessions/login?subject=S
//     → 204. Ends the login sessions; "does not invalidate any tokens".
//
// {admin} is the endpoint's url (Hydra's admin port, e.g.
// http://hydra-admin:4445); it is required, as the admin port is not
// published in discovery. Hydra's admin API has no authentication of its
// own: no credentials are sent (put it behind a network policy or a proxy).
//
// Params:
//   - attribute: the canary attribute holding the Hydra subject; default subject.
//   - client (consent revoke only): revoke only this client's consent
//     instead of all=true.
package hydra

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "hydra-consent-revoke",
		Summary: "Hydra DELETE /admin/oauth2/auth/sessions/consent: deletes the subject's access and refresh tokens",
		Params:  []string{"attribute", "client"},
		New:     func(p driver.Params) (driver.Driver, error) { return newDriver(p, true) },
	})
	driver.Register(driver.Info{
		Kind:    "hydra-login-session-revoke",
		Summary: "Hydra DELETE /admin/oauth2/auth/sessions/login: ends the subject's login sessions, no tokens",
		Params:  []string{"attribute"},
		New:     func(p driver.Params) (driver.Driver, error) { return newDriver(p, false) },
	})
}

type revoke struct {
	consent   bool
	attribute string
	client    string
}

func newDriver(p driver.Params, consent bool) (driver.Driver, error) {
	d := &revoke{consent: consent, attribute: p["attribute"], client: p["client"]}
	if d.attribute == "" {
		d.attribute = "subject"
	}
	return d, nil
}

// Profile. Consent revocation deletes the token rows (introspection then
// says inactive, the refresh grant fails); the login session is separate,
// so prompt=none may still find it (answering consent_required instead).
// Login-session revocation ends the sessions and leaves every token alive.
func (d *revoke) Profile() verdict.Profile {
	if d.consent {
		return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Unchecked, Resource: verdict.Unchecked}
	}
	return verdict.Profile{AccessToken: verdict.Survives, RefreshToken: verdict.Survives, Session: verdict.Dies, Resource: verdict.Unchecked}
}

func (d *revoke) Revoke(ctx context.Context, env *driver.Env) error {
	op, path := "hydra login session revocation", "login"
	if d.consent {
		op, path = "hydra consent revocation", "consent"
	}
	admin := strings.TrimSuffix(env.URL, "/")
	if admin == "" {
		return verdict.Errorf(verdict.ConfigError, "%s: set the endpoint's url to Hydra's admin URL (e.g. http://hydra-admin:4445)", op)
	}
	u := wire.Join(admin, "admin", "oauth2", "auth", "sessions", path)
	for _, c := range env.Canaries {
		subject, err := wire.CanaryAttr(op, c, d.attribute)
		if err != nil {
			return err
		}
		q := url.Values{"subject": {subject}}
		if d.consent {
			if d.client != "" {
				q.Set("client", d.client)
			} else {
				q.Set("all", "true")
			}
		}
		env.Sending()
		if _, err := wire.Call(ctx, env.HTTP, wire.Request{Op: op, Method: http.MethodDelete, URL: u + "?" + q.Encode()}, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}
