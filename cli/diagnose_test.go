package cli

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
)

// startNode runs a real node in this process on loopback with random ports.
func startNode(t *testing.T, name string) *node.Node {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.ClientHost, cfg.InternalHost, cfg.BindAddress = "127.0.0.1", "127.0.0.1", "127.0.0.1"
	cfg.Port, cfg.InternalPort, cfg.HTTPPort = 0, 0, 0
	cfg.ControlDBPath = t.TempDir()
	cfg.Cluster.GossipProfile = "local"
	n, err := node.Start(context.Background(), cfg, node.Options{Logger: zerolog.Nop()})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	return n
}

// -S pointed at a node's other ports says which port it hit and which to
// use, from what the port answers.
func TestServerOnTheWrongPortIsNamed(t *testing.T) {
	n := startNode(t, "n1")
	httpURL := "http://127.0.0.1:" + strconv.Itoa(n.Config().HTTPPort)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-S", "http://" + n.GRPCAddr()},
			"roster: cluster: http://" + n.GRPCAddr() + " is the client gRPC port (axoniq.axonserver.port) of node n1, without TLS, not an HTTP port: use -S " + httpURL + "\n"},
		{[]string{"-s", "-S", n.GRPCAddr()},
			"roster: cluster: https://" + n.GRPCAddr() + " is the client gRPC port (axoniq.axonserver.port) of node n1, without TLS, not an HTTP port: use -S " + httpURL + "\n"},
		{[]string{"-S", "http://" + n.InternalAddr()},
			"roster: cluster: http://" + n.InternalAddr() + " is the internal port (axoniq.axonserver.internal-port) of a roster node, without TLS, not an HTTP port: use the node's HTTP port with -S (server.port, 8024 by default)\n"},
		{[]string{"-s", "-S", "127.0.0.1:" + strconv.Itoa(n.Config().HTTPPort)},
			"roster: cluster: cannot reach https://127.0.0.1:" + strconv.Itoa(n.Config().HTTPPort) + ": the server speaks plain HTTP, not HTTPS: use an http:// URL with -S and no -s/--https\n"},
	} {
		r := run(t, "", append([]string{"cluster", "--timeout", "5s"}, c.args...)...)
		assert.Equal(t, ExitFailure, r.code, c.args)
		assert.Equal(t, c.want, r.stderr, c.args)
	}

	// keys and unregister-node explain the same way.
	r := run(t, "", "keys", "list", "-S", "http://"+n.GRPCAddr())
	assert.Contains(t, r.stderr, "is the client gRPC port (axoniq.axonserver.port) of node n1")
	r = run(t, "", "unregister-node", "-n", "x", "-S", "http://"+n.GRPCAddr())
	assert.Contains(t, r.stderr, "is the client gRPC port (axoniq.axonserver.port) of node n1")

	// -s with an http:// URL is a contradiction, said before anything is sent.
	r = run(t, "", "cluster", "-s", "-S", httpURL)
	assert.Equal(t, ExitUsage, r.code)
	assert.Equal(t, "roster: cluster: -s/--https and the http:// URL \""+httpURL+"\" contradict each other: write https:// for TLS, or drop -s for plain HTTP (see roster cluster --help)\n", r.stderr)
}

// Every admin command gives up on a node that accepts connections and
// never answers, naming its URL and the timeout.
func TestEveryCommandTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	url := "http://" + l.Addr().String()
	const key = "kTcRYOmJBmvyB8XoqXh8Q0vbdvFqGDVzM0KDYlJHzc8="
	for _, c := range []struct{ command, args string }{
		{"cluster", ""},
		{"cluster", "--watch"},
		{"unregister-node", "-n n2"},
		{"keys list", ""},
		{"keys install", key},
		{"keys use", key},
		{"keys remove", key},
	} {
		args := append(strings.Fields(c.command+" "+c.args), "-S", url, "--timeout", "300ms")
		start := time.Now()
		r := run(t, "", args...)
		assert.Less(t, time.Since(start), 5*time.Second, args)
		assert.Equal(t, ExitFailure, r.code, args)
		assert.Equal(t, "roster: "+c.command+": no answer from "+url+" within --timeout 300ms\n", r.stderr, args)
	}
}
