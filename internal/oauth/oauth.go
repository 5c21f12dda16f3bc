// Package oauth is revprober's OAuth 2.0 / OpenID Connect client: discovery,
// canary logins, and the calls that observe whether a token or session is
// alive. Every call takes the shared *http.Client (no redirects, bounded
// bodies) and returns either an observation (alive or dead) or an error
// that says the observation could not be made. "Could not observe" is never
// folded into "dead": that would be a false pass.
package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/secret"
)

// Endpoints are an issuer's endpoint URLs.
type Endpoints struct {
	Issuer                string `json:"issuer"`
	Authorization         string `json:"authorization_endpoint"`
	Token                 string `json:"token_endpoint"`
	Introspection         string `json:"introspection_endpoint"`
	Userinfo              string `json:"userinfo_endpoint"`
	Revocation            string `json:"revocation_endpoint"`
	EndSession            string `json:"end_session_endpoint"`
	SessionStatus         string `json:"session_status_endpoint"`
	GlobalTokenRevocation string `json:"global_token_revocation_endpoint"`
	SessionRevocation     string `json:"session_revocation_endpoint"`
	JWKS                  string `json:"jwks_uri"`
}

// Merge returns e with every non-empty field of o written over it.
func (e Endpoints) Merge(o Endpoints) Endpoints {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&e.Issuer, o.Issuer)
	set(&e.Authorization, o.Authorization)
	set(&e.Token, o.Token)
	set(&e.Introspection, o.Introspection)
	set(&e.Userinfo, o.Userinfo)
	set(&e.Revocation, o.Revocation)
	set(&e.EndSession, o.EndSession)
	set(&e.SessionStatus, o.SessionStatus)
	set(&e.GlobalTokenRevocation, o.GlobalTokenRevocation)
	set(&e.SessionRevocation, o.SessionRevocation)
	set(&e.JWKS, o.JWKS)
	return e
}

// Discover reads issuer/.well-known/openid-configuration. A key the server
// does not publish stays empty: "endpoint not offered", not a failure.
func Discover(ctx context.Context, c *http.Client, issuer string) (Endpoints, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Endpoints{}, fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpx.Do(c, req)
	if err != nil {
		return Endpoints{}, fmt.Errorf("discovery: %w", err)
	}
	if resp.Status != http.StatusOK {
		return Endpoints{}, fmt.Errorf("discovery: GET %s answered %d", u, resp.Status)
	}
	var e Endpoints
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		return Endpoints{}, fmt.Errorf("discovery: %s is not a JSON document: %v", u, err)
	}
	if e.Issuer == "" || e.Token == "" {
		return Endpoints{}, fmt.Errorf("discovery: %s has no issuer or token_endpoint", u)
	}
	// Janssen publishes no key for /session_status; it sits beside /token.
	if e.SessionStatus == "" && strings.HasSuffix(e.Token, "/restv1/token") {
		e.SessionStatus = strings.TrimSuffix(e.Token, "token") + "session_status"
	}
	return e, nil
}

// ClientAuth is how a client authenticates to the token, introspection and
// revocation endpoints.
type ClientAuth struct {
	ID     string
	Secret secret.Secret
	// Method: client_secret_basic, client_secret_post, private_key_jwt,
	// tls_client_auth (the certificate is on the transport) or none.
	Method string
	// Key signs private_key_jwt assertions.
	Key   crypto.Signer
	KeyID string
}

// LoadPrivateKey reads a PEM private key (PKCS#8, PKCS#1 or EC) for private_key_jwt.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%s: unsupported private key", path)
}

// Apply authenticates req (whose form is form, already set as the body by
// the caller after Apply returns) to audience.
func (a *ClientAuth) Apply(req *http.Request, form url.Values, audience string) error {
	switch a.Method {
	case "", "client_secret_basic":
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic.
		req.SetBasicAuth(url.QueryEscape(a.ID), url.QueryEscape(a.Secret.Reveal()))
	case "client_secret_post":
		form.Set("client_id", a.ID)
		form.Set("client_secret", a.Secret.Reveal())
	case "private_key_jwt":
		assertion, err := a.Assertion(audience)
		if err != nil {
			return err
		}
		form.Set("client_id", a.ID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	case "tls_client_auth", "none":
		form.Set("client_id", a.ID)
	default:
		return fmt.Errorf("unknown client auth method %q", a.Method)
	}
	return nil
}

// Assertion signs an RFC 7523 client assertion for audience.
func (a *ClientAuth) Assertion(audience string) (string, error) {
	if a.Key == nil {
		return "", errors.New("private_key_jwt: no private key")
	}
	var method jwt.SigningMethod
	switch k := a.Key.(type) {
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 384:
			method = jwt.SigningMethodES384
		case 521:
			method = jwt.SigningMethodES512
		default:
			method = jwt.SigningMethodES256
		}
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	default:
		return "", fmt.Errorf("private_key_jwt: unsupported key type %T", a.Key)
	}
	now := time.Now()
	tok := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer:    a.ID,
		Subject:   a.ID,
		Audience:  jwt.ClaimStrings{audience},
		ID:        RandomString(16),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	})
	if a.KeyID != "" {
		tok.Header["kid"] = a.KeyID
	}
	return tok.SignedString(a.Key)
}

// oauth2Config is the x/oauth2 view of a client. The auth style is always
// explicit: auto-detection retries with the other style and turns a dead
// refresh token's invalid_grant into invalid_client.
func (a *ClientAuth) oauth2Config(ep Endpoints, redirectURI string, scopes []string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	secretValue := a.Secret.Reveal()
	if a.Method != "" && a.Method != "client_secret_basic" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     a.ID,
		ClientSecret: secretValue,
		Endpoint:     oauth2.Endpoint{AuthURL: ep.Authorization, TokenURL: ep.Token, AuthStyle: style},
		RedirectURL:  redirectURI,
		Scopes:       scopes,
	}
}

// assertionOpts are the extra token-request parameters of private_key_jwt,
// which x/oauth2 has no auth style for.
func (a *ClientAuth) assertionOpts(tokenURL string) ([]oauth2.AuthCodeOption, error) {
	if a.Method != "private_key_jwt" {
		return nil, nil
	}
	assertion, err := a.Assertion(tokenURL)
	if err != nil {
		return nil, err
	}
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
		oauth2.SetAuthURLParam("client_assertion", assertion),
	}, nil
}

// Tokens are a canary's tokens. They are secrets: they never print.
type Tokens struct {
	AccessToken  secret.Secret
	RefreshToken secret.Secret
	IDToken      secret.Secret
	Expiry       time.Time
	// Received is when the token response arrived, on the monotonic clock
	// too: an expiry read from the token (a JWT's exp, wall time) is
	// anchored to it, so a step of the wall clock during the run cannot
	// move the expiry (probe's tokenExpiry).
	Received time.Time
	// Jar holds the OP session cookies of a session-creating login.
	Jar http.CookieJar
}

func fromOAuth2(t *oauth2.Token) *Tokens {
	out := &Tokens{
		AccessToken:  secret.New(t.AccessToken),
		RefreshToken: secret.New(t.RefreshToken),
		Expiry:       t.Expiry,
		Received:     time.Now(),
	}
	if id, ok := t.Extra("id_token").(string); ok {
		out.IDToken = secret.New(id)
	}
	return out
}

// withClient makes x/oauth2 use our client (shared transport, trace).
func withClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// PasswordLogin logs a canary in with the resource owner password grant.
func PasswordLogin(ctx context.Context, c *http.Client, ep Endpoints, client *ClientAuth, username string, password secret.Secret, scopes []string) (*Tokens, error) {
	if client.Method == "private_key_jwt" {
		return nil, errors.New("password login: private_key_jwt login clients are not supported; use client_secret_basic or client_secret_post")
	}
	cfg := client.oauth2Config(ep, "", scopes)
	t, err := cfg.PasswordCredentialsToken(withClient(ctx, c), username, password.Reveal())
	if err != nil {
		return nil, fmt.Errorf("password login at %s: %w", ep.Token, describeTokenError(ctx, err))
	}
	if t.AccessToken == "" {
		return nil, fmt.Errorf("password login at %s: no access_token in the answer", ep.Token)
	}
	return fromOAuth2(t), nil
}

// ClientCredentials gets a token for the prober's own client (admin APIs)
// and adds it to the secrets of the run ctx belongs to (httpx.Remember).
func ClientCredentials(ctx context.Context, c *http.Client, tokenURL string, client *ClientAuth, scopes []string, extra url.Values) (secret.Secret, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	for k, v := range extra {
		form[k] = v
	}
	resp, err := PostForm(ctx, c, tokenURL, client, form)
	if err != nil {
		return secret.Secret{}, fmt.Errorf("client credentials at %s: %w", tokenURL, err)
	}
	if resp.Status != http.StatusOK {
		return secret.Secret{}, fmt.Errorf("client credentials at %s: status %d: %s", tokenURL, resp.Status, resp.Snippet())
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil || body.AccessToken == "" {
		return secret.Secret{}, fmt.Errorf("client credentials at %s: no access_token in the answer", tokenURL)
	}
	// An admin token is not configured anywhere, so the run learns of it
	// only here: an admin API echoing it in an error must not leak it.
	httpx.Remember(ctx, body.AccessToken)
	return secret.New(body.AccessToken), nil
}

// PostForm sends an authenticated form POST.
func PostForm(ctx context.Context, c *http.Client, u string, client *ClientAuth, form url.Values) (*httpx.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	if client != nil {
		if err := client.Apply(req, form, u); err != nil {
			return nil, err
		}
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return httpx.Do(c, req)
}

// describeTokenError keeps the OAuth error code and drops the response
// body from x/oauth2's error text. The code is the server's choice: it is
// scrubbed of the run's secrets, as a quoted body is.
func describeTokenError(ctx context.Context, err error) error {
	var rte *httpx.RequestTimeoutError
	if errors.As(err, &rte) {
		return rte // it names the request itself
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if re.ErrorCode != "" {
			return fmt.Errorf("status %d, error %q", status, httpx.Scrub(ctx, re.ErrorCode))
		}
		return fmt.Errorf("status %d", status)
	}
	return err
}

// Refresh attempts a refresh-token grant. alive is true when the server
// issued tokens (then next holds them: many servers rotate, so the caller
// must keep the newest); false when it answered invalid_grant. Any other
// answer is an error: the check could not be made.
func Refresh(ctx context.Context, c *http.Client, ep Endpoints, client *ClientAuth, refreshToken secret.Secret) (alive bool, next *Tokens, err error) {
	cfg := client.oauth2Config(ep, "", nil)
	opts, err := client.assertionOpts(ep.Token)
	if err != nil {
		return false, nil, err
	}
	if len(opts) > 0 {
		return false, nil, errors.New("refresh: private_key_jwt login clients are not supported")
	}
	t, err := cfg.TokenSource(withClient(ctx, c), &oauth2.Token{RefreshToken: refreshToken.Reveal()}).Token()
	if err != nil {
		// Only a 400 invalid_grant (RFC 6749 §5.2) is the server refusing
		// the grant; the same code on a 5xx or a 200 is a broken answer.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" && re.Response != nil && re.Response.StatusCode == http.StatusBadRequest {
			return false, nil, nil
		}
		return false, nil, fmt.Errorf("refresh at %s: %w", ep.Token, describeTokenError(ctx, err))
	}
	if t.AccessToken == "" {
		return false, nil, fmt.Errorf("refresh at %s: answer has no access_token", ep.Token)
	}
	return true, fromOAuth2(t), nil
}

// Introspect asks an RFC 7662 endpoint whether token is active,
// authenticated as the prober's own client (never with the token itself:
// a dead bearer would answer 401, which is not "inactive").
func Introspect(ctx context.Context, c *http.Client, u string, client *ClientAuth, token secret.Secret, hint string) (active bool, err error) {
	form := url.Values{"token": {token.Reveal()}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	resp, err := PostForm(ctx, c, u, client, form)
	if err != nil {
		return false, fmt.Errorf("introspection: %w", err)
	}
	if resp.Status != http.StatusOK {
		return false, fmt.Errorf("introspection at %s answered %d: %s", u, resp.Status, resp.Snippet())
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return false, fmt.Errorf("introspection at %s: answer is not a JSON object", u)
	}
	raw, ok := body["active"]
	if !ok {
		return false, fmt.Errorf("introspection at %s: answer has no \"active\" member", u)
	}
	// RFC 7662 §2.2: active is a boolean. "false" (a string) is not false:
	// reading it as dead would turn a broken server into a pass.
	var v any
	_ = json.Unmarshal(raw, &v)
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("introspection at %s: the answer's \"active\" member is %s, not a boolean (RFC 7662 §2.2)", u, jsonKind(v))
	}
	return b, nil
}

// jsonKind names the JSON type of a decoded value, for error text that
// must not quote the value itself.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "not a boolean"
}

// Userinfo calls the userinfo endpoint with the access token. 200 is
// alive; a status in deadStatus is dead, and so are 400/401/403 that say
// invalid_token (older Janssen builds answer 400).
func Userinfo(ctx context.Context, c *http.Client, u string, token secret.Secret, deadStatus []int) (alive bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := httpx.Do(c, req)
	if err != nil {
		return false, fmt.Errorf("userinfo: %w", err)
	}
	switch {
	case resp.Status == http.StatusOK:
		return true, nil
	case slices.Contains(deadStatus, resp.Status):
		return false, nil
	case (resp.Status == 400 || resp.Status == 401 || resp.Status == 403) && saysInvalidToken(resp):
		return false, nil
	}
	return false, fmt.Errorf("userinfo at %s answered %d: %s", u, resp.Status, resp.Snippet())
}

func saysInvalidToken(r *httpx.Response) bool {
	return strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") ||
		strings.Contains(string(r.Body), `"invalid_token"`)
}

// Resource calls a protected API with the access token: 2xx is alive, a
// status in deadStatus is dead, anything else could not be observed.
func Resource(ctx context.Context, c *http.Client, method, u string, token secret.Secret, deadStatus []int) (alive bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := httpx.Do(c, req)
	if err != nil {
		return false, fmt.Errorf("resource: %w", err)
	}
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		return true, nil
	case slices.Contains(deadStatus, resp.Status):
		return false, nil
	}
	return false, fmt.Errorf("resource %s %s answered %d", method, httpx.RedactURL(req.URL), resp.Status)
}

// RevokeToken calls an RFC 7009 endpoint. A 200 proves nothing (the RFC
// answers 200 for unknown tokens); the caller verifies.
func RevokeToken(ctx context.Context, c *http.Client, u string, client *ClientAuth, token secret.Secret, hint string) error {
	form := url.Values{"token": {token.Reveal()}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	resp, err := PostForm(ctx, c, u, client, form)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if resp.Status != http.StatusOK {
		return &StatusError{Op: "revoke", URL: u, Status: resp.Status, Body: resp.Snippet()}
	}
	return nil
}

// StatusError is an unexpected HTTP status.
type StatusError struct {
	Op, URL string
	Status  int
	Body    string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("%s at %s answered %d", e.Op, e.URL, e.Status)
	}
	return fmt.Sprintf("%s at %s answered %d: %s", e.Op, e.URL, e.Status, e.Body)
}

// RandomString returns n random bytes, base64url-encoded.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
