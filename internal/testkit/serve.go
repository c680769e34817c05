package testkit

import (
	"net"
	"testing"
)

// Serve accepts connections on l until the test ends, each handled by
// handle in its own goroutine (which closes the connection when handle
// returns), and returns l's address. For peers that misbehave on purpose
// and servers a test needs only the far side of.
func Serve(t testing.TB, l net.Listener, handle func(net.Conn)) string {
	t.Helper()
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().String()
}

// Listen is a TCP listener on a random loopback port, closed when the
// test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: listen on loopback: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}
