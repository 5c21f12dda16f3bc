package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/backchannel"
	"github.com/revprober/revprober/internal/oauth"
)

// atClaims are the JWT access-token claims the run reads (RFC 9068).
type atClaims struct {
	jwt.RegisteredClaims
	SID string `json:"sid,omitempty"`
}

// residualValidity records, for a JWT access token, how long a resource
// server that validates it locally would still accept it after the
// revocation (seconds until exp). It is informational and never changes the
// verdict. The number is trusted only from a token whose signature verified
// against the issuer's jwks_uri (fetched once per run, bounded body); when the
// issuer publishes no JWKS (or it cannot be fetched) the unverified exp is
// reported with ResidualValidityVerified=false; a token whose signature
// does NOT verify reports no number at all, and a note says why.
func (r *runner) residualValidity(ctx context.Context) {
	if len(r.canarie) == 0 {
		return
	}
	raw := r.canarie[0].accessToken().Reveal()
	var unverified atClaims
	if strings.Count(raw, ".") != 2 {
		return // opaque token: nothing to report
	}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &unverified); err != nil {
		return // not a JWT (an opaque token may contain dots)
	}
	claims, verified := &unverified, false
	if r.eps.JWKS != "" {
		var err error
		if r.jwks == nil {
			r.jwks, err = oauth.FetchJWKS(ctx, r.client, r.eps.JWKS)
		}
		if err != nil {
			r.note("the access token is a JWT but the issuer's JWKS could not be read (%v): residual validity is from the unverified token", err)
		} else {
			var v atClaims
			// Signature and algorithm only: exp, nbf and iat are read, not
			// enforced (an expired token still has a residual validity of 0).
			_, err := jwt.ParseWithClaims(raw, &v, r.jwks.Keyfunc,
				jwt.WithValidMethods(oauth.SignatureAlgs), jwt.WithoutClaimsValidation())
			if err != nil {
				r.note("the access token's JWT signature did not verify against the issuer's JWKS (%v): no residual validity reported", err)
				return
			}
			claims, verified = &v, true
		}
	}
	if claims.ExpiresAt == nil {
		return
	}
	if claims.SID != "" {
		r.canarie[0].sid = claims.SID
	}
	left := max(claims.ExpiresAt.Sub(r.now()).Seconds(), 0)
	r.run.ResidualValiditySeconds = &left
	r.run.ResidualValidityVerified = verified
}

// tokenExpiry is when the access token expires by itself: the earlier of
// the token response's expires_in and the JWT's exp (read unverified: an
// exp earlier than the truth only makes the run stricter). Zero when
// neither is known.
//
// The result is on the monotonic clock: the time left, read once against
// the wall clock when the token arrived (t.Received), counted from that
// arrival. A JWT's exp is wall time; compared with a later reading of the
// wall clock, a step back of that clock during the run (NTP, a VM resumed)
// would make an expired token look alive, and its death at expiry would
// pass for a revocation.
func tokenExpiry(t *oauth.Tokens) time.Time {
	exp := t.Expiry
	raw := t.AccessToken.Reveal()
	if strings.Count(raw, ".") == 2 {
		var c atClaims
		if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err == nil && c.ExpiresAt != nil {
			if exp.IsZero() || c.ExpiresAt.Time.Before(exp) {
				exp = c.ExpiresAt.Time
			}
		}
	}
	if exp.IsZero() || t.Received.IsZero() {
		return exp
	}
	return t.Received.Add(exp.Sub(t.Received))
}

// note adds an informational line to the run record; notes never change
// the verdict.
func (r *runner) note(format string, args ...any) {
	r.run.Notes = append(r.run.Notes, fmt.Sprintf(format, args...))
}

// expectLogout registers, with the back-channel receiver, the logout token
// that will announce the end of the canary's session: iss and jwks_uri from
// discovery, aud the login client, sub and sid from the ID token (read
// unverified: it came straight from the token endpoint and is only a key to
// match the logout token, which the receiver verifies).
func (r *runner) expectLogout(cs *canaryState) (*backchannel.Wait, error) {
	if r.eps.Issuer == "" || r.eps.JWKS == "" {
		return nil, errors.New("back-channel logout needs the issuer's iss and jwks_uri (discovery) to verify logout tokens")
	}
	var id atClaims
	if !cs.main.tokens.IDToken.IsZero() {
		_, _, _ = jwt.NewParser().ParseUnverified(cs.main.tokens.IDToken.Reveal(), &id)
	}
	sid := id.SID
	if sid == "" {
		sid = cs.sid
	}
	if id.Subject == "" && sid == "" {
		return nil, errors.New("back-channel logout: the login returned no ID token with sub or sid (is openid in login.scopes?)")
	}
	return r.p.Backchannel.Expect(backchannel.Expectation{Issuer: r.eps.Issuer, JWKS: r.eps.JWKS,
		Audience: r.p.LoginClient.ID, SID: sid, Sub: id.Subject, HTTP: r.client}), nil
}
