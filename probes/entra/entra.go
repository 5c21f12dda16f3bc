// Package entra drives Microsoft Entra ID's revokeSignInSessions.
// Wire facts: docs/wire-facts.md §3 (Entra row) and §5.
//
// entra-revoke-signin-sessions: POST {graph}/v1.0/users/{id|upn}/revokeSignInSessions,
// no body, bearer from the client-credentials grant of the admin_client
// (application permission User.RevokeSessions.All). Success is exactly 200
// {"@odata.context":"…","value":true}; any other answer, value:false
// included, is an error.
//
// Params:
//   - attribute: the canary attribute holding the user's object id or
//     UPN; default user_id, falling back to the username (the UPN).
//   - token_url: the admin token endpoint; default the target's token
//     endpoint (https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token).
//   - scope: default https://graph.microsoft.com/.default.
//
// {graph} is the endpoint's url when set (a national cloud:
// https://graph.microsoft.us), else https://graph.microsoft.com.
//
// Entra has no introspection endpoint for its tokens: the refresh grant
// and prompt=none are the checks that see this revocation. The access
// token lives until exp, so userinfo (and Graph) keep answering 200.
package entra

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

// DefaultGraph is the global Microsoft Graph service.
const DefaultGraph = "https://graph.microsoft.com"

func init() {
	driver.Register(driver.Info{
		Kind:    "entra-revoke-signin-sessions",
		Summary: "Entra (Graph) POST /users/{id}/revokeSignInSessions: invalidates refresh tokens and session cookies, within minutes",
		Params:  []string{"attribute", "token_url", "scope"},
		New:     newDriver,
		Doc:     "docs/drivers-vendors.md#microsoft-entra-id",
	})
}

type revoke struct {
	attribute string
	tokenURL  string
	scope     string
}

func newDriver(p driver.Params) (driver.Driver, error) {
	d := &revoke{attribute: p["attribute"], tokenURL: p["token_url"], scope: p["scope"]}
	if d.attribute == "" {
		d.attribute = "user_id"
	}
	if d.scope == "" {
		d.scope = "https://graph.microsoft.com/.default"
	}
	return d, nil
}

// Profile: "Invalidates all the refresh tokens issued to applications for a
// user (and session cookies in a user's browser)"; "there might be a small
// delay of a few minutes before tokens are revoked". Access tokens are not
// recalled (CAE-capable resources aside).
func (d *revoke) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Survives, RefreshToken: verdict.Dies, Session: verdict.Dies,
		Resource: verdict.Unchecked, Async: true}
}

func (d *revoke) Revoke(ctx context.Context, env *driver.Env) error {
	const op = "entra revokeSignInSessions"
	graph := strings.TrimSuffix(env.URL, "/")
	if graph == "" {
		graph = DefaultGraph
	}
	tokenURL := d.tokenURL
	if tokenURL == "" {
		tokenURL = env.Endpoints.Token
	}
	auth, err := wire.Bearer(ctx, env, op, tokenURL, []string{d.scope}, nil)
	if err != nil {
		return err
	}
	for _, c := range env.Canaries {
		id, err := wire.CanaryAttr(op, c, d.attribute, "username")
		if err != nil {
			return err
		}
		u := wire.Join(graph, "v1.0", "users", id, "revokeSignInSessions")
		env.Sending()
		resp, err := wire.Do(ctx, env.HTTP, wire.Request{Op: op, Method: http.MethodPost, URL: u, Auth: auth})
		if err != nil {
			return err
		}
		if resp.Status == http.StatusNotFound {
			return verdict.Errorf(verdict.RevokeHTTPError, "%s: POST %s answered 404: no Entra user %q (%s)", op, u, id, resp.Snippet())
		}
		if err := wire.Classify(op, u, resp, http.StatusOK); err != nil {
			return err
		}
		var body struct {
			Value *bool `json:"value"`
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil || body.Value == nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "%s: POST %s answered 200 without a boolean \"value\": %s", op, u, resp.Snippet())
		}
		if !*body.Value {
			return verdict.Errorf(verdict.RevokeHTTPError, "%s: POST %s answered 200 with value:false: Graph did not revoke the sessions", op, u)
		}
	}
	return nil
}
