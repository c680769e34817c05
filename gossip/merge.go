package gossip

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// mergeDelegate refuses gossip from nodes that must not be in the cluster:
// a node that is not a roster node (its name is not a valid node name, or
// its metadata is not roster's: a plain serf or memberlist agent that
// knows the cluster's label), an unregistered node (its tombstone matches
// name and id), a peer of a cluster this node was unregistered from
// (exiled), or a node that uses this node's name with another id. A
// refused node is never a member: it is never listed, nor handed clients.
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
// cluster on every node. This one decodes metadata only when it must, and
// remembers the outcome per metadata.
type mergeDelegate struct {
	c      *Cluster
	handle codec.MsgpackHandle

	mu    sync.Mutex
	metas map[string]metaCheck // node metadata → what it says
}

// metaCheck is what one node metadata says: the node id, or why it is not
// a roster node's.
type metaCheck struct {
	id  string
	bad error
}

// maxCachedMetas bounds mergeDelegate.metas; metadata changes (client
// counts) leave old entries behind, so the map is emptied when it is full.
const maxCachedMetas = 4096

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
		return nil // news of a departure is harmless: memberlist adds no unknown node for it
	}
	if err := ValidNodeName(n.Name); err != nil {
		return fmt.Errorf("gossip: refusing a node that is not a roster node: %w", err)
	}
	mc := d.readMeta(n.Meta)
	if mc.bad != nil {
		return fmt.Errorf("gossip: refusing node %s: not a roster node: %w", n.Name, mc.bad)
	}
	if d.c.reg.refused(n.Name, mc.id) {
		return fmt.Errorf("gossip: node %s (id %s) was unregistered, or this node was unregistered from its cluster", n.Name, mc.id)
	}
	if n.Name == d.c.cfg.Name && mc.id != d.c.reg.nodeID() {
		return fmt.Errorf("gossip: node %s (id %s) uses this node's name", n.Name, mc.id)
	}
	return nil
}

// readMeta decodes serf-encoded metadata as roster's node metadata.
func (d *mergeDelegate) readMeta(meta []byte) metaCheck {
	d.mu.Lock()
	defer d.mu.Unlock()
	if mc, ok := d.metas[string(meta)]; ok {
		return mc
	}
	var mc metaCheck
	var tags map[string]string
	switch {
	case len(meta) == 0 || meta[0] != tagMagicByte:
		mc.bad = errors.New("gossip: node metadata is not serf tags")
	default:
		if err := codec.NewDecoderBytes(meta[1:], &d.handle).Decode(&tags); err != nil {
			mc.bad = fmt.Errorf("gossip: node metadata is unreadable: %w", err)
		} else if info, err := DecodeTags(tags); err != nil {
			mc.bad = err
		} else {
			mc.id = info.ID
		}
	}
	if d.metas == nil || len(d.metas) >= maxCachedMetas {
		d.metas = make(map[string]metaCheck)
	}
	d.metas[string(meta)] = mc
	return mc
}
