package idpsim

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// OIDC Back-Channel Logout 1.0, the OP side: when end_session (Janssen) or
// the Keycloak user logout ends a session, every client holding a grant from
// that session and registered with Client.BackchannelLogoutURI gets a POST of
// logout_token=<RS256 JWT> (iss, aud, iat, exp, jti, events, sub, sid; typ
// logout+jwt), verifiable through jwks_uri. Janssen's global token
// revocation and /revoke_session send none (docs/wire-facts.md §1.3, §1.4), and
// neither does the simulator there.
//
// Faults: ignore-revocation sends nothing; delay=D sends after D, like the
// revocation itself.

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

type logoutTarget struct{ uri, client, sub, sid string }

// logoutTargets lists, for the user's live sessions that match, the
// (session, client) pairs to notify. Call it before the sessions are revoked.
func (s *Server) logoutTargets(inum string, match func(*session) bool) []logoutTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []logoutTarget
	seen := map[[2]string]bool{}
	for _, g := range s.st.userLocked(inum).grants {
		ss, ok := s.st.sessions[g.session]
		if g.session == "" || !ok || !s.sessionAliveLocked(ss, now) || !match(ss) {
			continue
		}
		c, ok := s.clients[g.client]
		if !ok || c.BackchannelLogoutURI == "" || seen[[2]string{ss.id, c.ID}] {
			continue
		}
		seen[[2]string{ss.id, c.ID}] = true
		out = append(out, logoutTarget{uri: c.BackchannelLogoutURI, client: c.ID, sub: ss.user, sid: ss.sid})
	}
	return out
}

// sendLogoutTokens delivers the logout tokens in the background, the given
// delay plus the delay fault after the logout request r arrived (as the
// revocation itself: a slow fault's wait counts), as an OP does (the logout
// call does not wait for the relying parties).
func (s *Server) sendLogoutTokens(r *http.Request, after time.Duration, targets []logoutTarget) {
	f := s.Faults()
	if len(targets) == 0 || s.signer == nil || f.IgnoreRevocation {
		return
	}
	iss := issuer(r)
	wait := max(s.arrival(r).Add(after+f.Delay).Sub(s.now()), 0)
	tokens := make([]string, len(targets))
	for i, t := range targets {
		now := s.now()
		tokens[i] = s.sign("logout+jwt", jwt.MapClaims{"iss": iss, "aud": t.client, "iat": now.Unix(),
			"exp": now.Add(2 * time.Minute).Unix(), "jti": randomToken()[:22], "sub": t.sub, "sid": t.sid,
			"events": map[string]any{backchannelEvent: map[string]any{}}})
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait+10*time.Second)
		defer cancel()
		if !sleep(ctx, wait) {
			return
		}
		for i, t := range targets {
			body := url.Values{"logout_token": {tokens[i]}}.Encode()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.uri, strings.NewReader(body))
			if err != nil {
				continue
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
}
