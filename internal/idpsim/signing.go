package idpsim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Asymmetric signing: RS256 JWT access tokens (Options.JWTAccessTokens) and
// back-channel logout tokens (backchannel.go), verifiable by anyone through
// the JWKS at /restv1/jwks, which discovery publishes as jwks_uri only when
// the server has a key. Id tokens stay HS256 (idtoken.go).

type signer struct {
	key *rsa.PrivateKey
	kid string
}

// setupSigning makes the RS256 key when JWT access tokens or a client's
// back-channel logout need one (RSA key generation is slow: only then).
func (s *Server) setupSigning(jwtAccessTokens bool) {
	need := jwtAccessTokens
	for _, c := range s.clients {
		need = need || c.BackchannelLogoutURI != ""
	}
	if !need {
		return
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("idpsim: generating the signing key: " + err.Error())
	}
	s.signer = &signer{key: key, kid: randomToken()[:12]}
	s.jwtAT = jwtAccessTokens
	s.mux.HandleFunc("GET "+janssenRestv1+"/jwks", s.handleJWKS)
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	pub := s.signer.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": s.signer.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// sign makes an RS256 JWT with the server's kid and the given typ.
func (s *Server) sign(typ string, claims jwt.MapClaims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.signer.kid
	t.Header["typ"] = typ
	out, err := t.SignedString(s.signer.key)
	if err != nil {
		panic("idpsim: signing: " + err.Error()) // an RSA key and plain claims always sign
	}
	return out
}

// accessTokenLocked mints an access token value for the grant: opaque, or
// with JWTAccessTokens an RFC 9068-style JWT (sub, client_id, iat, exp, jti,
// sid for session-bound grants, scope). The JWT carries no iss: the
// simulator learns its address from each request's Host, not at minting.
// The value is still the key of the token table, so revocation and
// introspection work exactly as for opaque tokens.
func (s *Server) accessTokenLocked(g *grant, iat, exp time.Time) string {
	if !s.jwtAT {
		return randomToken()
	}
	sub := g.user
	if sub == "" {
		sub = g.client
	}
	claims := jwt.MapClaims{"sub": sub, "client_id": g.client, "iat": iat.Unix(), "exp": exp.Unix(),
		"jti": randomToken()[:22], "scope": strings.Join(g.scopes, " ")}
	if ss, ok := s.st.sessions[g.session]; ok && g.session != "" {
		claims["sid"] = ss.sid
	}
	return s.sign("at+jwt", claims)
}
