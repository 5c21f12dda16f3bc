package httpx

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// HostError is a request that never reached an answer because of the
// host itself: its name does not resolve, or its TLS certificate is not
// trusted. The text names the host and says what to change, on top of the
// transport's own error (which names the request's URL).
type HostError struct {
	Host string
	Hint string
	Err  error
}

func (e *HostError) Error() string { return fmt.Sprintf("%v (%s: %s)", e.Err, e.Host, e.Hint) }
func (e *HostError) Unwrap() error { return e.Err }

// explainHost wraps a DNS or TLS verification failure of a request to host
// in a *HostError; other errors pass unchanged.
func explainHost(err error, host string) error {
	if err == nil {
		return nil
	}
	var (
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		name    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &dns):
		hint := "the host name does not resolve (DNS): check the target's issuer and urls"
		if !dns.IsNotFound {
			hint = "the host name could not be resolved (DNS failure): check the resolver, then the target's issuer and urls"
		}
		return &HostError{Host: host, Hint: hint, Err: err}
	case errors.As(err, &unknown):
		return &HostError{Host: host, Hint: "its TLS certificate is not signed by a trusted CA: set the target's tls.ca_file to the CA that issued it", Err: err}
	case errors.As(err, &name):
		return &HostError{Host: host, Hint: "its TLS certificate is issued for other names: use a name the certificate lists in the target's issuer and urls", Err: err}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return &HostError{Host: host, Hint: "its TLS certificate has expired (or is not yet valid): the IdP's certificate must be renewed", Err: err}
	case errors.As(err, &invalid):
		return &HostError{Host: host, Hint: "its TLS certificate is not valid: " + invalid.Detail, Err: err}
	}
	return err
}
