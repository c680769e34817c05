package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"

	"github.com/rosterhq/roster/gossip"
)

// Property names of the TLS files, for messages.
const (
	keyCertChain        = "axoniq.axonserver.ssl.cert-chain-file"
	keyPrivateKey       = "axoniq.axonserver.ssl.private-key-file"
	keyInternalChain    = "axoniq.axonserver.ssl.internal-cert-chain-file"
	keyInternalKey      = "axoniq.axonserver.ssl.internal-private-key-file"
	keyInternalTrustCAs = "axoniq.axonserver.ssl.internal-trust-manager-file"
)

// tlsSetup is the node's TLS material with axoniq.axonserver.ssl.enabled:
//   - the HTTP and client gRPC ports present the public certificate;
//   - the internal port's TCP side (gossip streams and internal gRPC) runs
//     inside TLS with the internal certificate, which also identifies this
//     node when it dials others;
//   - with internal-trust-manager-file, nodes require each other's
//     certificates (mutual TLS) and accept only those its CAs signed;
//     without it, a node checks the certificate of the node it dials
//     against the system's roots and asks no certificate of callers.
//
// Every file is reloaded when it changes.
type tlsSetup struct {
	public   *certSource
	internal *certSource
	trust    *poolSource // nil: system roots, no client certificates
}

func newTLSSetup(c SSLConfig, log zerolog.Logger) (*tlsSetup, error) {
	public, err := newCertSource(keyCertChain, c.CertChainFile, keyPrivateKey, c.PrivateKeyFile, log)
	if err != nil {
		return nil, err
	}
	t := &tlsSetup{public: public, internal: public}
	if c.InternalCertChainFile != "" || c.InternalPrivateKeyFile != "" {
		chainKey, chain := keyInternalChain, c.InternalCertChainFile
		if chain == "" {
			chainKey, chain = keyCertChain, c.CertChainFile
		}
		keyKey, key := keyInternalKey, c.InternalPrivateKeyFile
		if key == "" {
			keyKey, key = keyPrivateKey, c.PrivateKeyFile
		}
		if t.internal, err = newCertSource(chainKey, chain, keyKey, key, log); err != nil {
			return nil, err
		}
	}
	if c.InternalTrustManagerFile != "" {
		if t.trust, err = newPoolSource(keyInternalTrustCAs, c.InternalTrustManagerFile, log); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// publicConfig is the server side of the HTTP and client gRPC ports.
func (t *tlsSetup) publicConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: t.public.getCertificate, NextProtos: nextProtos}
}

// internalServerConfig is the server side of the internal port. h2 is
// offered for gRPC clients, which insist on it; gossip streams offer no
// protocol and get none.
func (t *tlsSetup) internalServerConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: t.internal.getCertificate, NextProtos: []string{"h2"}}
	if t.trust == nil {
		return cfg
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = t.trust.pool()
	// A fresh config per handshake picks up a changed trust file.
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{
			MinVersion: tls.VersionTLS12, GetCertificate: t.internal.getCertificate, NextProtos: []string{"h2"},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: t.trust.pool(),
		}, nil
	}
	return cfg
}

// internalClientConfig is the side of a node that dials another node's
// internal port; names are the host names or IPs the peer's certificate
// may be valid for (any one is enough).
func (t *tlsSetup) internalClientConfig(names []string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: t.internal.getClientCertificate,
		// The chain and name are checked in VerifyConnection against the
		// trust file as it is now; a static RootCAs would not follow it
		// when it changes. This is not "no verification".
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   func(cs tls.ConnectionState) error { return t.verifyPeer(cs, names) },
	}
}

// verifyPeer checks the certificate of a node this node dialed: signed by
// the trusted CAs (or the system's roots), fit for a server, and valid for
// one of names.
func (t *tlsSetup) verifyPeer(cs tls.ConnectionState, names []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("node: tls: the peer sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if t.trust != nil {
		opts.Roots = t.trust.pool()
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		trusted := "the system's roots (set " + keyInternalTrustCAs + " to trust your own CA)"
		if t.trust != nil {
			trusted = keyInternalTrustCAs
		}
		return fmt.Errorf("node: tls: the peer's certificate is not trusted by %s: %w", trusted, err)
	}
	for _, n := range names {
		if n != "" && leaf.VerifyHostname(n) == nil {
			return nil
		}
	}
	return fmt.Errorf("node: tls: the peer's certificate is valid for %s, not for %s",
		certNames(leaf), strings.Join(names, " or "))
}

func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no host name (it has no subject alternative names)"
	}
	return strings.Join(names, ", ")
}

// setupTLS loads the TLS files and puts the HTTP port and the internal
// port's TCP side inside TLS. It runs before the internal port is split
// between gossip and gRPC, so both travel inside TLS. The client gRPC port
// gets its credentials in clientServerOptions.
func (n *Node) setupTLS(ls *listeners) error {
	n.warnInsecureCombinations()
	if !n.cfg.SSL.Enabled {
		return nil
	}
	t, err := newTLSSetup(n.cfg.SSL, n.log)
	if err != nil {
		return err
	}
	n.tls = t
	// net/http itself answers plain HTTP on a TLS connection with a 400.
	ls.http = tls.NewListener(ls.http, t.publicConfig("http/1.1"))
	ls.internalTCP = &tlsListener{Listener: ls.internalTCP, cfg: t.internalServerConfig()}
	return nil
}

// warnInsecureCombinations logs settings that leave a door half open.
func (n *Node) warnInsecureCombinations() {
	if n.cfg.AccessControl.Enabled && !n.cfg.SSL.Enabled {
		n.log.Warn().Msg("node: access control is on but axoniq.axonserver.ssl.enabled is false: tokens travel in clear text")
	}
	if n.cfg.SSL.Enabled && n.cfg.Cluster.EncryptionKey == "" {
		n.log.Warn().Msg("node: TLS is on but axoniq.axonserver.cluster.encryption-key is not set: gossip packets (UDP) are neither encrypted nor authenticated")
	}
}

// clientCredentials are the client gRPC port's TLS credentials, nil
// without TLS.
func (n *Node) clientCredentials() credentials.TransportCredentials {
	if n.tls == nil {
		return nil
	}
	return plainHintCreds{credentials.NewTLS(n.tls.publicConfig())}
}

// internalCredentials secure this node's calls to other nodes' internal
// gRPC service; nil without TLS.
func (n *Node) internalCredentials() credentials.TransportCredentials {
	if n.tls == nil {
		return nil
	}
	return &internalCreds{t: n.tls, names: n.peerNames}
}

// gossipDialer opens gossip streams to other nodes inside TLS; nil (plain
// TCP) without TLS.
func (n *Node) gossipDialer() gossip.Dialer {
	if n.tls == nil {
		return nil
	}
	return func(ctx context.Context, address string) (net.Conn, error) {
		d := tls.Dialer{Config: n.tls.internalClientConfig(n.peerNames(address))}
		return d.DialContext(ctx, "tcp", address)
	}
}

// peerNames are the names a peer's certificate may carry when it is
// dialed at address (host:port, or a bare host): the host dialed, and,
// when that is a member's gossip address (an IP), its internal host name.
func (n *Node) peerNames(address string) []string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	names := []string{host}
	if n.cluster == nil {
		return names
	}
	for _, m := range n.cluster.Members() {
		if m.Addr == address && m.Info.InternalHost != host {
			names = append(names, m.Info.InternalHost)
		}
	}
	return names
}

// internalCreds are gRPC credentials that verify the dialed node's
// certificate against the names of the address dialed (gRPC's own TLS
// credentials cannot: the trust file may change, and an IP is not sent in
// SNI, so the verifier would not learn it).
type internalCreds struct {
	t     *tlsSetup
	names func(address string) []string
}

func (c *internalCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.t.internalClientConfig(c.names(authority))).ClientHandshake(ctx, authority, raw)
}

func (c *internalCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("node: internal credentials are for dialing only")
}

func (c *internalCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

func (c *internalCreds) Clone() credentials.TransportCredentials { cp := *c; return &cp }

func (c *internalCreds) OverrideServerName(string) error { return nil }

// tlsListener is tls.NewListener with a clear answer to plain HTTP.
type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	raw := &plainHintConn{Conn: c}
	return &serverTLSConn{Conn: tls.Server(raw, l.cfg), raw: raw}, nil
}

// serverTLSConn closes a connection whose handshake failed gently (see
// lingerClose), so the client reads why.
type serverTLSConn struct {
	*tls.Conn
	raw       *plainHintConn
	handshook atomic.Bool
}

func (c *serverTLSConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 || err == nil {
		c.handshook.Store(true)
	}
	return n, err
}

func (c *serverTLSConn) Close() error {
	if !c.handshook.Load() {
		return c.raw.lingerClose()
	}
	return c.Conn.Close()
}

// plainHintCreds are gRPC server credentials that answer plain HTTP with
// the same clear 400 as tlsListener.
type plainHintCreds struct {
	credentials.TransportCredentials
}

func (c plainHintCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	hint := &plainHintConn{Conn: raw}
	// gRPC closes the connection within a failed handshake: gently then.
	hint.lingerOnClose.Store(true)
	conn, info, err := c.TransportCredentials.ServerHandshake(hint)
	hint.lingerOnClose.Store(false)
	if err != nil {
		// The failed handshake closed hint, which lingers; gRPC must not
		// close the raw connection under it, and leaves alone those
		// "dispatched" elsewhere.
		return nil, nil, credentials.ErrConnDispatched
	}
	return conn, info, nil
}

func (c plainHintCreds) Clone() credentials.TransportCredentials {
	return plainHintCreds{c.TransportCredentials.Clone()}
}

// plainHTTPReply is what net/http answers plain HTTP on an HTTPS port with;
// the same words let clients (and the roster CLI) recognise the mistake.
const plainHTTPReply = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"Client sent an HTTP request to an HTTPS server.\n"

// plainHintConn sits under a TLS server connection. When the first bytes a
// client sends are a plain HTTP request (or a plain HTTP/2 preface, as a
// gRPC client without TLS sends), it answers them with plainHTTPReply; the
// TLS handshake then fails and the connection is closed as it would be
// anyway. The client gets an answer that says why instead of an EOF.
type plainHintConn struct {
	net.Conn
	checked       bool // only the first read can be plain HTTP; one reader
	lingerOnClose atomic.Bool
}

// lingerTime bounds how long a refused connection is kept to deliver the
// reason.
const lingerTime = 2 * time.Second

// lingerClose ends a connection whose TLS handshake failed the way
// net/http does: it sends what was written (the TLS alert, or the plain
// HTTP answer) and a FIN, then reads what the client still sends for a
// moment before closing. Closing at once with unread input would make the
// kernel send a reset, and the client would see "broken pipe" instead of
// "unknown certificate authority" (in TLS 1.3 the client's handshake ends
// before the server has checked its certificate).
func (c *plainHintConn) lingerClose() error {
	if tc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	go func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20))
		_ = c.Conn.Close()
	}()
	return nil
}

func (c *plainHintConn) Close() error {
	if c.lingerOnClose.Load() {
		return c.lingerClose()
	}
	return c.Conn.Close()
}

func (c *plainHintConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.checked && n > 0 {
		c.checked = true
		if looksLikePlainHTTP(b[:n]) {
			_, _ = io.WriteString(c.Conn, plainHTTPReply)
		}
	}
	return n, err
}

func looksLikePlainHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "PRI * HTTP/2"} {
		if bytes.HasPrefix(b, []byte(m)) || len(b) < len(m) && bytes.HasPrefix([]byte(m), b) && len(b) >= 3 {
			return true
		}
	}
	return false
}

// tlsFailure explains an error of a call to another node that failed in
// TLS, and what to check; ok is false for other errors.
func tlsFailure(err error) (why string, ok bool) {
	msg := err.Error()
	const check = "; both nodes need axoniq.axonserver.ssl.enabled alike, and with " + keyInternalTrustCAs +
		" internal certificates signed by a CA in the other node's trust file"
	switch {
	case strings.Contains(msg, "looked like an HTTP/1.1 header"), strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"),
		strings.Contains(msg, "error reading server preface: http2: frame too large"):
		return "the node there requires TLS and this node has axoniq.axonserver.ssl.enabled=false" + check, true
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the node there does not speak TLS (axoniq.axonserver.ssl.enabled=false there)" + check, true
	case strings.Contains(msg, "remote error: tls: "):
		_, alert, _ := strings.Cut(msg, "remote error: tls: ")
		return "the node there refused this node's certificate (" + strings.TrimSuffix(alert, `"`) + ")" + check, true
	}
	for _, marker := range []string{"node: tls: ", "x509: ", "tls: "} {
		if i := strings.Index(msg, marker); i >= 0 {
			why = strings.TrimSuffix(strings.TrimPrefix(msg[i:], "node: tls: "), `"`)
			return why + check, true
		}
	}
	return "", false
}

// lastCause is the innermost words of an error that may span lines (serf's
// multierror): "remote state is encrypted and encryption is not configured".
func lastCause(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// httpErrorLog takes net/http's own messages, mostly failed TLS handshakes
// of clients with the wrong scheme or an untrusted CA, into the node's log
// at debug level rather than onto stderr.
func (n *Node) httpErrorLog() *log.Logger {
	return log.New(debugWriter{n.log}, "", 0)
}

type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
