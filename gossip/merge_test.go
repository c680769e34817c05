package gossip

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
)

// TestMergeDelegateRefusesAliveMessagesOfRefusedNodes checks the delegate
// as memberlist calls it: one node for an alive message or a joining
// node's state, many for a cluster's state.
func TestMergeDelegateRefusesAliveMessagesOfRefusedNodes(t *testing.T) {
	r := newRegistry(store{dir: t.TempDir()}, state{Cluster: "c", Name: "self", NodeID: "s1"}, time.Now)
	r.observe("peer", NodeInfo{ID: "p1", ClientHost: "h"}, "a", StatusAlive)
	// Unregistered from the cluster: "peer" is exiled.
	require.NoError(t, r.reset(Member{Name: "self", Info: NodeInfo{ID: "s2"}, Status: StatusAlive}))
	d := &mergeDelegate{c: &Cluster{cfg: Config{Name: "self"}, reg: r}}

	node := func(name, id string, st memberlist.NodeStateType) *memberlist.Node {
		meta, err := encodeMeta(NodeInfo{ID: id, ClientHost: "h", GRPCPort: 8124, HTTPPort: 8024, InternalPort: 8224}.Tags())
		require.NoError(t, err)
		return &memberlist.Node{Name: name, Meta: meta, State: st}
	}
	alive := memberlist.StateAlive
	// One node: an alive message, or a joining node's own state.
	for _, notify := range []func(n *memberlist.Node) error{
		d.NotifyAlive,
		func(n *memberlist.Node) error { return d.NotifyMerge([]*memberlist.Node{n}) },
	} {
		require.ErrorContains(t, notify(node("peer", "p1", alive)), "node peer (id p1) was unregistered")
		require.ErrorContains(t, notify(node("self", "s1", alive)), "uses this node's name")
		require.NoError(t, notify(node("self", "s2", alive)))
		require.NoError(t, notify(node("peer", "p2", alive)), "the same name under a new id is another node")
		require.NoError(t, notify(node("peer", "p1", memberlist.StateLeft)), "news of a departure is harmless")
	}
	// Not a roster node: unreadable or foreign metadata, or a bad name.
	require.ErrorContains(t, d.NotifyAlive(&memberlist.Node{Name: "peer", Meta: []byte{tagMagicByte, 0xc1}}), "not a roster node")
	plain, err := encodeMeta(map[string]string{"role": "web"})
	require.NoError(t, err)
	require.ErrorContains(t, d.NotifyAlive(&memberlist.Node{Name: "rogue", Meta: plain, State: alive}), "not a roster node")
	require.ErrorContains(t, d.NotifyMerge([]*memberlist.Node{{Name: "rogue", Meta: nil, State: alive}}), "not a roster node")
	require.ErrorContains(t, d.NotifyAlive(node("..", "x1", alive)), "not a roster node")
	// A cluster's whole state, which may still list refused nodes as dead:
	// its alive members come one by one as alive messages.
	require.NoError(t, d.NotifyMerge([]*memberlist.Node{node("other", "o1", alive), node("peer", "p1", memberlist.StateDead)}))
}

// TestMergeDelegateDeclinesWholeStatesDuringTheJoinFanout: while this node
// announces itself to every member, the members' whole states are not
// merged (the contact's is, by the join that follows); a joining node's own
// state is still checked, and outside the fan-out whole states merge.
func TestMergeDelegateDeclinesWholeStatesDuringTheJoinFanout(t *testing.T) {
	r := newRegistry(store{dir: t.TempDir()}, state{Cluster: "c", Name: "self", NodeID: "s1"}, time.Now)
	c := &Cluster{cfg: Config{Name: "self"}, reg: r}
	d := &mergeDelegate{c: c}
	meta, err := encodeMeta(NodeInfo{ID: "a1", ClientHost: "h", GRPCPort: 8124, HTTPPort: 8024, InternalPort: 8224}.Tags())
	require.NoError(t, err)
	whole := []*memberlist.Node{{Name: "a", Meta: meta, State: memberlist.StateAlive}, {Name: "b", Meta: meta, State: memberlist.StateAlive}}
	one := []*memberlist.Node{{Name: "a", Meta: meta, State: memberlist.StateAlive}}

	require.NoError(t, d.NotifyMerge(whole))
	c.fanouts.Add(1)
	require.ErrorIs(t, d.NotifyMerge(whole), errFanoutReply)
	require.NoError(t, d.NotifyMerge(one), "a joining node's own state is merged")
	c.fanouts.Add(-1)
	require.NoError(t, d.NotifyMerge(whole))
}
