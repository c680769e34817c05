package node

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
)

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
