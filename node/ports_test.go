package node_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// freePort finds a TCP and UDP port that is free right now.
func freePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return p
		}
	}
	t.Fatal(errNoPort)
	return 0
}
