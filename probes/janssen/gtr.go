// Package janssen drives Janssen Server's user-wide revocation endpoints.
// Wire facts: docs/wire-facts.md §1.
package janssen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/verdict"
	"github.com/revprober/revprober/probes/internal/wire"
)

func init() {
	driver.Register(driver.Info{
		Kind:    "janssen-global-token-revocation",
		Summary: "Janssen POST /global-token-revocation: kills every session and token of the user",
		Params:  []string{"format", "attribute"},
		New:     newGTR,
	})
}

// gtr is POST /restv1/global-token-revocation with
// {"sub_id":{"format":"<user attribute>","id":"<value>"}} (§1.4).
type gtr struct {
	format    string // the Janssen user attribute: uid, mail, inum… (an attribute name: "email" matches nobody)
	attribute string // the canary attribute holding its value
}

func newGTR(p driver.Params) (driver.Driver, error) {
	g := &gtr{format: p["format"], attribute: p["attribute"]}
	if g.format == "" {
		g.format = "uid"
	}
	if g.attribute == "" {
		g.attribute = g.format
	}
	return g, nil
}

// Profile: the endpoint deletes all the user's sessions and every token
// entry of the user (§1.4 "Effect"). It sends no back-channel logout
// (§1.4, §4): BackchannelLogout stays false, so relying parties are not
// expected to be told.
func (g *gtr) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Dies, Resource: verdict.Dies}
}

func (g *gtr) Revoke(ctx context.Context, env *driver.Env) error {
	u := env.URL
	if u == "" {
		u = env.Endpoints.GlobalTokenRevocation
	}
	if u == "" {
		return verdict.Errorf(verdict.EndpointNotOffered, "the issuer publishes no global_token_revocation_endpoint (feature disabled?) and no url is configured")
	}
	auth, err := authHeader(ctx, env)
	if err != nil {
		return err
	}
	for _, c := range env.Canaries {
		id := c.Attr(g.attribute)
		if id == "" {
			return verdict.Errorf(verdict.ConfigError, "canary %s has no attribute %q for sub_id", c.Name, g.attribute)
		}
		body, _ := json.Marshal(map[string]any{"sub_id": map[string]string{"format": g.format, "id": id}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return verdict.Errorf(verdict.ConfigError, "global token revocation: %v", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		env.Sending()
		resp, err := httpx.Do(env.HTTP, req)
		if err != nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "global token revocation: %v", err)
		}
		if err := wire.Classify("global token revocation", u, resp, http.StatusNoContent, http.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

// authHeader authenticates as the prober's client. The endpoint takes a
// JSON body, so form-parameter methods cannot work (§1.2): Basic when the
// client uses it, otherwise a Bearer token from the client-credentials grant.
func authHeader(ctx context.Context, env *driver.Env) (string, error) {
	a := env.Admin
	if a.Method == "" || a.Method == "client_secret_basic" {
		req, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		_ = a.Apply(req, nil, "")
		return req.Header.Get("Authorization"), nil
	}
	tok, err := oauth.ClientCredentials(ctx, env.HTTP, env.Endpoints.Token, a, nil, nil)
	if err != nil {
		return "", verdict.Errorf(verdict.RevokeUnauthorized, "admin client token: %v", err)
	}
	return "Bearer " + tok.Reveal(), nil
}
