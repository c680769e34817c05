package gossip

import (
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"
)

// TestMergeDelegateRefusesAliveMessagesOfRefusedNodes checks the delegate
// as serf calls it: every member with status "none" unless it left.
func TestMergeDelegateRefusesAliveMessagesOfRefusedNodes(t *testing.T) {
	r := newRegistry(store{dir: t.TempDir()}, state{Cluster: "c", Name: "self", NodeID: "s1"}, time.Now)
	r.observe("peer", NodeInfo{ID: "p1", ClientHost: "h"}, "a", StatusAlive)
	// Unregistered from the cluster: "peer" is exiled.
	require.NoError(t, r.reset(Member{Name: "self", Info: NodeInfo{ID: "s2"}, Status: StatusAlive}))
	d := &mergeDelegate{c: &Cluster{cfg: Config{Name: "self"}, reg: r}}

	member := func(name, id string, st serf.MemberStatus) *serf.Member {
		return &serf.Member{Name: name, Tags: map[string]string{tagID: id}, Status: st}
	}
	// One member: an alive message, or a joining node's own state.
	require.ErrorContains(t, d.NotifyMerge([]*serf.Member{member("peer", "p1", serf.StatusNone)}), "node peer (id p1) was unregistered")
	require.ErrorContains(t, d.NotifyMerge([]*serf.Member{member("self", "s1", serf.StatusNone)}), "uses this node's name")
	require.NoError(t, d.NotifyMerge([]*serf.Member{member("self", "s2", serf.StatusNone)}))
	require.NoError(t, d.NotifyMerge([]*serf.Member{member("peer", "p2", serf.StatusNone)}), "the same name under a new id is another node")
	require.NoError(t, d.NotifyMerge([]*serf.Member{member("peer", "p1", serf.StatusLeft)}), "news of a departure is harmless")
	// A cluster's whole state, which may still list refused nodes as dead:
	// its alive members come one by one as alive messages.
	require.NoError(t, d.NotifyMerge([]*serf.Member{member("other", "o1", serf.StatusNone), member("peer", "p1", serf.StatusNone)}))
}
