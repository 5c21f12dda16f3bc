package probe_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/revprober/revprober/internal/httpx"
	"github.com/revprober/revprober/internal/idpsim"
	"github.com/revprober/revprober/internal/oauth"
	"github.com/revprober/revprober/internal/probe"
	"github.com/revprober/revprober/internal/verdict"
)

// adminClient is a simulator client allowed to revoke globally.
func adminClient(id string) idpsim.Client {
	c := idpsim.DefaultClients()[0]
	c.ID, c.Secret = id, ""
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runOnce(t *testing.T, p *probe.Probe, result verdict.Result, reason verdict.Reason) {
	t.Helper()
	r := probe.Run(context.Background(), p)
	if r.Result != result || r.Reason != reason {
		t.Fatalf("got %s/%s, want %s/%s (detail: %s)", r.Result, r.Reason, result, reason, r.Detail)
	}
	if r.Result == verdict.Pass {
		assertAliveThenDead(t, r)
	}
}

// TestAdminClientSecretPost: the revocation is authenticated with
// client_secret_post (through a client-credentials token, as the global
// token revocation's JSON body requires).
func TestAdminClientSecretPost(t *testing.T) {
	t.Parallel()
	_, base := sim(t)
	runOnce(t, newProbe(t, base, "janssen-global-token-revocation", nil, func(p *probe.Probe) {
		p.Admin = &oauth.ClientAuth{ID: p.Admin.ID, Secret: p.Admin.Secret, Method: "client_secret_post"}
	}), verdict.Pass, verdict.ReasonNone)
}

// TestAdminPrivateKeyJWT: the revocation is authenticated with an RFC 7523
// client assertion signed by a key loaded from a PEM file; the simulator
// knows only the public key. A key it does not know is refused.
func TestAdminPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := adminClient("pkjwt-admin")
	c.PublicKey = &key.PublicKey
	ts := httptest.NewServer(idpsim.New(idpsim.Options{Clients: append(idpsim.DefaultClients(), c)}))
	t.Cleanup(ts.Close)

	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := oauth.LoadPrivateKey(writePEM(t, dir, "admin.key", "PRIVATE KEY", der))
	if err != nil {
		t.Fatal(err)
	}
	withKey := func(k crypto.Signer) func(*probe.Probe) {
		return func(p *probe.Probe) {
			p.Admin = &oauth.ClientAuth{ID: "pkjwt-admin", Method: "private_key_jwt", Key: k, KeyID: "k1"}
		}
	}
	runOnce(t, newProbe(t, ts.URL, "janssen-global-token-revocation", nil, withKey(signer)), verdict.Pass, verdict.ReasonNone)
	runOnce(t, newProbe(t, ts.URL, "janssen-global-token-revocation", nil, withKey(wrong)), verdict.Error, verdict.RevokeUnauthorized)
}

var quietLog = log.New(io.Discard, "", 0)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	server                        tls.Certificate
	pool                          *x509.CertPool
}

func newTestPKI(t *testing.T, clientCN string) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "revprober test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := issue(3, clientCN, x509.ExtKeyUsageClientAuth, nil)
	cliKeyDER, _ := x509.MarshalPKCS8PrivateKey(cliKey)
	pki := testPKI{
		caFile:     writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER),
		clientCert: writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER),
		clientKey:  writePEM(t, dir, "client.key", "PRIVATE KEY", cliKeyDER),
		server:     tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
		pool:       x509.NewCertPool(),
	}
	pki.pool.AddCert(ca)
	return pki
}

// TestAdminMutualTLS: the simulator sits behind TLS with a private CA and
// requires a client certificate; the probe's transport trusts the CA file
// and presents the certificate, and the admin client authenticates with
// tls_client_auth (RFC 8705). Without the client certificate the probe
// reaches no verdict.
func TestAdminMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, "revprober-mtls")
	c := adminClient("mtls-admin")
	c.TLSClientCN = "revprober-mtls"
	ts := httptest.NewUnstartedServer(idpsim.New(idpsim.Options{Clients: append(idpsim.DefaultClients(), c)}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool}
	ts.Config.ErrorLog = quietLog // the refused handshake is expected
	ts.StartTLS()
	t.Cleanup(ts.Close)

	transport := func(t *testing.T, cfg httpx.TLS) func(*probe.Probe) {
		tr, err := httpx.NewTransport(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		return func(p *probe.Probe) {
			p.Transport = tr
			p.Admin = &oauth.ClientAuth{ID: "mtls-admin", Method: "tls_client_auth"}
		}
	}
	runOnce(t, newProbe(t, ts.URL, "janssen-global-token-revocation", nil,
		transport(t, httpx.TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey})), verdict.Pass, verdict.ReasonNone)
	runOnce(t, newProbe(t, ts.URL, "janssen-global-token-revocation", nil,
		transport(t, httpx.TLS{CAFile: pki.caFile})), verdict.Error, verdict.DiscoveryFailed)
}

// TestUntrustedServerCertificate: TLS is verified by default; a server
// whose certificate the transport does not trust gives an error, never a
// pass.
func TestUntrustedServerCertificate(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(idpsim.New(idpsim.Options{}))
	ts.Config.ErrorLog = quietLog
	ts.StartTLS()
	t.Cleanup(ts.Close)
	runOnce(t, newProbe(t, ts.URL, "janssen-global-token-revocation", nil), verdict.Error, verdict.DiscoveryFailed)
}
