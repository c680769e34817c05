package gossip

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// mergeDelegate refuses gossip from nodes that must not be in the cluster:
// an unregistered node (its tombstone matches name and id), a peer of a
// cluster this node was unregistered from (exiled), or a node that uses
// this node's name with another id.
//
// memberlist calls it in two ways:
//   - for every alive message (NotifyAlive), and with a joining node's
//     own state (NotifyMerge with one node): that node is alive, and
//     refusing it drops just that message or that join;
//   - with a whole cluster's state when this node joins it or exchanges
//     state with a member: that state may still list unregistered nodes
//     as dead, so it is not refused for them; each alive node in it comes
//     through the first way too.
//
// It is memberlist's delegate, not serf's (serf's Config.Merge stays nil):
// serf's wrapper decodes every node's tags, with a new msgpack handle each
// time, for every alive message and for every entry of every state
// exchanged, before calling its Merge delegate, a cost that grows with the
// cluster on every node. This one reads only the node id, only when it
// must, and remembers it per metadata.
type mergeDelegate struct {
	c      *Cluster
	handle codec.MsgpackHandle

	mu  sync.Mutex
	ids map[string]string // node metadata → node id
}

// maxCachedIDs bounds mergeDelegate.ids; metadata changes (client counts)
// leave old entries behind, so the map is emptied when it is full.
const maxCachedIDs = 4096

func (d *mergeDelegate) NotifyMerge(nodes []*memberlist.Node) error {
	if len(nodes) != 1 {
		if d.c.fanouts.Load() > 0 {
			return errFanoutReply
		}
		return nil
	}
	return d.check(nodes[0])
}

// errFanoutReply cancels the merge of a whole state that reaches this
// node while it announces itself to every member (pushPullMembers): a
// member that has just learnt of it may push-pull with it at once. The
// announcements' own answers are not read at all (fanoutConn). Either way
// this node's state stays just itself until every member has been sent
// it, so that each merges one entry, and the join through the contact
// that follows merges the cluster's state once. (A node that joins
// through this one in those few milliseconds with a whole state of its
// own is not merged either; it is learnt by gossip, as any node is.)
var errFanoutReply = errors.New("gossip: whole state not merged while announcing this node to every member")

func (d *mergeDelegate) NotifyAlive(n *memberlist.Node) error { return d.check(n) }

func (d *mergeDelegate) check(n *memberlist.Node) error {
	if n.State == memberlist.StateLeft {
		return nil // news of a departure is harmless
	}
	id := d.nodeID(n.Meta)
	if d.c.reg.refused(n.Name, id) {
		return fmt.Errorf("gossip: node %s (id %s) was unregistered, or this node was unregistered from its cluster", n.Name, id)
	}
	if n.Name == d.c.cfg.Name && id != d.c.reg.nodeID() {
		return fmt.Errorf("gossip: node %s (id %s) uses this node's name", n.Name, id)
	}
	return nil
}

// nodeID reads the node id tag from serf-encoded metadata ("" when there is
// none or it cannot be read).
func (d *mergeDelegate) nodeID(meta []byte) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[string(meta)]; ok {
		return id
	}
	var id string
	if len(meta) > 0 && meta[0] == tagMagicByte {
		var tags map[string]string
		if err := codec.NewDecoderBytes(meta[1:], &d.handle).Decode(&tags); err == nil {
			id = tags[tagID]
		}
	}
	if d.ids == nil || len(d.ids) >= maxCachedIDs {
		d.ids = make(map[string]string)
	}
	d.ids[string(meta)] = id
	return id
}
