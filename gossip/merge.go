package gossip

import (
	"fmt"

	"github.com/hashicorp/serf/serf"
)

// mergeDelegate refuses gossip from nodes that must not be in the cluster:
// an unregistered node (its tombstone matches name and id), a peer of a
// cluster this node was unregistered from (exiled), or a node that uses
// this node's name with another id.
//
// serf calls it in two ways, and hands every member over with status
// "none" unless memberlist says it left, so alive and dead look alike:
//   - with one member for every alive message (memberlist's alive
//     delegate), and for a joining node's own state: that member is alive,
//     and refusing it drops just that message or that join;
//   - with a whole cluster's state when this node joins it: that state may
//     still list unregistered nodes as dead, so it is not refused for
//     them; each alive member in it comes through the first way too.
type mergeDelegate struct {
	c *Cluster
}

func (d *mergeDelegate) NotifyMerge(members []*serf.Member) error {
	if len(members) != 1 || members[0].Status == serf.StatusLeft {
		return nil
	}
	m := members[0]
	id := m.Tags[tagID]
	if d.c.reg.refused(m.Name, id) {
		return fmt.Errorf("gossip: node %s (id %s) was unregistered, or this node was unregistered from its cluster", m.Name, id)
	}
	if m.Name == d.c.cfg.Name && id != d.c.reg.nodeID() {
		return fmt.Errorf("gossip: node %s (id %s) uses this node's name", m.Name, id)
	}
	return nil
}
