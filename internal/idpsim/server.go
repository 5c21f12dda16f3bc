// Package idpsim is an in-memory OpenID Provider that speaks Janssen's wire
// protocol, with switchable faults. It is a fixture for revprober's tests and
// demos: every fault makes the simulator break revocation in one way a real
// identity provider can, so a test can prove the prober notices.
//
// Where it is knowingly unfaithful, it says so in a comment. The largest
// case: with an empty feature list (Options.Features) discovery publishes
// both session_revocation_endpoint (older Janssen, REVOKE_SESSION) and
// global_token_revocation_endpoint (newer Janssen, GLOBAL_TOKEN_REVOCATION),
// which no real Janssen version does (docs/wire-facts.md §1.1), so that one
// simulator serves the drivers of both. Set Features to imitate one version.
//
// Layout: server.go (types, routing, client authentication), state.go (users'
// sessions and grants, and the revocation helpers every vendor emulation
// calls), faults.go, idtoken.go, control.go (the /_sim test API), loginapp.go
// (the login UI on another origin, as Hydra runs one), and one janssen*.go
// file per group of Janssen endpoints. Another vendor emulation is
// a new file that registers its routes in New and calls the state helpers.
package idpsim

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// User is a person who can log in. Its DN is "inum=<Inum>,ou=people,o=jans".
type User struct {
	Inum, UID, Mail, Password string
}

// DN is the user's LDAP-style distinguished name, as Janssen stores it.
func (u User) DN() string { return "inum=" + u.Inum + ",ou=people,o=jans" }

// Client is a registered OAuth client.
type Client struct {
	ID, Secret   string
	Scopes       []string // registered scopes (Janssen checks the CLIENT's registered scopes, not the token's)
	GrantTypes   []string // "password", "refresh_token", "authorization_code", "client_credentials"
	RedirectURIs []string // a loopback URI without a port ("http://127.0.0.1/...") accepts any port and path
	// PublicKey, when set, lets the client authenticate with private_key_jwt
	// (RFC 7523 client assertions signed with the matching private key).
	PublicKey crypto.PublicKey
	// TLSClientCN, when set, lets the client authenticate with
	// tls_client_auth: a verified client certificate with this common name.
	TLSClientCN string
	// BackchannelLogoutURI, when set, receives OIDC back-channel logout
	// tokens when a session this client has tokens from is logged out
	// (backchannel.go).
	BackchannelLogoutURI string
}

func (c *Client) hasScope(s string) bool     { return slices.Contains(c.Scopes, s) }
func (c *Client) hasGrantType(g string) bool { return slices.Contains(c.GrantTypes, g) }

// Options configures New. The zero value gives a usable server.
type Options struct {
	Users []User // nil: DefaultUsers()
	// Canaries is how many generated canary users (CanaryUsers: canary00001
	// …) follow Users: 0 means DefaultCanaries, a negative number none.
	Canaries        int
	Clients         []Client // nil: DefaultClients()
	Faults          Faults
	Features        []string         // enabled Janssen feature flags; empty = everything enabled, as Janssen does
	Now             func() time.Time // nil: time.Now
	AccessTokenTTL  time.Duration    // default 5m
	RefreshTokenTTL time.Duration    // default 24h
	// JWTAccessTokens issues RS256 JWT access tokens (kid, exp, jti, sid,
	// sub) instead of opaque ones, and publishes jwks_uri (signing.go).
	JWTAccessTokens bool
}

// Server is the simulator. It is an http.Handler.
type Server struct {
	users    []User
	canaries int                       // the last canaries users are CanaryUsers(canaries)
	userIdx  map[string]map[string]int // attribute (uid, mail, inum) → value → index in users (the first)
	clients  map[string]*Client
	features map[string]bool // empty: all enabled
	now      func() time.Time
	atTTL    time.Duration
	rtTTL    time.Duration
	idKey    []byte  // HS256 key for id tokens
	signer   *signer // RS256 key for JWT access and logout tokens; nil when neither is used
	jwtAT    bool
	mux      *http.ServeMux
	faults   atomic.Pointer[Faults]

	mu sync.Mutex // guards the state below (see state.go)
	st state
	// scimInactive are the inums deactivated through SCIM (vendor_scim.go).
	scimInactive map[string]bool
	// login is the login UI on another origin, when on (loginapp.go).
	login loginApp
}

const (
	maxBody        = 1 << 20
	sessionTTL     = 24 * time.Hour
	codeTTL        = time.Minute // Janssen's default authorizationCodeLifetime
	sessionCookie  = "session_id"
	janssenBase    = "/jans-auth"
	janssenRestv1  = janssenBase + "/restv1"
	configAPIUsers = "/jans-config-api/api/v1/jans-auth-server/session/user/"
)

// New builds a server with its own in-memory state.
func New(opts Options) *Server {
	s := &Server{
		users:    opts.Users,
		clients:  map[string]*Client{},
		features: map[string]bool{},
		now:      opts.Now,
		atTTL:    opts.AccessTokenTTL,
		rtTTL:    opts.RefreshTokenTTL,
		idKey:    []byte(randomToken()),
		mux:      http.NewServeMux(),
		st:       newState(),
		login:    loginApp{challenges: map[string]loginChallenge{}, verifiers: map[string]loginVerdict{}},
	}
	if s.users == nil {
		s.users = DefaultUsers()
	}
	if n := cmp.Or(opts.Canaries, DefaultCanaries); n > 0 {
		s.users = append(slices.Clone(s.users), CanaryUsers(n)...)
		s.canaries = n
	}
	s.indexUsers()
	clients := opts.Clients
	if clients == nil {
		clients = DefaultClients()
	}
	for _, c := range clients {
		// Own copies: the caller may reuse its slices.
		c.Scopes, c.GrantTypes, c.RedirectURIs = slices.Clone(c.Scopes), slices.Clone(c.GrantTypes), slices.Clone(c.RedirectURIs)
		s.clients[c.ID] = &c
	}
	for _, f := range opts.Features {
		s.features[f] = true
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.atTTL <= 0 {
		s.atTTL = 5 * time.Minute
	}
	if s.rtTTL <= 0 {
		s.rtTTL = 24 * time.Hour
	}
	s.SetFaults(opts.Faults)
	s.setupSigning(opts.JWTAccessTokens)
	s.routeJanssen(s.mux)
	s.routeControl(s.mux)
	s.routeWebhook(s.mux)
	s.routeSCIM(s.mux)
	s.routeKeycloak(s.mux)
	s.routeOkta(s.mux)
	s.routeAuth0(s.mux)
	s.routeEntra(s.mux)
	s.routeHydra(s.mux)
	return s
}

// ServeHTTP stamps the request's arrival, caps the body, applies the slow
// and hang faults, then routes. The stamp comes first: the delay fault and the
// vendors' asynchronous kills count from when the revoke request arrived,
// not from when a slow server got round to it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), arrivalKey{}, s.now()))
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if d := s.Faults().Slow; d > 0 && !sleep(r.Context(), d) {
		return // the client has gone; nobody reads an answer
	}
	if s.hangs(r) {
		s.trickle(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

type arrivalKey struct{}

// arrival is when ServeHTTP received r (now, for a request that did not
// come through it).
func (s *Server) arrival(r *http.Request) time.Time {
	if t, ok := r.Context().Value(arrivalKey{}).(time.Time); ok {
		return t
	}
	return s.now()
}

// SetFaults replaces the faults; requests read them once when they need them.
func (s *Server) SetFaults(f Faults) { s.faults.Store(&f) }

// Faults returns the current faults.
func (s *Server) Faults() Faults { return *s.faults.Load() }

// DefaultUsers are the canary users the demo and tests log in.
func DefaultUsers() []User {
	return []User{
		{Inum: "CANARY01", UID: "canary01", Mail: "canary01@example.com", Password: "canary-password-01"},
		{Inum: "CANARY02", UID: "canary02", Mail: "canary02@example.com", Password: "canary-password-02"},
	}
}

// DefaultCanaries is how many generated canaries a simulator has unless told
// otherwise: one for each probe of the built-in demo (internal/demo), which
// gives every probe a canary of its own.
const DefaultCanaries = 20

// CanaryUsers are n generated canary users, numbered from 1 and zero-padded
// to five digits (wider past 99999): uid canary00001, password
// canary-password-00001, mail canary00001@example.com, inum CANARY00001.
// The scheme is public test data (README, idpsim --help).
func CanaryUsers(n int) []User {
	width := max(5, len(strconv.Itoa(n)))
	out := make([]User, n)
	for i := range out {
		num := fmt.Sprintf("%0*d", width, i+1)
		out[i] = User{Inum: "CANARY" + num, UID: "canary" + num, Mail: "canary" + num + "@example.com",
			Password: "canary-password-" + num}
	}
	return out
}

// DefaultClients are the prober's admin client, the canary's app client and an
// admin client lacking the revocation scopes (for negative tests).
func DefaultClients() []Client {
	return []Client{
		{
			ID: "revprober-admin", Secret: "admin-secret",
			Scopes: []string{"openid", "global_token_revocation", "revoke_session",
				"https://jans.io/oauth/jans-auth-server/session.delete",
				"https://jans.io/oauth/config/session.readonly"},
			GrantTypes: []string{"client_credentials"},
		},
		{
			ID: "canary-app", Secret: "canary-secret",
			// authorization_challenge: Janssen requires it for /authorize-challenge.
			Scopes:       []string{"openid", "profile", "email", "offline_access", "authorization_challenge"},
			GrantTypes:   []string{"password", "refresh_token", "authorization_code"},
			RedirectURIs: []string{"http://127.0.0.1/callback"},
		},
		{
			ID: "no-scope-admin", Secret: "noscope-secret",
			Scopes:     []string{"openid"},
			GrantTypes: []string{"client_credentials"},
		},
	}
}

// enabled reports whether a Janssen feature flag is on; an empty list means
// "no restrictions", as in Janssen's validateFeatureEnabled.
func (s *Server) enabled(feature string) bool {
	return len(s.features) == 0 || s.features[feature]
}

// requireFeature answers 403 access_denied when the flag is off.
func (s *Server) requireFeature(w http.ResponseWriter, feature string) bool {
	if s.enabled(feature) {
		return true
	}
	writeError(w, http.StatusForbidden, "access_denied", "Feature flag is disabled on server.")
	return false
}

// issuer derives from the Host header so the simulator works behind httptest.
func issuer(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + janssenBase
}

// userBy finds the first user whose attribute has the value, as Janssen's
// getUserByAttribute: attr is a user attribute name (uid, mail, inum; the
// simulator's users have no others), never a claim name or an alias. An
// unknown attribute, "email" included (that is the claim; the attribute is
// mail), matches no user, so global token revocation answers 204 and
// revoke_session 200 and nothing dies. Names compare case-insensitively, as
// LDAP attribute names do (lenient for Janssen's SQL back-ends, which the
// reference does not cover).
func (s *Server) userBy(attr, value string) (User, bool) {
	if userAttrs[strings.ToLower(attr)] == nil || value == "" {
		return User{}, false
	}
	if i, ok := s.userIdx[strings.ToLower(attr)][value]; ok {
		return s.users[i], true
	}
	return User{}, false
}

// userAttrs are the user attributes userBy looks up.
var userAttrs = map[string]func(User) string{
	"uid":  func(u User) string { return u.UID },
	"mail": func(u User) string { return u.Mail },
	"inum": func(u User) string { return u.Inum },
}

// indexUsers builds userIdx: a lookup must not cost more with 10,000 users.
func (s *Server) indexUsers() {
	s.userIdx = map[string]map[string]int{}
	for attr, get := range userAttrs {
		m := map[string]int{}
		for i, u := range s.users {
			if _, dup := m[get(u)]; !dup {
				m[get(u)] = i // the first match wins, as a scan would find it
			}
		}
		s.userIdx[attr] = m
	}
}

// userByDN finds a user by distinguished name, for the config-api's
// /session/user/{userDn}. A DN is not an attribute: userBy does not take it.
func (s *Server) userByDN(dn string) (User, bool) {
	inum, ok := strings.CutPrefix(dn, "inum=")
	if !ok {
		return User{}, false
	}
	inum, _, _ = strings.Cut(inum, ",")
	if u, ok := s.userBy("inum", inum); ok && u.DN() == dn {
		return u, true
	}
	return User{}, false
}

// checkPassword accepts the uid or the mail as the username; the login-fail
// fault rejects everyone.
func (s *Server) checkPassword(username, password string) (User, bool) {
	if s.Faults().LoginFail {
		return User{}, false
	}
	u, ok := s.userBy("uid", username)
	if !ok {
		u, ok = s.userBy("mail", username)
	}
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 || s.scimDisabled(u.Inum) {
		return User{}, false
	}
	return u, true
}

// authenticateClient follows Janssen's AuthenticationFilter order: a Bearer
// access token authenticates its grant's client, then (when allowForm) a
// client assertion or a client certificate, then Basic, then (when
// allowForm) client_id/client_secret parameters.
func (s *Server) authenticateClient(r *http.Request, allowForm bool) (*Client, bool) {
	if tok, ok := bearer(r); ok {
		info, found := s.lookupAccess(tok)
		if !found || !info.alive {
			return nil, false
		}
		c, ok := s.clients[info.client]
		return c, ok
	}
	if c, handled, ok := s.authenticateClientKeyOrCert(r, allowForm); handled {
		return c, ok // private_key_jwt or tls_client_auth (clientauth.go)
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		// RFC 6749 §2.3.1: the credentials are form-encoded inside Basic.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	} else if allowForm {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		ok = id != "" && secret != ""
	}
	if !ok {
		return nil, false
	}
	c, found := s.clients[id]
	if !found || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return nil, false
	}
	return c, true
}

// writeClientAuthError is Janssen's filter answer to failed client authentication.
func writeClientAuthError(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="jans-auth"`)
	writeError(w, http.StatusUnauthorized, "invalid_client", "Unable to authenticate client.")
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes an OAuth error body; an empty description is left out.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	writeJSON(w, status, body)
}

// randomToken returns 32 random bytes, base64url: opaque tokens, codes, ids.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// scopeList splits a space-delimited scope parameter.
func scopeList(s string) []string { return strings.Fields(s) }
