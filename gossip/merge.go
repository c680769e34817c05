package gossip

import (
	"fmt"

	"github.com/hashicorp/serf/serf"
)

// mergeDelegate refuses gossip from nodes that must not be in the cluster:
// an unregistered node (its tombstone matches name and id), a peer of a
// cluster this node was unregistered from (exiled), or a node that
// uses this node's name with another id. serf calls it for the state of a
// joining node and for every alive message.
type mergeDelegate struct {
	c *Cluster
}

func (d *mergeDelegate) NotifyMerge(members []*serf.Member) error {
	for _, m := range members {
		if m.Status != serf.StatusAlive {
			continue
		}
		id := m.Tags[tagID]
		if d.c.reg.refused(m.Name, id) {
			return fmt.Errorf("gossip: node %s (id %s) was unregistered, or this node was unregistered from its cluster", m.Name, id)
		}
		if m.Name == d.c.cfg.Name && id != d.c.reg.nodeID() {
			return fmt.Errorf("gossip: node %s (id %s) uses this node's name", m.Name, id)
		}
	}
	return nil
}
