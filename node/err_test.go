package node_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
)

// A server loop that ends while the node is not stopping is reported on
// Err, naming the server; Stop still works afterwards.
func TestErrReportsAServerThatDied(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	select {
	case err := <-n.Err():
		t.Fatalf("Err before any failure: %v", err)
	default:
	}
	require.NoError(t, node.CloseHTTPListener(n))
	select {
	case err := <-n.Err():
		require.ErrorContains(t, err, "node: http server stopped")
	case <-time.After(10 * time.Second):
		t.Fatal("Err reported nothing within 10s of the HTTP listener closing")
	}
	_, err := http.Get("http://" + n.HTTPAddr() + "/actuator/health")
	require.Error(t, err, "the HTTP port no longer answers")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
}

// Stopping a node reports nothing on Err.
func TestErrSilentOnStop(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
	select {
	case err := <-n.Err():
		t.Fatalf("Err after Stop: %v", err)
	default:
	}
}
