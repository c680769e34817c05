package node_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/node"
)

// TestDataDirOfAnotherNodeNamesTheProperties starts a node on the data
// directory of another node, and of another cluster: the error names the
// properties to change.
func TestDataDirOfAnotherNodeNamesTheProperties(t *testing.T) {
	dir := t.TempDir()
	stop(runNode(t, testConfig(t, "n1", dir)))

	start := func(cfg node.Config) error {
		n, err := node.Start(context.Background(), cfg, node.Options{Logger: zerolog.Nop()})
		if err == nil {
			stop(n)
		}
		return err
	}
	other := testConfig(t, "n1", dir)
	other.Cluster.Name = "other"
	err := start(other)
	require.ErrorContains(t, err, `holds the state of cluster "test", but axoniq.axonserver.cluster.name is "other"`)
	require.ErrorIs(t, err, gossip.ErrClusterName)
	var dd *gossip.DataDirError
	require.ErrorAs(t, err, &dd)

	err = start(testConfig(t, "n9", dir))
	require.ErrorContains(t, err, `holds the state of node "n1", but axoniq.axonserver.name is "n9"; use another axoniq.axonserver.controldb-path for another node`)
	require.NotErrorIs(t, err, gossip.ErrClusterName)
}
