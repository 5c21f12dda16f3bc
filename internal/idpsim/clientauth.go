package idpsim

import (
	"net/http"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticateClientKeyOrCert handles the two client authentication methods
// without a shared secret, on form requests only:
//   - private_key_jwt (RFC 7523): client_assertion signed with the key
//     registered as Client.PublicKey; iss = sub = the client id, aud = the
//     URL of this endpoint, exp required;
//   - tls_client_auth (RFC 8705): client_id without a secret, on a TLS
//     connection whose verified client certificate has Client.TLSClientCN.
//
// handled is false when the request uses neither (Basic or a secret follows).
func (s *Server) authenticateClientKeyOrCert(r *http.Request, allowForm bool) (c *Client, handled, ok bool) {
	if !allowForm {
		return nil, false, false
	}
	if r.PostFormValue("client_assertion_type") == assertionType {
		return s.checkAssertion(r)
	}
	id := r.PostFormValue("client_id")
	if id == "" || r.PostFormValue("client_secret") != "" || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil, false, false
	}
	if _, _, basic := r.BasicAuth(); basic {
		return nil, false, false
	}
	c, found := s.clients[id]
	if !found || c.TLSClientCN == "" {
		return nil, true, false
	}
	return c, true, r.TLS.VerifiedChains[0][0].Subject.CommonName == c.TLSClientCN
}

func (s *Server) checkAssertion(r *http.Request) (*Client, bool, bool) {
	var claims jwt.RegisteredClaims
	var c *Client
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	aud := scheme + "://" + r.Host + r.URL.Path
	_, err := jwt.ParseWithClaims(r.PostFormValue("client_assertion"), &claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		found, ok := s.clients[iss]
		if !ok || found.PublicKey == nil {
			return nil, jwt.ErrTokenUnverifiable
		}
		c = found
		return found.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}), jwt.WithExpirationRequired(),
		jwt.WithAudience(aud), jwt.WithTimeFunc(s.now))
	if err != nil || c == nil || claims.Subject != c.ID || !slices.Contains([]string{"", c.ID}, r.PostFormValue("client_id")) {
		return nil, true, false
	}
	return c, true, true
}
