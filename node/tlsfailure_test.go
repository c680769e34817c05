package node

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"
)

// TestTLSFailureExplained dials a node's internal TLS port as another node
// does, with real handshakes, and checks what tlsFailure says of each way
// it fails.
func TestTLSFailureExplained(t *testing.T) {
	ca, other := NewTestCA(t, "ca"), NewTestCA(t, "other")
	setup := func(signer *TestCA, name string) *tlsSetup {
		cert, key := signer.Issue(t, name)
		s, err := newTLSSetup(SSLConfig{CertChainFile: cert, PrivateKeyFile: key, InternalTrustManagerFile: ca.File}, zerolog.Nop())
		require.NoError(t, err)
		return s
	}
	good, rogue := setup(ca, "n1"), setup(other, "n9")

	// serve accepts connections on a TLS port with cfg and reads them, so
	// that the server side of each handshake runs.
	serve := func(cfg *tls.Config) string {
		return testkit.Serve(t, testkit.Listen(t), func(c net.Conn) {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, tls.Server(c, cfg))
		})
	}
	// dial connects as a node with setup s that expects names, and reads
	// once: in TLS 1.3 the server's refusal arrives after the client's
	// handshake.
	dial := func(s *tlsSetup, addr string, names ...string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, s.internalClientConfig(names))
		if err != nil {
			return err
		}
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		if _, err := io.WriteString(c, "ping"); err != nil {
			return err
		}
		_, err = c.Read(make([]byte, 1))
		return err
	}
	explain := func(err error) string {
		t.Helper()
		require.Error(t, err)
		why, ok := tlsFailure(err)
		require.True(t, ok, "not taken for a TLS failure: %v", err)
		assert.Contains(t, why, "both nodes need axoniq.axonserver.ssl.enabled alike")
		return why
	}

	goodPort := serve(good.internalServerConfig())
	t.Run("peer certificate for other names", func(t *testing.T) {
		err := dial(good, goodPort, "node7.example.com")
		var hostname x509.HostnameError
		assert.ErrorAs(t, err, &hostname)
		assert.Contains(t, explain(err), "the peer's certificate is valid for localhost, 127.0.0.1, not for node7.example.com")
	})
	t.Run("peer certificate of another CA", func(t *testing.T) {
		why := explain(dial(good, serve(rogue.internalServerConfig()), "127.0.0.1"))
		assert.Contains(t, why, "the peer's certificate is not trusted by "+keyInternalTrustCAs+": x509: certificate signed by unknown authority")
	})
	t.Run("this node's certificate refused", func(t *testing.T) {
		why := explain(dial(rogue, goodPort, "127.0.0.1"))
		assert.Contains(t, why, "the node there refused this node's certificate (unknown certificate authority)")
	})
	t.Run("peer without TLS", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		}()
		why := explain(dial(good, l.Addr().String(), "127.0.0.1"))
		assert.Contains(t, why, "the node there does not speak TLS (axoniq.axonserver.ssl.enabled=false there)")
	})
	t.Run("no TLS failure", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		err = dial(good, addr, "127.0.0.1")
		require.Error(t, err)
		_, ok := tlsFailure(err)
		assert.False(t, ok, "a refused connection taken for a TLS failure: %v", err)
	})
}
