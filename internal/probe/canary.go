package probe

import (
	"context"
	"net/http"
	"time"

	"github.com/revprober/revprober/internal/driver"
	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/secret"
	"github.com/revprober/revprober/internal/verdict"
)

// A canary is logged in once per grant the run needs. Usually that is one
// grant. When the run checks both the refresh grant and the access token
// (introspection, userinfo or a resource), the refresh check gets a grant
// of its own: IdPs such as Ory Hydra and zitadel revoke the access token
// of a grant when its refresh token is used, so a refresh check on the
// grant whose access token the other checks watch would kill that token
// itself, and the kill would pass for the revocation. The main grant is
// never refreshed by the run; its access token is what the access-token
// checks observe, its cookie jar (the OP session) what the session checks
// replay.

// grant is one authorization of a canary: its newest tokens.
type grant struct {
	// label names the grant in fingerprints: "" for the main grant.
	label  string
	tokens *oauth.Tokens // the newest tokens (refresh tokens rotate)
	// refreshUncertain is set once a refresh attempt got no clear answer:
	// the IdP may have rotated the refresh token without our seeing the new
	// one, so a later invalid_grant no longer proves revocation.
	refreshUncertain bool
}

// refreshGrantLabel names the refresh check's own grant.
const refreshGrantLabel = "refresh-check"

// canaryState is a logged-in canary: its grants and every token issued to
// it in this run, for the clean-up.
type canaryState struct {
	spec Canary
	// main is the grant the access-token checks observe; refresh is the
	// grant the refresh check uses: its own, or main when one grant serves.
	main, refresh *grant
	client        *http.Client // carries main's OP session cookies, if any
	issued        []issuedToken
	dc            *driver.Canary // what the driver got, set at the revocation
	// sid is the OP session id from a verified JWT access token or the ID
	// token, when known: the key a back-channel logout token names.
	sid string
	// atExpiry is when main's access token expires by itself (expires_in,
	// or the JWT's exp if earlier); zero when unknown. A death seen after
	// it proves nothing about the revocation.
	atExpiry time.Time
}

// grants are the canary's grants, main first.
func (c *canaryState) grants() []*grant {
	if c.refresh == nil || c.refresh == c.main {
		return []*grant{c.main}
	}
	return []*grant{c.main, c.refresh}
}

// accessToken is the access token the access-token checks look at. The
// run never replaces it: the main grant is refreshed only when no check
// watches its access token.
func (c *canaryState) accessToken() secret.Secret { return c.main.tokens.AccessToken }

type issuedToken struct {
	grant *grant
	value secret.Secret
	hint  string
	dead  bool
}

func (c *canaryState) remember(g *grant, t *oauth.Tokens) {
	if !t.AccessToken.IsZero() {
		c.issued = append(c.issued, issuedToken{grant: g, value: t.AccessToken, hint: "access_token"})
	}
	if !t.RefreshToken.IsZero() {
		c.issued = append(c.issued, issuedToken{grant: g, value: t.RefreshToken, hint: "refresh_token"})
	}
}

// adopt makes t the newest tokens of g (refresh tokens rotate: the old one
// is dead by design and must never be mistaken for revoked).
func (c *canaryState) adopt(g *grant, t *oauth.Tokens) {
	c.remember(g, t)
	if t.RefreshToken.IsZero() {
		t.RefreshToken = g.tokens.RefreshToken
	}
	if t.IDToken.IsZero() {
		t.IDToken = g.tokens.IDToken
	}
	t.Jar = g.tokens.Jar
	for i := range c.issued {
		// A rotated-out refresh token is dead by rotation, not revocation.
		if x := &c.issued[i]; x.grant == g && x.hint == "refresh_token" && x.value != t.RefreshToken {
			x.dead = true
		}
	}
	g.tokens = t
}

// driverCanary is the canary as the driver sees it at the revocation.
func (c *canaryState) driverCanary() *driver.Canary {
	dc := &driver.Canary{Name: c.spec.Name, Username: c.spec.Username, Attributes: c.spec.Attributes,
		Tokens: c.main.tokens, Jar: c.main.tokens.Jar}
	for _, g := range c.grants() {
		dc.Grants = append(dc.Grants, g.tokens)
	}
	return dc
}

// separateRefreshGrant reports whether the refresh check needs a grant of
// its own: it is planned together with a check of the access token.
func (r *runner) separateRefreshGrant() bool {
	refresh, token := false, false
	for _, c := range r.checks {
		switch c.kind {
		case verdict.RefreshGrant:
			refresh = true
		case verdict.Introspection, verdict.Userinfo, verdict.ResourceCall:
			token = true
		}
	}
	return refresh && token
}

// login logs every canary in afresh. With a separate refresh grant, that
// grant logs in first and the main login follows in the same cookie jar:
// an IdP that remembers the OP session issues the second code without a
// form (no second session), and if it asks for the password again, the
// jar ends up holding the main grant's session, which is what the session
// checks and the session-based drivers must use.
func (r *runner) login(ctx context.Context) error {
	separate := r.separateRefreshGrant()
	for _, cs := range r.canarie {
		var jar http.CookieJar
		if separate {
			toks, err := r.loginOnce(ctx, cs.spec, nil)
			if err != nil {
				return verdict.Errorf(verdict.LoginFailed, "canary %s (the refresh check's own grant): %v", cs.spec.Name, err)
			}
			cs.refresh = &grant{label: refreshGrantLabel, tokens: toks}
			cs.remember(cs.refresh, toks)
			jar = toks.Jar
		}
		toks, err := r.loginOnce(ctx, cs.spec, jar)
		if err != nil {
			return verdict.Errorf(verdict.LoginFailed, "canary %s: %v", cs.spec.Name, err)
		}
		cs.main = &grant{tokens: toks}
		cs.remember(cs.main, toks)
		if cs.refresh == nil {
			cs.refresh = cs.main
		}
		cs.client = httpx.Client(r.p.Transport, toks.Jar)
	}
	return nil
}

// loginOnce makes one grant of the canary; jar, when not nil, carries the
// OP session of an earlier login.
func (r *runner) loginOnce(ctx context.Context, spec Canary, jar http.CookieJar) (*oauth.Tokens, error) {
	var (
		toks *oauth.Tokens
		err  error
	)
	switch r.p.LoginMethod {
	case "authorization_code":
		toks, err = oauth.CodeLogin(ctx, r.p.Transport, jar, r.eps, r.p.LoginHosts, r.p.LoginClient, r.p.RedirectURI, spec.Username, spec.Password, r.p.Scopes)
	default:
		toks, err = oauth.PasswordLogin(ctx, r.client, r.eps, r.p.LoginClient, spec.Username, spec.Password, r.p.Scopes)
	}
	if err != nil {
		return nil, err
	}
	r.addSecrets(toks)
	return toks, nil
}
