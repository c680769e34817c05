package node_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

// TestGarbageOnInternalPort has a stranger send garbage to a node's
// internal port over UDP and TCP, and hold connections that send nothing
// or start like gossip and stall. The node keeps serving gossip and REST,
// counts what it drops, and closes the stalled connections by itself.
func TestGarbageOnInternalPort(t *testing.T) {
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var cfgs [2]node.Config
			var mk func(*node.Node) *api.Client
			if secure {
				ca := node.NewTestCA(t, "roster-test-ca")
				key := newGossipKey(t)
				for i := range cfgs {
					cfgs[i] = secureConfig(t, []string{"n1", "n2"}[i], security{ca: ca, key: key})
				}
				mk = func(n *node.Node) *api.Client { return secureClient(n, ca, testToken) }
			} else {
				for i := range cfgs {
					cfgs[i] = testConfig(t, []string{"n1", "n2"}[i], t.TempDir())
				}
				mk = client
			}
			n1, reg := runNodeWithMetrics(t, cfgs[0])
			n2 := runNode(t, cfgs[1])
			register(t, n2, n1)
			nodes := []*node.Node{n1, n2}
			clients := []*api.Client{mk(n1), mk(n2)}
			waitAllAlive(t, 15*time.Second, nodes, clients)
			addr := n1.InternalAddr()

			// TCP: silent, a gossip label byte then nothing, a label that
			// claims 200 bytes and stops, random bytes, a plain HTTP/2 preface.
			silent := dialRaw(t, addr)
			stalled := dialRaw(t, addr, 244)
			stalledLabel := dialRaw(t, addr, 244, 200, 't', 'e')
			junk := make([]byte, 4096)
			_, _ = rand.Read(junk)
			_ = dialRaw(t, addr, junk...)
			_ = dialRaw(t, addr, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00garbage")...)

			// UDP: random packets, an empty one, a label header claiming
			// more than the packet holds, and a right label with junk.
			udp, err := net.Dial("udp", addr)
			require.NoError(t, err)
			defer udp.Close()
			packets := [][]byte{{}, {244}, {244, 250, 't'}, append([]byte{244, 4, 't', 'e', 's', 't'}, junk[:512]...)}
			for i := 0; i < 200; i++ {
				p := make([]byte, 1+i*7%1400)
				_, _ = rand.Read(p)
				packets = append(packets, p)
			}
			for _, p := range packets {
				_, _ = udp.Write(p)
			}

			// Gossip and REST go on while the stranger holds its connections.
			watch := watchStatuses(clients)
			watch.sampleFor(t, 3*time.Second)
			watch.stop(t)
			reason := "malformed"
			if secure {
				reason = "decrypt" // the right label, but not the key
			}
			require.Positive(t, dropped(t, reg, reason), "garbage counted as %s", reason)

			// The node hangs up on the stalled connections by itself: the
			// silent one when its first bytes are overdue (10s), the others
			// when the gossip header or the TLS handshake is.
			for what, c := range map[string]net.Conn{"silent": silent, "stalled at 244": stalled, "stalled in a label": stalledLabel} {
				requireClosedByPeer(t, c, 15*time.Second, what)
			}
			me, err := clients[0].Me(context.Background())
			require.NoError(t, err)
			require.Equal(t, "n1", me.Name)
		})
	}
}

// dialRaw opens a TCP connection that sends first and then nothing.
func dialRaw(t *testing.T, addr string, first ...byte) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	if len(first) > 0 {
		_, err = c.Write(first)
		require.NoError(t, err)
	}
	return c
}

// requireClosedByPeer waits for the node to close c: a read that ends
// with EOF or a reset before our own deadline.
func requireClosedByPeer(t *testing.T, c net.Conn, within time.Duration, what string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // a TLS alert or a plain HTTP answer: read on to the end
		}
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "%s connection still open after %s", what, within)
		require.True(t, errors.Is(err, io.EOF) || isReset(err), "%s: %v", what, err)
		return
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read"
}
