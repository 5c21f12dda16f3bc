package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/revprober/revprober/internal/httpx"
)

// SignatureAlgs are the JWS algorithms revprober verifies: RS256, ES256 and
// EdDSA. "none" and the HMAC algorithms are never accepted (a public key
// used as an HMAC secret is the classic JWT forgery).
var SignatureAlgs = []string{"RS256", "ES256", "EdDSA"}

// JWKS is an issuer's set of public signing keys (RFC 7517).
type JWKS struct {
	keys []jwk
}

type jwk struct {
	kid string
	key any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// FetchJWKS reads the key set at u through the shared client (bounded body).
// Keys of unknown types or with use other than "sig" are skipped.
func FetchJWKS(ctx context.Context, c *http.Client, u string) (*JWKS, error) {
	set, _, err := fetchJWKS(ctx, c, u)
	return set, err
}

// fetchJWKS also returns the answer's Cache-Control max-age (-1 if none).
func fetchJWKS(ctx context.Context, c *http.Client, u string) (*JWKS, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, -1, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpx.Do(c, req)
	if err != nil {
		return nil, -1, fmt.Errorf("jwks: %w", err)
	}
	if resp.Status != http.StatusOK {
		return nil, -1, fmt.Errorf("jwks: GET %s answered %d", httpx.RedactURL(req.URL), resp.Status)
	}
	set, err := ParseJWKS(resp.Body)
	return set, maxAge(resp.Header.Get("Cache-Control")), err
}

// maxAge reads max-age from a Cache-Control value; no-store and no-cache
// count as 0, no directive as -1.
func maxAge(cc string) time.Duration {
	age := time.Duration(-1)
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age=")); err == nil && n >= 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}

// ParseJWKS parses a JWK Set document.
func ParseJWKS(b []byte) (*JWKS, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Crv string `json:"crv"`
			N   string `json:"n"`
			E   string `json:"e"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("jwks: not a JSON document: %v", err)
	}
	set := &JWKS{}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var key any
		switch {
		case k.Kty == "RSA":
			n, errN := base64.RawURLEncoding.DecodeString(k.N)
			e, errE := base64.RawURLEncoding.DecodeString(k.E)
			if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
				continue
			}
			key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case k.Kty == "EC" && k.Crv == "P-256":
			x, errX := base64.RawURLEncoding.DecodeString(k.X)
			y, errY := base64.RawURLEncoding.DecodeString(k.Y)
			if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
				continue
			}
			pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			key = pk
		case k.Kty == "OKP" && k.Crv == "Ed25519":
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				continue
			}
			key = ed25519.PublicKey(x)
		default:
			continue
		}
		set.keys = append(set.keys, jwk{kid: k.Kid, key: key})
	}
	if len(set.keys) == 0 {
		return nil, errors.New("jwks: no usable signing key (RSA, EC P-256 or Ed25519)")
	}
	return set, nil
}

// ErrUnknownKid is Keyfunc's error for a kid the set does not hold: the
// issuer may have rotated its keys since the set was read.
var ErrUnknownKid = errors.New("the issuer's JWKS holds no such key")

// Keyfunc picks the key for a token, for jwt.Parse: the key whose kid is
// the token's kid; a token without kid only when the set holds one key of
// the right type. The key type must fit the algorithm.
func (s *JWKS) Keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	fits := func(key any) bool {
		switch key.(type) {
		case *rsa.PublicKey:
			return t.Method.Alg() == "RS256"
		case *ecdsa.PublicKey:
			return t.Method.Alg() == "ES256"
		case ed25519.PublicKey:
			return t.Method.Alg() == "EdDSA"
		}
		return false
	}
	var found []any
	for _, k := range s.keys {
		if fits(k.key) && (kid == "" || k.kid == kid) {
			found = append(found, k.key)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && kid != "":
		return nil, fmt.Errorf("%w: no %s key with kid %q", ErrUnknownKid, t.Method.Alg(), kid)
	case len(found) == 0:
		return nil, fmt.Errorf("no %s key in the issuer's JWKS", t.Method.Alg())
	default:
		return nil, errors.New("the token has no kid and the issuer's JWKS holds several keys")
	}
}
