package probe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM, for tls.ca_file
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// leaf issues a server certificate for names (IP addresses or DNS names),
// valid from notBefore to notAfter.
func (ca *testCA) leaf(t *testing.T, names []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSFailuresAreErrorsNamingTheHost: an identity provider whose TLS
// certificate has expired, names another host, or comes from a CA the
// target does not trust (tls.ca_file names the right CA in the first two)
// gives an error, never a pass, whose detail names the host and what is
// wrong with its certificate.
func TestTLSFailuresAreErrorsNamingTheHost(t *testing.T) {
	trusted, stranger := newTestCA(t, "revprober trusted test CA"), newTestCA(t, "a CA nobody trusts")
	now := time.Now()
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		want string
	}{
		{"expired", trusted.leaf(t, []string{"127.0.0.1"}, now.Add(-24*time.Hour), now.Add(-time.Hour)), "its TLS certificate has expired"},
		{"wrong host", trusted.leaf(t, []string{"idp.example.test"}, now.Add(-time.Hour), now.Add(24*time.Hour)), "its TLS certificate is issued for other names"},
		{"unknown CA", stranger.leaf(t, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(24*time.Hour)), "its TLS certificate is not signed by a trusted CA: set the target's tls.ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewUnstartedServer(idpsim.New(idpsim.Options{}))
			ts.Config.ErrorLog = quietLog
			ts.TLS = &tls.Config{Certificates: []tls.Certificate{tc.cert}}
			ts.StartTLS()
			t.Cleanup(ts.Close)
			tr, err := httpx.NewTransport(httpx.TLS{CAFile: trusted.file})
			if err != nil {
				t.Fatal(err)
			}
			p := newProbe(t, ts.URL, "janssen-global-token-revocation", nil, func(p *probe.Probe) { p.Transport = tr })
			r := probe.Run(context.Background(), p)
			if r.Result != verdict.Error || r.Reason != verdict.DiscoveryFailed {
				t.Fatalf("got %s/%s (%s), want error/discovery_failed", r.Result, r.Reason, r.Detail)
			}
			host := ts.Listener.Addr().String()
			for _, want := range []string{host + ": " + tc.want, "GET " + ts.URL + "/jans-auth/.well-known/openid-configuration"} {
				if !strings.Contains(r.Detail, want) && !strings.Contains(r.Detail, strings.Replace(want, "GET ", "Get \"", 1)) {
					t.Errorf("detail %q does not say %q", r.Detail, want)
				}
			}
		})
	}
}

// nxdomainServer is a DNS server on loopback that answers every question
// "no such name"; it counts the questions.
func nxdomainServer(t *testing.T) (addr string, questions *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	questions = new(atomic.Int64)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			qs, _ := p.AllQuestions()
			questions.Add(int64(len(qs)))
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired,
				RecursionAvailable: true, RCode: dnsmessage.RCodeNameError})
			_ = b.StartQuestions()
			for _, q := range qs {
				_ = b.Question(q)
			}
			if out, err := b.Finish(); err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String(), questions
}

// TestDNSFailureIsAnErrorNamingTheHost: an issuer whose host name does not
// resolve gives an error naming the host. The transport's resolver asks a
// DNS server on loopback that answers NXDOMAIN, so no packet leaves the
// machine.
func TestDNSFailureIsAnErrorNamingTheHost(t *testing.T) {
	dnsAddr, questions := nxdomainServer(t)
	tr, err := httpx.NewTransport(httpx.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Proxy = nil // a proxy from the environment would resolve the name itself, elsewhere
	dialer := &net.Dialer{Timeout: 5 * time.Second, Resolver: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "udp", dnsAddr) // whatever resolv.conf names: loopback only
		}}}
	tr.DialContext = dialer.DialContext
	const host = "idp.revprober-fault-test.invalid"
	p := newProbe(t, "http://"+host+":8080", "janssen-global-token-revocation", nil, func(p *probe.Probe) { p.Transport = tr })
	r := probe.Run(context.Background(), p)
	if r.Result != verdict.Error || r.Reason != verdict.DiscoveryFailed {
		t.Fatalf("got %s/%s (%s), want error/discovery_failed", r.Result, r.Reason, r.Detail)
	}
	if questions.Load() == 0 {
		t.Fatalf("the loopback DNS server was never asked: the failure did not come from DNS (%s)", r.Detail)
	}
	if want := host + ":8080: the host name does not resolve (DNS)"; !strings.Contains(r.Detail, want) {
		t.Errorf("detail %q does not say %q", r.Detail, want)
	}
}
