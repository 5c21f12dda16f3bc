// Package scim drives a SCIM 2.0 deactivation (RFC 7644 PATCH of
// active=false), the provisioning side of offboarding, and reactivates the
// canary after every run.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
		Kind:    "scim-deactivate",
		Summary: "SCIM 2.0 PATCH /Users/{id} active=false (reactivated after the run): the IdP must kill every session and token of a deactivated user",
		Params:  []string{"attribute", "scope"},
		New:     newDeactivate,
	})
}

const patchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

type deactivate struct {
	attribute string   // the canary attribute holding the SCIM user id
	scopes    []string // requested for the admin bearer token
}

func newDeactivate(p driver.Params) (driver.Driver, error) {
	d := &deactivate{attribute: p["attribute"], scopes: strings.Fields(p["scope"])}
	if d.attribute == "" {
		d.attribute = "scim_id"
	}
	return d, nil
}

// Profile: a deactivated user must not keep any access: its sessions, access
// and refresh tokens die, and so does a resource's acceptance of the token.
func (d *deactivate) Profile() verdict.Profile {
	return verdict.Profile{AccessToken: verdict.Dies, RefreshToken: verdict.Dies, Session: verdict.Dies, Resource: verdict.Dies}
}

func (d *deactivate) Revoke(ctx context.Context, env *driver.Env) error {
	return d.setActive(ctx, env, false)
}

// Restore reactivates the canaries, or the next run's login fails. The
// engine calls it after the verification, whatever the verdict.
func (d *deactivate) Restore(ctx context.Context, env *driver.Env) error {
	return d.setActive(ctx, env, true)
}

func (d *deactivate) setActive(ctx context.Context, env *driver.Env, active bool) error {
	op := "scim deactivate"
	if active {
		op = "scim reactivate"
	}
	base := strings.TrimSuffix(env.URL, "/")
	if base == "" {
		return verdict.Errorf(verdict.ConfigError, "the scim-deactivate driver needs the endpoint's url: the SCIM base, e.g. https://idp.example.com/jans-scim/restv1/v2")
	}
	if env.Endpoints.Token == "" {
		return verdict.Errorf(verdict.ConfigError, "%s: the target has no token endpoint (issuer or urls.token) for the admin bearer", op)
	}
	tok, err := oauth.ClientCredentials(ctx, env.HTTP, env.Endpoints.Token, env.Admin, d.scopes, nil)
	if err != nil {
		return verdict.Errorf(verdict.RevokeUnauthorized, "%s: bearer token for the admin client: %v", op, err)
	}
	body, _ := json.Marshal(map[string]any{
		"schemas":    []string{patchOp},
		"Operations": []map[string]any{{"op": "replace", "path": "active", "value": active}},
	})
	for _, c := range env.Canaries {
		id := c.Attr(d.attribute)
		if id == "" {
			return verdict.Errorf(verdict.ConfigError, "canary %s has no attribute %q (its SCIM user id)", c.Name, d.attribute)
		}
		u := base + "/Users/" + url.PathEscape(id)
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
		if err != nil {
			return verdict.Errorf(verdict.ConfigError, "%s: %v", op, err)
		}
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("Accept", "application/scim+json, application/json")
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
		env.Sending()
		resp, err := httpx.Do(env.HTTP, req)
		if err != nil {
			return verdict.Errorf(verdict.RevokeHTTPError, "%s: %v", op, err)
		}
		switch resp.Status {
		case http.StatusOK, http.StatusNoContent:
			continue
		}
		se := &oauth.StatusError{Op: op, URL: httpx.RedactURL(req.URL), Status: resp.Status, Body: resp.Snippet()}
		switch resp.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &verdict.Err{Reason: verdict.RevokeUnauthorized, Err: se}
		case http.StatusNotFound:
			return &verdict.Err{Reason: verdict.ConfigError, Err: fmt.Errorf("%w (is the canary's %s attribute its SCIM id, and url the SCIM base?)", se, d.attribute)}
		}
		return &verdict.Err{Reason: verdict.RevokeHTTPError, Err: se}
	}
	return nil
}
