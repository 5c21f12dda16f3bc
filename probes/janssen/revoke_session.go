package janssen

import (
	"context"
	"net/http"
	"net/url"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "janssen-revoke-session",
		Summary: "Janssen POST /revoke_session (legacy, deprecated 2025): kills the user's authenticated sessions, no token",
		Params:  []string{"key", "attribute"},
		New:     newRevokeSession,
	})
}

// revokeSession is POST /restv1/revoke_session with the form
// user_criterion_key=<user attribute>&user_criterion_value=<value> (§1.3).
type revokeSession struct {
	key       string // the Janssen user attribute: uid, mail, inum… (an attribute name: "email" matches nobody)
	attribute string // the canary attribute holding its value
}

func newRevokeSession(p driver.Params) (driver.Driver, error) {
	r := &revokeSession{key: p["key"], attribute: p["attribute"]}
	if r.key == "" {
		r.key = "uid"
	}
	if r.attribute == "" {
		r.attribute = r.key
	}
	return r, nil
}

// Profile: the endpoint removes the user's AUTHENTICATED session entries
// and nothing else; access and refresh tokens stay valid (§0.1, §1.3), so
// a resource called with the access token keeps answering. A token found
// dead is drift: the server does more than this endpoint ever did.
func (r *revokeSession) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Survives, RefreshToken: verdict.Survives, Session: verdict.Dies, Resource: verdict.Survives}
}

func (r *revokeSession) Revoke(ctx context.Context, env *driver.Env) error {
	u := env.URL
	if u == "" {
		u = env.Endpoints.SessionRevocation
	}
	if u == "" {
		return verdict.Errorf(verdict.EndpointNotOffered, "the issuer publishes no session_revocation_endpoint (REVOKE_SESSION disabled, or removed in current Janssen) and no url is configured")
	}
	for _, c := range env.Canaries {
		v := c.Attr(r.attribute)
		if v == "" {
			return verdict.Errorf(verdict.ConfigError, "canary %s has no attribute %q for user_criterion_value", c.Name, r.attribute)
		}
		form := url.Values{"user_criterion_key": {r.key}, "user_criterion_value": {v}}
		// Any client authentication of §1.2 works here (form body): the
		// admin client's own method.
		env.Sending()
		resp, err := oauth.PostForm(ctx, env.HTTP, u, env.Admin, form)
		if err != nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "revoke_session: %v", err)
		}
		if resp.Status == http.StatusNotFound {
			// Newer Janssen removed the endpoint (§6): nothing to probe.
			return verdict.Errorf(verdict.EndpointNotOffered, "revoke_session at %s answered 404: the endpoint is not deployed", u)
		}
		if err := wire.Classify("revoke_session", u, resp, http.StatusOK, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}
