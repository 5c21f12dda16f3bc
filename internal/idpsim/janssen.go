package idpsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Janssen (jans-auth-server) endpoints. The wire facts and their sources are in
// docs/wire-facts.md §1; comments cite its sections.

// Janssen feature flags (FeatureFlagType).
const (
	featGlobalRevocation = "global_token_revocation"
	featRevokeToken      = "revoke_token"
	featRevokeSession    = "revoke_session"
	featIntrospection    = "introspection"
	featUserinfo         = "userinfo"
	featEndSession       = "end_session"
	featStatusSession    = "status_session"
	featChallenge        = "authorization_challenge"
)

const (
	scopeSessionDelete = "https://jans.io/oauth/jans-auth-server/session.delete"
	gtrReason          = "Failed to parse GlobalTokenRevocationRequest."
)

func (s *Server) routeJanssen(mux *http.ServeMux) {
	both := func(path string, h http.HandlerFunc) {
		mux.HandleFunc("GET "+path, h)
		mux.HandleFunc("POST "+path, h)
	}
	mux.HandleFunc("GET "+janssenBase+"/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("POST "+janssenRestv1+"/token", s.handleToken)
	both(janssenRestv1+"/introspection", s.handleIntrospection)
	mux.HandleFunc("POST "+janssenRestv1+"/revoke", s.handleRevoke)
	mux.HandleFunc("POST "+janssenRestv1+"/global-token-revocation", s.handleGlobalTokenRevocation)
	mux.HandleFunc("POST "+janssenRestv1+"/revoke_session", s.handleRevokeSession)
	both(janssenRestv1+"/userinfo", s.handleUserinfo)
	mux.HandleFunc("GET "+janssenRestv1+"/authorize", s.handleAuthorize)
	mux.HandleFunc("POST "+janssenRestv1+"/authorize", s.handleLogin)
	mux.HandleFunc("POST "+janssenRestv1+"/authorize-challenge", s.handleAuthorizeChallenge)
	mux.HandleFunc("GET "+janssenRestv1+"/session_status", s.handleSessionStatus)
	both(janssenRestv1+"/end_session", s.handleEndSession)
	mux.HandleFunc("DELETE "+configAPIUsers+"{dn...}", s.handleConfigAPIDeleteUserSessions)
}

// handleDiscovery leaves out the key of every disabled feature (§1.1).
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := issuer(r)
	rest := iss + "/restv1"
	auth := []string{"client_secret_basic", "client_secret_post"}
	d := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                rest + "/authorize",
		"token_endpoint":                        rest + "/token",
		"grant_types_supported":                 []string{"authorization_code", "password", "refresh_token", "client_credentials"},
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"code_challenge_methods_supported":      []string{"S256"},
		"prompt_values_supported":               []string{"none", "login"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access", "global_token_revocation", "revoke_session"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"HS256"},
		"claims_supported":                      []string{"sub", "preferred_username", "email", "sid", "auth_time"},
		"token_endpoint_auth_methods_supported": auth,
	}
	optional := []struct{ feature, key, path string }{
		{featUserinfo, "userinfo_endpoint", "/userinfo"},
		{featRevokeToken, "revocation_endpoint", "/revoke"},
		{featIntrospection, "introspection_endpoint", "/introspection"},
		{featEndSession, "end_session_endpoint", "/end_session"},
		{featGlobalRevocation, "global_token_revocation_endpoint", "/global-token-revocation"},
		{featRevokeSession, "session_revocation_endpoint", "/revoke_session"},
		{featChallenge, "authorization_challenge_endpoint", "/authorize-challenge"},
	}
	// Deliberately unfaithful: with an empty feature list every key below is
	// published, session_revocation_endpoint (older Janssen only) together
	// with global_token_revocation_endpoint (newer only). No real Janssen
	// version offers both (§1.1); one simulator serves both drivers that way.
	// A feature list imitates one version.
	for _, o := range optional {
		if s.enabled(o.feature) {
			d[o.key] = rest + o.path
		}
	}
	// §1.1: both follow END_SESSION. The simulator does send back-channel
	// logout tokens (backchannel.go); it has no front-channel iframes, so
	// frontchannel_logout_supported is Janssen's flag, not a promise of ours.
	d["backchannel_logout_supported"] = s.enabled(featEndSession)
	d["frontchannel_logout_supported"] = s.enabled(featEndSession)
	if s.signer != nil {
		d["jwks_uri"] = rest + "/jwks"
	}
	if s.enabled(featRevokeToken) {
		d["revocation_endpoint_auth_methods_supported"] = auth
	}
	if s.enabled(featIntrospection) {
		d["introspection_endpoint_auth_methods_supported"] = auth
	}
	writeJSON(w, http.StatusOK, d)
}

// parseForm parses query and form body, answering 400 when it cannot (for
// example a body over the 1 MiB cap).
func parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "cannot parse the request: "+err.Error())
		return false
	}
	return true
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	c, ok := s.authenticateClient(r, true)
	if !ok {
		writeClientAuthError(w)
		return
	}
	gt := r.PostForm.Get("grant_type")
	switch gt {
	case "password", "refresh_token", "authorization_code", "client_credentials":
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported", gt))
		return
	}
	if !c.hasGrantType(gt) {
		writeError(w, http.StatusBadRequest, "invalid_grant", "grant_type is not present in client.")
		return
	}
	switch gt {
	case "password":
		u, ok := s.checkPassword(r.PostForm.Get("username"), r.PostForm.Get("password"))
		if !ok {
			writeError(w, http.StatusUnauthorized, "invalid_client", "Invalid user.") // §1.7: not invalid_grant
			return
		}
		scopes := grantedScopes(c, r.PostForm.Get("scope"))
		// ROPC creates no session (§0.5): the grant is bound to the user only.
		out := s.newGrant(u.Inum, c.ID, "", scopes, wantsRefresh(c, scopes))
		s.writeTokens(w, r, out, "")
	case "refresh_token":
		out, desc := s.rotate(r.PostForm.Get("refresh_token"), c.ID)
		if desc != "" {
			writeError(w, http.StatusBadRequest, "invalid_grant", desc)
			return
		}
		s.writeTokens(w, r, out, "")
	case "authorization_code":
		s.exchangeCode(w, r, c)
	case "client_credentials":
		// Janssen silently narrows the request to the registered scopes; a
		// caller that needs every scope must compare the answer's scope.
		out := s.newGrant("", c.ID, "", grantedScopes(c, r.PostForm.Get("scope")), false)
		s.writeTokens(w, r, out, "")
	}
}

// grantedScopes is the requested scopes the client registered, or all its
// registered scopes when none is requested.
func grantedScopes(c *Client, requested string) []string {
	req := scopeList(requested)
	if len(req) == 0 {
		return slices.Clone(c.Scopes)
	}
	out := []string{}
	for _, sc := range req {
		if c.hasScope(sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

func wantsRefresh(c *Client, scopes []string) bool {
	return slices.Contains(scopes, "offline_access") || c.hasGrantType("refresh_token")
}

// writeTokens answers a token request. An id token is added for a user grant
// with the openid scope; it carries sid when the grant came from a session.
func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, out issued, nonce string) {
	body := map[string]any{
		"access_token": out.access,
		"token_type":   "Bearer",
		"expires_in":   int(out.accessExp.Sub(out.issuedAt).Seconds()),
		"scope":        strings.Join(out.scopes, " "),
	}
	if out.refresh != "" {
		body["refresh_token"] = out.refresh
	}
	if out.user != "" && slices.Contains(out.scopes, "openid") {
		claims := map[string]any{"iss": issuer(r), "sub": out.user, "aud": out.client,
			"iat": out.issuedAt.Unix(), "exp": out.accessExp.Unix()}
		if ss, ok := s.liveSession(out.sessID); ok {
			claims["sid"] = ss.sid
			claims["auth_time"] = ss.created.Unix()
		}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		body["id_token"] = s.signJWT(claims)
	}
	writeJSON(w, http.StatusOK, body)
}

// handleIntrospection follows §1.6: Bearer (any live access token) or Basic
// client authentication; only access tokens are ever active.
func (s *Server) handleIntrospection(w http.ResponseWriter, r *http.Request) {
	if !s.requireFeature(w, featIntrospection) || !parseForm(w, r) {
		return
	}
	f := s.Faults()
	if f.Introspection500 {
		writeError(w, http.StatusInternalServerError, "server_error", "simulated failure (fault introspection-500)")
		return
	}
	if tok, ok := bearer(r); ok {
		if info, found := s.lookupAccess(tok); !found || !info.alive {
			writeError(w, http.StatusUnauthorized, "access_denied", "The bearer token is not valid.")
			return
		}
	} else if _, _, ok := r.BasicAuth(); ok {
		if _, ok := s.authenticateClient(r, false); !ok {
			writeClientAuthError(w)
			return
		}
	} else {
		writeError(w, http.StatusBadRequest, "invalid_request", "Authorization header is missing.")
		return
	}
	tok := r.Form.Get("token")
	if tok == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "token is missing.")
		return
	}
	// A refresh token is never found here (§0.4), even with the
	// introspection-always-active fault: that lookup only knows access tokens.
	info, found := s.lookupAccess(tok)
	active := found && info.alive
	switch {
	case f.IntrospectionAlwaysInactive:
		active = false
	case f.IntrospectionAlwaysActive:
		active = found
	}
	if !active {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	body := map[string]any{"active": true, "scope": strings.Join(info.scopes, " "), "client_id": info.client,
		"token_type": "Bearer", "exp": info.exp.Unix(), "iat": info.iat.Unix(), "aud": info.client, "iss": issuer(r)}
	if u, ok := s.userBy("inum", info.user); ok {
		body["sub"] = u.Inum
		body["username"] = u.UID
	}
	writeJSON(w, http.StatusOK, body)
}

// revoke500 answers the revoke-500 fault; revocation endpoints check it first.
func (s *Server) revoke500(w http.ResponseWriter) bool {
	if !s.Faults().Revoke500 {
		return false
	}
	writeError(w, http.StatusInternalServerError, "server_error", "simulated failure (fault revoke-500)")
	return true
}

// handleRevoke is RFC 7009 with Janssen's deviations (§1.8, §0.7).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if s.revoke500(w) || !parseForm(w, r) {
		return
	}
	c, ok := s.authenticateClient(r, true)
	if !ok {
		writeClientAuthError(w)
		return
	}
	if !s.requireFeature(w, featRevokeToken) {
		return
	}
	toks := strings.Fields(r.PostForm.Get("token")) // Janssen accepts several, space-separated
	if len(toks) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request", "token is missing.")
		return
	}
	hint := r.PostForm.Get("token_type_hint")
	// Janssen deviation: an access_token (or tx_token) hint searches only
	// access tokens, so a refresh token sent with it survives.
	onlyAccess := hint == "access_token" || hint == "tx_token"
	var grants []string
	for _, tok := range toks {
		info, found := s.lookupAccess(tok)
		if !found && !onlyAccess {
			info, found = s.lookupRefresh(tok)
		}
		if !found {
			continue // RFC 7009 §2.2: unknown tokens get 200 too
		}
		if info.client != c.ID {
			writeError(w, http.StatusBadRequest, "invalid_request", "Client is not allowed to revoke the token of another client.")
			return
		}
		grants = append(grants, info.grant)
	}
	for _, g := range grants {
		s.revokeGrant(r, g, kill{access: true, refresh: true}) // the whole grant (removeAllByGrantId)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleGlobalTokenRevocation follows §1.4: every session and every token of
// the user die; 204 even for an unknown user.
func (s *Server) handleGlobalTokenRevocation(w http.ResponseWriter, r *http.Request) {
	if s.revoke500(w) {
		return
	}
	// The body is JSON, so form-parameter client authentication cannot work
	// (§1.2): Bearer or Basic only.
	c, ok := s.authenticateClient(r, false)
	if !ok {
		writeClientAuthError(w)
		return
	}
	if !s.requireFeature(w, featGlobalRevocation) {
		return
	}
	if !c.hasScope("global_token_revocation") { // the client's registered scopes (§0.3), 401 not 403
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request"})
		return
	}
	var req struct {
		SubID *struct {
			Format string `json:"format"`
			ID     string `json:"id"`
		} `json:"sub_id"`
	}
	dec := json.NewDecoder(r.Body)
	// Unknown members are a parse failure, like Jackson's default
	// FAIL_ON_UNKNOWN_PROPERTIES. Whether Janssen's mapper is that strict is
	// unconfirmed (§6); §1.4's own example, a draft -02 {"subject":…} body
	// leading to 500, assumes it is not. The simulator keeps the strict
	// reading: a misspelt member is a 400 the operator can read.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request",
			"error_description": "The request is missing a required parameter or is malformed.", "reason": gtrReason})
		return
	}
	if req.SubID == nil {
		// A body that parses but has no sub_id ({} or {"sub_id":null}):
		// Janssen dereferences the null SubId, a NullPointerException that
		// its catch-all turns into a 500 with an empty body. This follows
		// the reference's inference (§1.4 [inferred]), not an observation.
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	// sub_id without format or id ({"sub_id":{}}): deliberately lenient,
	// the simulator looks nobody up and answers 204 as for an unknown user;
	// what Janssen's getUserByAttribute does with a null name is not in the
	// reference (it may well be another 500).
	if u, ok := s.userBy(req.SubID.Format, req.SubID.ID); ok {
		s.revokeUser(r, u.Inum, killAll)
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRevokeSession is the legacy §1.3 endpoint: it ends the user's
// authenticated sessions and no token.
func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	if s.revoke500(w) || !parseForm(w, r) {
		return
	}
	c, ok := s.authenticateClient(r, true)
	if !ok {
		writeClientAuthError(w)
		return
	}
	if !s.requireFeature(w, featRevokeSession) {
		return
	}
	if !c.hasScope("revoke_session") {
		writeError(w, http.StatusUnauthorized, "invalid_request", "The client is not allowed to revoke sessions.")
		return
	}
	// 200 whether or not the user exists: Janssen does not disclose it.
	if u, ok := s.userBy(r.PostForm.Get("user_criterion_key"), r.PostForm.Get("user_criterion_value")); ok {
		s.revokeSessions(r, u.Inum, func(ss *session) bool {
			return ss.state == "authenticated"
		}, kill{sessions: true})
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if !s.requireFeature(w, featUserinfo) || !parseForm(w, r) {
		return
	}
	tok, ok := bearer(r)
	if !ok {
		tok = r.PostForm.Get("access_token")
	}
	if tok == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "The access token is missing.")
		return
	}
	info, found := s.lookupAccess(tok)
	if !found || !info.alive {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	u, isUser := s.userBy("inum", info.user)
	if !isUser || !slices.Contains(info.scopes, "openid") {
		writeError(w, http.StatusForbidden, "insufficient_scope", "The token has no openid scope or no user.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sub": u.Inum, "preferred_username": u.UID, "email": u.Mail})
}

func (s *Server) handleSessionStatus(w http.ResponseWriter, r *http.Request) {
	if !s.requireFeature(w, featStatusSession) {
		return
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if ss, ok := s.liveSession(ck.Value); ok {
			writeJSON(w, http.StatusOK, map[string]any{"state": ss.state, "auth_time": ss.created.Unix()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "unknown"})
}

// handleEndSession logs the session out and removes its grants' tokens,
// refresh tokens included (removeRefreshTokensForClientOnLogout=true, §1.8).
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if !s.requireFeature(w, featEndSession) || s.revoke500(w) || !parseForm(w, r) {
		return
	}
	var sid, clientID string
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		claims, err := s.parseJWT(hint)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_grant", "id_token_hint is not valid.")
			return
		}
		sid, _ = claims["sid"].(string)
		clientID, _ = claims["aud"].(string)
	}
	if id := r.Form.Get("client_id"); id != "" {
		clientID = id
	}
	sessID := r.Form.Get("session_id")
	if ck, err := r.Cookie(sessionCookie); err == nil && sessID == "" {
		sessID = ck.Value
	}
	if sessID == "" && sid != "" {
		if ss, ok := s.sessionBySID(sid); ok {
			sessID = ss.id
		}
	}
	if sessID == "" && r.Form.Get("id_token_hint") == "" {
		writeError(w, http.StatusBadRequest, "session_not_passed", "Neither id_token_hint nor a session was passed.")
		return
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if redirect != "" && !s.logoutRedirectAllowed(clientID, redirect) {
		writeError(w, http.StatusBadRequest, "post_logout_uri_not_associated_with_client", "")
		return
	}
	if sessID != "" {
		match := func(ss *session) bool { return ss.id == sessID }
		owner := s.sessionOwner(sessID)
		targets := s.logoutTargets(owner, match) // back-channel logout (backchannel.go)
		s.revokeSessions(r, owner, match, killAll)
		s.sendLogoutTokens(r, 0, targets)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: janssenBase, MaxAge: -1, HttpOnly: true})
	if redirect != "" {
		q := map[string]string{}
		if st := r.Form.Get("state"); st != "" {
			q["state"] = st
		}
		http.Redirect(w, r, withQuery(redirect, q), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><title>Logged out</title><p>You have been logged out.</p>\n")
}

// logoutRedirectAllowed checks the URI against the client's redirect URIs, or
// against every client's when the request names no client.
func (s *Server) logoutRedirectAllowed(clientID, uri string) bool {
	if c, ok := s.clients[clientID]; ok {
		return c.allowsRedirect(uri)
	}
	for _, c := range s.clients {
		if c.allowsRedirect(uri) {
			return true
		}
	}
	return false
}
