package node

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"
)

// fakeClock is a settable time for reloaders.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// touch gives a file a new modification time, as a rewrite would.
func touch(t *testing.T, path string, at time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(path, at, at))
}

func TestCertSourceReloadsOnChange(t *testing.T) {
	ca := NewTestCA(t, "ca")
	certFile, keyFile := ca.Issue(t, "n1")
	src, err := newCertSource(keyCertChain, certFile, keyPrivateKey, keyFile, zerolog.Nop())
	require.NoError(t, err)
	clock := &fakeClock{t: time.Now()}
	src.r.now = clock.now
	first := src.certificate().Leaf.SerialNumber

	// Renewed files: not looked at before the check interval is over.
	certPEM, keyPEM := ca.IssuePEM(t, "n1")
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	later := time.Now().Add(time.Minute)
	touch(t, keyFile, later)
	touch(t, certFile, later)
	assert.Equal(t, first, src.certificate().Leaf.SerialNumber, "within the check interval")
	clock.add(reloadCheckInterval)
	second := src.certificate().Leaf.SerialNumber
	assert.NotEqual(t, first, second, "reloaded after the interval")

	// A half-written file keeps the loaded certificate, until it is whole.
	require.NoError(t, os.WriteFile(certFile, certPEM[:len(certPEM)/2], 0o600))
	touch(t, certFile, later.Add(time.Minute))
	clock.add(reloadCheckInterval)
	assert.Equal(t, second, src.certificate().Leaf.SerialNumber)
	third, keyPEM3 := ca.IssuePEM(t, "n1")
	require.NoError(t, os.WriteFile(keyFile, keyPEM3, 0o600))
	require.NoError(t, os.WriteFile(certFile, third, 0o600))
	touch(t, keyFile, later.Add(2*time.Minute))
	touch(t, certFile, later.Add(2*time.Minute))
	clock.add(reloadCheckInterval)
	assert.NotEqual(t, second, src.certificate().Leaf.SerialNumber)

	// A deleted file keeps the loaded certificate too.
	require.NoError(t, os.Remove(certFile))
	clock.add(reloadCheckInterval)
	assert.NotNil(t, src.certificate())
}

func TestTLSFilesCheckedAtStart(t *testing.T) {
	ca := NewTestCA(t, "ca")
	certFile, keyFile := ca.Issue(t, "n1")
	_, otherKey := ca.Issue(t, "n2")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))

	_, err := newTLSSetup(SSLConfig{CertChainFile: certFile, PrivateKeyFile: otherKey}, zerolog.Nop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), keyCertChain)
	assert.Contains(t, err.Error(), otherKey)
	assert.Contains(t, err.Error(), "private key does not match public key")

	_, err = newTLSSetup(SSLConfig{CertChainFile: certFile, PrivateKeyFile: keyFile, InternalTrustManagerFile: garbage}, zerolog.Nop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), keyInternalTrustCAs+` "`+garbage+`"`)
	assert.Contains(t, err.Error(), "holds no PEM certificate")

	// Internal files fall back to the public ones, each on its own.
	s, err := newTLSSetup(SSLConfig{CertChainFile: certFile, PrivateKeyFile: keyFile}, zerolog.Nop())
	require.NoError(t, err)
	assert.Same(t, s.public, s.internal)
	assert.Nil(t, s.trust)
	_, err = newTLSSetup(SSLConfig{CertChainFile: certFile, PrivateKeyFile: keyFile, InternalPrivateKeyFile: otherKey}, zerolog.Nop())
	require.Error(t, err, "internal key with the public chain")
	assert.Contains(t, err.Error(), keyCertChain)
	assert.Contains(t, err.Error(), keyInternalKey)
}

func TestTLSListenerAnswersPlainHTTP(t *testing.T) {
	ca := NewTestCA(t, "ca")
	certFile, keyFile := ca.Issue(t, "n1")
	s, err := newTLSSetup(SSLConfig{CertChainFile: certFile, PrivateKeyFile: keyFile}, zerolog.Nop())
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	testkit.Serve(t, &tlsListener{Listener: raw, cfg: s.internalServerConfig()}, func(c net.Conn) {
		_, _ = io.Copy(c, c) // echo; a failed handshake ends it
	})

	c, err := net.Dial("tcp", raw.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(c, "GET /v1/public HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	reply, err := io.ReadAll(bufio.NewReader(c))
	require.NoError(t, err, "the whole answer, then EOF (no reset)")
	assert.True(t, strings.HasPrefix(string(reply), "HTTP/1.0 400 Bad Request\r\n"), "%q", reply)
	assert.Contains(t, string(reply), "Client sent an HTTP request to an HTTPS server.")

	// TLS itself works.
	tc, err := tls.Dial("tcp", raw.Addr().String(), &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer tc.Close()
	_, err = io.WriteString(tc, "ping")
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(tc, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))
}

func TestVerifyPeerNames(t *testing.T) {
	ca := NewTestCA(t, "ca")
	certFile, keyFile := ca.Issue(t, "n1")
	s, err := newTLSSetup(SSLConfig{CertChainFile: certFile, PrivateKeyFile: keyFile, InternalTrustManagerFile: ca.File}, zerolog.Nop())
	require.NoError(t, err)
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{s.internal.certificate().Leaf}}
	require.NoError(t, s.verifyPeer(cs, []string{"127.0.0.1"}))
	require.NoError(t, s.verifyPeer(cs, []string{"10.1.2.3", "localhost"}), "any one name is enough")
	err = s.verifyPeer(cs, []string{"10.1.2.3", "node7.example.com"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "valid for localhost, 127.0.0.1, not for 10.1.2.3 or node7.example.com")

	other := NewTestCA(t, "other")
	oc, ok := other.Issue(t, "n9")
	otherSetup, err := newTLSSetup(SSLConfig{CertChainFile: oc, PrivateKeyFile: ok}, zerolog.Nop())
	require.NoError(t, err)
	err = s.verifyPeer(tls.ConnectionState{PeerCertificates: []*x509.Certificate{otherSetup.public.certificate().Leaf}}, []string{"127.0.0.1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not trusted by "+keyInternalTrustCAs)
}
