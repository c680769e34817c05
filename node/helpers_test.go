package node_test

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

// testConfig is a node on loopback with the fast gossip profile, on ports
// this test process holds: a node restarted with the same configuration
// finds its ports still free.
func testConfig(t testing.TB, name, dir string) node.Config {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.ClientHost, cfg.InternalHost = "127.0.0.1", "127.0.0.1"
	cfg.BindAddress = "127.0.0.1"
	first := ports.Range(t, 3)
	cfg.Port, cfg.InternalPort, cfg.HTTPPort = first, first+1, first+2
	cfg.ControlDBPath = dir
	cfg.Cluster.Name = "test"
	cfg.Cluster.GossipProfile = "local"
	return cfg
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(newTestLogWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// testLogWriter writes a node's log to the test's log until the test ends.
// serf leaves goroutines behind Shutdown (the reap of a force-removed
// member logs after a delay); the testing package panics when they log
// into a finished test, so their lines are dropped instead.
type testLogWriter struct {
	mu   sync.Mutex
	done bool
	w    io.Writer
}

func newTestLogWriter(t testing.TB) *testLogWriter {
	w := &testLogWriter{w: zerolog.NewTestWriter(t)}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}

// runNode starts a node and stops it (gracefully) at the end of the test.
func runNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), cfg, node.Options{Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { stop(n) })
	return n
}

func stop(n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.Stop(ctx)
}

// runCluster starts n nodes named n1..nN and registers each through n1.
func runCluster(t testing.TB, count int) []*node.Node {
	t.Helper()
	nodes := make([]*node.Node, count)
	for i := range nodes {
		nodes[i] = runNode(t, testConfig(t, fmt.Sprintf("n%d", i+1), t.TempDir()))
	}
	for _, n := range nodes[1:] {
		register(t, n, nodes[0])
	}
	checkClusterFormed(t, nodes...)
	return nodes
}

func register(t testing.TB, n, via *node.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, n.Register(ctx, "127.0.0.1", via.Config().InternalPort))
}

func client(n *node.Node) *api.Client {
	return api.NewClient("http://"+n.HTTPAddr(), "", false)
}

// statuses is what n's REST API says about every registered node.
func statuses(t testing.TB, n *node.Node) map[string]string {
	nodes, err := client(n).Nodes(context.Background())
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, x := range nodes {
		out[x.Name] = x.Status
	}
	return out
}

// eventually polls cond with a deadline.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, within, 20*time.Millisecond, what)
}

// checkClusterFormed waits until every node lists every node alive.
func checkClusterFormed(t testing.TB, nodes ...*node.Node) {
	t.Helper()
	want := map[string]string{}
	for _, n := range nodes {
		want[n.Name()] = "alive"
	}
	for _, n := range nodes {
		eventually(t, 15*time.Second, "cluster formed on "+n.Name(), func() bool {
			got := statuses(t, n)
			return mapsEqual(got, want)
		})
	}
}

// waitStatus waits until every observer shows member with status.
func waitStatus(t testing.TB, within time.Duration, member, status string, observers ...*node.Node) {
	t.Helper()
	for _, o := range observers {
		eventually(t, within, fmt.Sprintf("%s sees %s %s", o.Name(), member, status), func() bool {
			return statuses(t, o)[member] == status
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func names(nodes []api.Node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}
