package node_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

// forward accepts on a loopback port of its own and copies each
// connection to target, as a NAT or a Service in front of a node does.
func forward(t *testing.T, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return l.Addr().String()
}

func registerVia(n *node.Node, host string, port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return n.Register(ctx, host, port)
}

// A join through the node's own address, in any form, is refused with
// AXONIQ-2500 and changes nothing.
func TestJoinThroughItselfIsRefused(t *testing.T) {
	t.Parallel()
	n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
	port := n1.Config().InternalPort
	for _, host := range []string{"0.0.0.0", "::", "127.0.0.1", "localhost", "n1", "LOCALHOST"} {
		err := registerVia(n1, host, port)
		requireAPIError(t, err, api.CodeSameNodeName, "this node's own internal address")
	}

	// Through an address that leads here by a way the node cannot see
	// (a forwarded port: NAT, a Service): its own answer tells.
	host, p, err := net.SplitHostPort(forward(t, n1.InternalAddr()))
	require.NoError(t, err)
	fport, _ := strconv.Atoi(p)
	requireAPIError(t, registerVia(n1, host, fport), api.CodeSameNodeName, "address of this node itself")

	// Over REST: 400 with the code, never 202.
	resp, err := http.Post("http://"+n1.HTTPAddr()+"/v1/cluster", "application/json",
		strings.NewReader(`{"internalHostName":"0.0.0.0","internalGrpcPort":`+strconv.Itoa(port)+`}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	assert.Contains(t, string(body), api.CodeSameNodeName)

	nodes, err := client(n1).Nodes(context.Background())
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	assert.Equal(t, "alive", nodes[0].Status)
}

// A join pointed at another node's HTTP or client gRPC port says which
// port it hit and which one to use.
func TestJoinThroughAnotherPortNamesIt(t *testing.T) {
	t.Parallel()
	n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
	n2 := runNode(t, testConfig(t, "n2", t.TempDir()))
	internal := strconv.Itoa(n1.Config().InternalPort)

	err := registerVia(n2, "127.0.0.1", n1.Config().HTTPPort)
	requireAPIError(t, err, api.CodeCannotJoin,
		"that is the HTTP port (server.port) of node n1, without TLS, not its internal port: use port "+internal+" (n1's axoniq.axonserver.internal-port; -p with register-node)")
	assert.NotContains(t, err.Error(), "TLS between")

	err = registerVia(n2, "127.0.0.1", n1.Config().Port)
	requireAPIError(t, err, api.CodeCannotJoin,
		"that is the client gRPC port (axoniq.axonserver.port) of node n1, without TLS, not its internal port: use port "+internal)
	assert.NotContains(t, err.Error(), "unknown service")

	// Nothing changed; the right port still works.
	require.NoError(t, registerVia(n2, "127.0.0.1", n1.Config().InternalPort))
	checkClusterFormed(t, n1, n2)
}
