package node_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

// TestAccessControlNeedsGossipKey starts a node with access control on and
// no gossip key: it is refused with one message naming both properties and
// `roster keygen`, and writes nothing. A node whose data directory holds
// the keyring of an earlier start (or of a key rotation) has a key: it
// starts without the property, and keyed peers join it.
func TestAccessControlNeedsGossipKey(t *testing.T) {
	t.Parallel()
	const want = "node: axoniq.axonserver.accesscontrol.enabled=true needs axoniq.axonserver.cluster.encryption-key: " +
		"gossip without a key lets any peer join; generate one with `roster keygen`"
	dir := t.TempDir()
	cfg := testConfig(t, "n1", dir)
	cfg.AccessControl = node.AccessControlConfig{Enabled: true, Token: testToken}

	_, err := node.Start(context.Background(), cfg, node.Options{Logger: testLogger(t)})
	require.EqualError(t, err, want)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a refused node writes nothing")

	// Started once with the key, the node saves its keyring...
	key := newGossipKey(t)
	keyed := cfg
	keyed.Cluster.EncryptionKey = key
	stop(runNode(t, keyed))
	require.FileExists(t, filepath.Join(dir, "keyring.json"))

	// ...and later starts without the property, gossiping with that key:
	// a peer with the same key joins it.
	n1 := runNode(t, cfg)
	peer := testConfig(t, "n2", t.TempDir())
	peer.AccessControl = cfg.AccessControl
	peer.Cluster.EncryptionKey = key
	n2 := runNode(t, peer)
	register(t, n2, n1)
	withToken := func(n *node.Node) *api.Client { return api.NewClient("http://"+n.HTTPAddr(), testToken, false) }
	waitAllAlive(t, 15*time.Second, []*node.Node{n1, n2}, []*api.Client{withToken(n1), withToken(n2)})
}
