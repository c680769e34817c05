//go:build unix

package gossip

import (
	"context"
	"testing"
	"time"
)

// introducerFunc adapts a function to Introducer.
type introducerFunc func(ctx context.Context, address string, self Member, returning bool) (Introduction, error)

func (f introducerFunc) Introduce(ctx context.Context, address string, self Member, returning bool) (Introduction, error) {
	return f(ctx, address, self, returning)
}

// A node that registers while another is being unregistered must end up
// without it: serf's join ignores the user events sent before it, so an
// unregistration that spreads between the introduction (which still lists
// the node) and the join reaches the new node by neither.
func TestRegisterDuringUnregistration(t *testing.T) {
	var between func()
	s := newSimWith(t, 4, localProfile(), func(cfg *Config) {
		if cfg.Name != "node4" {
			return
		}
		inner := cfg.Introducer
		cfg.Introducer = introducerFunc(func(ctx context.Context, address string, self Member, returning bool) (Introduction, error) {
			intro, err := inner.Introduce(ctx, address, self, returning)
			if f := between; f != nil && err == nil {
				between = nil
				f()
			}
			return intro, err
		})
	})
	t.Cleanup(s.close)
	a, x, n := s.nodes[0], s.nodes[1], s.nodes[3]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, nd := range s.nodes[1:3] {
		if _, err := nd.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister}); err != nil {
			t.Fatal(err)
		}
	}
	members := s.nodes[:3]
	waitFor(t, members, 20*time.Second, func(c *Cluster) bool { return countStatus(c, StatusAlive) == 3 })

	// Between node4's introduction and its gossip join, node1 unregisters
	// node2, which leaves; every member drops it before node4 joins.
	between = func() {
		leave := func(m Member) error { return x.c.LeaveForUnregister(m.Info.ID) }
		if err := a.c.Unregister(x.c.cfg.Name, leave); err != nil {
			t.Error(err)
			return
		}
		waitFor(t, []*simNode{a, s.nodes[2]}, 20*time.Second, func(c *Cluster) bool {
			_, listed := c.Member(x.c.cfg.Name)
			return !listed
		})
	}
	if _, err := n.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "node4 drops the unregistered node2", func() bool {
		_, listed := n.c.Member(x.c.cfg.Name)
		return !listed
	})
	found := false
	for _, ts := range n.c.Tombstones() {
		found = found || ts.Name == x.c.cfg.Name
	}
	if !found {
		t.Errorf("node4 knows no tombstone of node2: %v", n.c.Tombstones())
	}
}
