//go:build unix

package gossip

import (
	"context"
	"testing"
	"time"
)

// A live node told to leave runs standalone under a new id. Its former
// peers must not take it back from its answers to gossip that was on its
// way, and an explicit register-node brings it back.
func TestUnregisteredLiveNodeStaysOut(t *testing.T) {
	s := newSimWith(t, 3, localProfile())
	t.Cleanup(s.close)
	a, x, c := s.nodes[0], s.nodes[1], s.nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, nd := range []*simNode{x, c} {
		if _, err := nd.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, s.nodes, 20*time.Second, func(c *Cluster) bool { return countStatus(c, StatusAlive) == 3 })
	oldID := x.c.Local().Info.ID

	leave := func(m Member) error { return x.c.LeaveForUnregister(m.Info.ID) }
	if err := a.c.Unregister("node2", leave); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "node2 runs standalone under a new id", func() bool {
		l := x.c.Local()
		return l.Info.ID != oldID && len(x.c.Members()) == 1
	})
	// Over many probe rounds of the local profile, neither former peer
	// lists node2 again, and node2 lists nobody, while node3 keeps
	// exchanging state with node2's address, as a peer that has not heard
	// yet does (memberlist also gossips to dead nodes for a while, which
	// makes node2 refute its death under its new identity).
	p := localProfile()
	deadline := time.Now().Add(20 * (p.ProbeInterval + p.GossipInterval))
	for time.Now().Before(deadline) {
		if sc, err := c.c.current(); err == nil {
			_, _ = sc.Memberlist().Join([]string{x.addr})
		}
		for _, nd := range []*simNode{a, c} {
			if m, listed := nd.c.Member("node2"); listed {
				t.Fatalf("%s lists the unregistered node2 again: %+v", nd.c.cfg.Name, m)
			}
		}
		if n := len(x.c.Members()); n != 1 {
			t.Fatalf("the unregistered node2 lists %d members: %v", n, x.c.Members())
		}
		time.Sleep(p.ProbeInterval / 4)
	}

	if n := droppedCounts(t, x.c.metrics)["exiled/tcp"]; n == 0 {
		t.Errorf("node2 counted no exiled stream; dropped: %v", droppedCounts(t, x.c.metrics))
	}

	// register-node on node2 brings it back under its new id.
	if _, err := x.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.nodes, 20*time.Second, func(c *Cluster) bool {
		m, ok := c.Member("node2")
		return ok && m.Status == StatusAlive && m.Info.ID == x.c.Local().Info.ID && countStatus(c, StatusAlive) == 3
	})
}

// A node registering through an unregistered node makes a new cluster
// with it: the unregistered node hears gossip again for it.
func TestRegisterThroughUnregisteredNode(t *testing.T) {
	s := newSimWith(t, 3, localProfile())
	t.Cleanup(s.close)
	a, x, n := s.nodes[0], s.nodes[1], s.nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := x.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister}); err != nil {
		t.Fatal(err)
	}
	if err := x.c.UnregisterSelf(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "node2 alone", func() bool { return len(x.c.Members()) == 1 })
	if _, err := n.c.JoinVia(ctx, x.addr, JoinOptions{Mode: JoinRegister}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, []*simNode{x, n}, 20*time.Second, func(c *Cluster) bool { return countStatus(c, StatusAlive) == 2 })
}
