package tlsdiag_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node/tlsdiag"
)

// ca signs certificates for the tests.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return ca{cert: cert, key: key, pool: pool}
}

// leaf is a certificate c signs for ip, valid from notBefore to notAfter.
func (c ca) leaf(t *testing.T, ip net.IP, notBefore, notAfter time.Time, extra ...pkix.Extension) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{ip},
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		ExtraExtensions: extra,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

var loopback = net.IPv4(127, 0, 0, 1)

// serveTLS starts an HTTPS server with cert and cfg's other settings.
func serveTLS(t *testing.T, cert tls.Certificate, cfg *tls.Config) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.Certificates = []tls.Certificate{cert}
	s.TLS = cfg
	s.Config.ErrorLog = nil
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// get requests s's root over HTTPS with client's TLS settings, as the CLI
// does.
func get(t *testing.T, s *httptest.Server, client *tls.Config) error {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: client}}
	resp, err := c.Get(s.URL)
	if err == nil {
		_ = resp.Body.Close()
	}
	return err
}

func TestDiagnose(t *testing.T) {
	good, rogue := newCA(t, "good"), newCA(t, "rogue")
	now := time.Now()

	t.Run("unknown authority", func(t *testing.T) {
		s := serveTLS(t, rogue.leaf(t, loopback, now.Add(-time.Hour), now.Add(time.Hour)), nil)
		f := tlsdiag.Diagnose(get(t, s, &tls.Config{RootCAs: good.pool}))
		assert.Equal(t, tlsdiag.UnknownAuthority, f.Kind)
		assert.ErrorContains(t, f.Err, "certificate signed by unknown authority")
	})
	t.Run("host name", func(t *testing.T) {
		s := serveTLS(t, good.leaf(t, net.IPv4(10, 9, 8, 7), now.Add(-time.Hour), now.Add(time.Hour)), nil)
		f := tlsdiag.Diagnose(get(t, s, &tls.Config{RootCAs: good.pool}))
		assert.Equal(t, tlsdiag.Hostname, f.Kind)
		assert.ErrorContains(t, f.Err, "10.9.8.7")
	})
	t.Run("expired", func(t *testing.T) {
		s := serveTLS(t, good.leaf(t, loopback, now.Add(-2*time.Hour), now.Add(-time.Hour)), nil)
		f := tlsdiag.Diagnose(get(t, s, &tls.Config{RootCAs: good.pool}))
		assert.Equal(t, tlsdiag.Invalid, f.Kind)
		assert.ErrorContains(t, f.Err, "expired")
	})
	t.Run("unhandled critical extension", func(t *testing.T) {
		// x509 refuses a certificate with a critical extension it does not
		// know, with an error of none of the types above.
		cert := good.leaf(t, loopback, now.Add(-time.Hour), now.Add(time.Hour), pkix.Extension{
			Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}})
		f := tlsdiag.Diagnose(get(t, serveTLS(t, cert, nil), &tls.Config{RootCAs: good.pool}))
		assert.Equal(t, tlsdiag.Unverified, f.Kind)
		var unhandled x509.UnhandledCriticalExtension
		assert.ErrorAs(t, f.Err, &unhandled)
	})
	t.Run("refused client certificate", func(t *testing.T) {
		// The server wants a certificate of the good CA; the client has
		// one of the rogue CA. TLS 1.2 so that the refusal ends the
		// handshake itself.
		s := serveTLS(t, good.leaf(t, loopback, now.Add(-time.Hour), now.Add(time.Hour)),
			&tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: good.pool, MaxVersion: tls.VersionTLS12})
		mine := rogue.leaf(t, loopback, now.Add(-time.Hour), now.Add(time.Hour))
		// Sent whatever CAs the server asks for, as a node sends its own.
		send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mine, nil }
		f := tlsdiag.Diagnose(get(t, s, &tls.Config{RootCAs: good.pool, GetClientCertificate: send}))
		assert.Equal(t, tlsdiag.Refused, f.Kind)
		assert.Equal(t, "unknown certificate authority", f.Alert)
	})
	t.Run("refused missing client certificate after a TLS 1.3 handshake", func(t *testing.T) {
		// In TLS 1.3 the client's handshake ends before the server has
		// checked its certificate: the alert comes with the first read.
		s := serveTLS(t, good.leaf(t, loopback, now.Add(-time.Hour), now.Add(time.Hour)),
			&tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: good.pool})
		conn, err := tls.Dial("tcp", s.Listener.Addr().String(), &tls.Config{RootCAs: good.pool})
		if err == nil {
			t.Cleanup(func() { _ = conn.Close() })
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
		}
		f := tlsdiag.Diagnose(err)
		assert.Equal(t, tlsdiag.Refused, f.Kind, "%v", err)
		assert.Equal(t, "certificate required", f.Alert)
	})
	t.Run("plain port", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(s.Close)
		conn, err := tls.Dial("tcp", s.Listener.Addr().String(), &tls.Config{RootCAs: good.pool})
		if err == nil {
			_ = conn.Close()
		}
		f := tlsdiag.Diagnose(err)
		assert.Equal(t, tlsdiag.NotTLS, f.Kind, "%v", err)
		var record tls.RecordHeaderError
		assert.ErrorAs(t, f.Err, &record)
	})
	t.Run("alert of a QUIC connection", func(t *testing.T) {
		f := tlsdiag.Diagnose(&net.OpError{Op: "read", Err: tls.AlertError(116)})
		assert.Equal(t, tlsdiag.Refused, f.Kind)
		assert.Equal(t, "certificate required", f.Alert)
	})
	t.Run("not TLS", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		require.NoError(t, l.Close())
		_, err = net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
		require.Error(t, err)
		assert.Equal(t, tlsdiag.None, tlsdiag.Diagnose(err).Kind, "a refused connection")
		assert.Equal(t, tlsdiag.None, tlsdiag.Diagnose(nil).Kind)
		assert.Equal(t, tlsdiag.None, tlsdiag.Diagnose(io.EOF).Kind)
	})
}
