package gossip

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
)

// TestRegistrySuspicions checks the comparison pollStatuses makes every
// poll: which members change between alive and suspect, and whether a
// registered peer is alive; unregistered nodes and this node are ignored.
func TestRegistrySuspicions(t *testing.T) {
	r := newRegistry(store{dir: t.TempDir()}, state{Cluster: "c", Name: "self", NodeID: "s1"}, time.Now)
	for _, name := range []string{"a", "b", "c", "d"} {
		r.observe(name, NodeInfo{ID: name + "1"}, "addr", StatusAlive)
	}
	r.setStatus("c", StatusSuspect)
	r.setStatus("d", StatusFailed)
	node := func(name string, st memberlist.NodeStateType) *memberlist.Node {
		return &memberlist.Node{Name: name, State: st}
	}

	suspect, alive, connected := r.suspicions("self", []*memberlist.Node{
		node("self", memberlist.StateAlive),
		node("a", memberlist.StateSuspect), // alive here: now suspect
		node("b", memberlist.StateAlive),   // alive both: no change
		node("c", memberlist.StateAlive),   // suspect here: alive again
		node("x", memberlist.StateSuspect), // not registered
	})
	require.Equal(t, []string{"a"}, suspect)
	require.Equal(t, []string{"c"}, alive)
	require.True(t, connected)

	_, _, connected = r.suspicions("self", []*memberlist.Node{
		node("self", memberlist.StateAlive), node("a", memberlist.StateSuspect), node("x", memberlist.StateAlive)})
	require.False(t, connected, "only this node and an unregistered one are alive")
}

// TestRegistryAbsent checks the members rejoinLoop may try: registered,
// not this node, and not among those gossip holds.
func TestRegistryAbsent(t *testing.T) {
	r := newRegistry(store{dir: t.TempDir()}, state{Cluster: "c", Name: "self", NodeID: "s1"}, time.Now)
	for _, name := range []string{"self", "a", "b", "c"} {
		r.observe(name, NodeInfo{ID: name + "1"}, "addr-"+name, StatusAlive)
	}
	require.Empty(t, r.absent("self", map[string]bool{"a": true, "b": true, "c": true}))
	missing := r.absent("self", map[string]bool{"a": true, "x": true})
	names := []string{}
	for _, m := range missing {
		names = append(names, m.Name)
		require.Equal(t, "addr-"+m.Name, m.Addr, "a full copy of the member")
	}
	require.ElementsMatch(t, []string{"b", "c"}, names)
}
