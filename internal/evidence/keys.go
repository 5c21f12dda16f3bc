package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadPrivateKey reads an Ed25519 private key in PEM PKCS#8 ("PRIVATE KEY"),
// as written by `openssl genpkey -algorithm ed25519`.
func LoadPrivateKey(file string) (ed25519.PrivateKey, error) {
	der, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("evidence signing key %s: not a PKCS#8 private key: %v", file, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("evidence signing key %s: a %T, not an Ed25519 key", file, k)
	}
	return ek, nil
}

// LoadPublicKey reads an Ed25519 public key in PEM PKIX ("PUBLIC KEY"), as
// written by `openssl pkey -pubout`. A PKCS#8 private key is accepted too
// (its public half is used).
func LoadPublicKey(file string) (ed25519.PublicKey, error) {
	der, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key %s: a %T, not an Ed25519 key", file, k)
		}
		return ek, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if ek, ok := k.(ed25519.PrivateKey); ok {
			return ek.Public().(ed25519.PublicKey), nil
		}
	}
	return nil, fmt.Errorf("public key %s: not an Ed25519 PEM public key", file)
}

// KeyID is a short, printable identifier of a public key (the first 16 hex
// digits of the SHA-256 of its raw bytes).
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

func readPEM(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("key %s: no PEM block", file)
	}
	return blk.Bytes, nil
}
