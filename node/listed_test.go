package node_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

// The node that joined asks its peers on their internal addresses whether
// they list it, and reports per node: listed, or why it cannot ask.
func TestListedAsksEveryPeerOverTheInternalPort(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	ctx := context.Background()
	l, err := client(nodes[2]).Listed(ctx, 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "n3", l.Name)
	assert.True(t, l.Complete, "%+v", l)
	require.Len(t, l.Nodes, 2)
	for i, n := range l.Nodes {
		assert.Equal(t, nodes[i].Name(), n.Name)
		assert.Equal(t, api.ListedYes, n.State, n.Message)
		assert.Equal(t, nodes[i].Config().InternalHost+":"+itoa(nodes[i].Config().InternalPort), n.Address)
	}

	// A stopped peer is not waited for.
	stop(nodes[1])
	waitStatus(t, 10*time.Second, "n2", "left", nodes[0], nodes[2])
	l, err = client(nodes[2]).Listed(ctx, 2*time.Second)
	require.NoError(t, err)
	assert.True(t, l.Complete, "%+v", l)
	assert.Equal(t, api.ListedNotAsked, l.Nodes[1].State)

	// A bad timeout is refused.
	_, err = client(nodes[2]).Listed(ctx, time.Hour)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, api.CodeInvalidValue, ae.Code)
}

// A peer whose internal host name does not resolve where the asking node
// runs cannot be asked: that is said at once, not waited on.
func TestListedNamesAPeerThatCannotBeAsked(t *testing.T) {
	t.Parallel()
	n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
	cfg := testConfig(t, "n2", t.TempDir())
	cfg.InternalHost = "n2.invalid" // gossip still finds it at the bind address
	n2 := runNode(t, cfg)
	register(t, n2, n1)
	n3 := runNode(t, testConfig(t, "n3", t.TempDir()))
	register(t, n3, n1)
	checkClusterFormed(t, n1, n2, n3)

	start := time.Now()
	l, err := client(n3).Listed(context.Background(), 5*time.Second)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 4*time.Second, "an unknown host is not waited on")
	assert.False(t, l.Complete)
	require.Len(t, l.Nodes, 2)
	assert.Equal(t, api.ListedYes, l.Nodes[0].State)
	assert.Equal(t, api.ListedNode{Name: "n2", Address: "n2.invalid:" + itoa(n2.Config().InternalPort), Status: "alive",
		State: api.ListedUnreachable, Message: "unknown host n2.invalid"}, l.Nodes[1])
}

func itoa(i int) string { return strconv.Itoa(i) }
