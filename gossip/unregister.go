package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/serf/serf"
)

// unregisterEvent is the serf user event that tells every node of an
// unregistration; its payload is an unregisterNotice.
const unregisterEvent = "roster-unregister"

// unregisterNotice is the payload of unregisterEvent: the tombstone and
// the registered node that announces it. A node acts on it only when that
// node is a registered member with that id and the unregistered node is
// registered too. Without a gossip key nothing in gossip is
// authenticated: this keeps out agents that are not members (a plain serf
// agent that knows the cluster's label), not one that copies a member's
// name and id, which gossip hands to anyone who exchanges state with it.
type unregisterNotice struct {
	Tombstone
	By   string `json:"by"`
	ByID string `json:"byId"`
}

// Unregister removes another member from the cluster for good. Its
// tombstone is written here first: if that fails, nothing changed and the
// error says why. Then leave, when set, tells the member to leave (a live
// member runs on standalone; an error is logged, as the tombstone keeps
// it out anyway), and every node is told. A member another node removed
// meanwhile is no error; one that is not registered is ErrNoSuchMember.
func (c *Cluster) Unregister(name string, leave func(Member) error) error {
	if name == c.cfg.Name {
		return c.UnregisterSelf()
	}
	m, ok := c.reg.get(name)
	if !ok {
		return fmt.Errorf("gossip: %s: %w", name, ErrNoSuchMember)
	}
	s, err := c.current()
	if err != nil {
		return err
	}
	t := Tombstone{Name: name, ID: m.Info.ID, At: time.Now().UTC()}
	ev, changed, err := c.reg.unregister(t)
	if err != nil {
		if errors.Is(err, ErrNoSuchMember) {
			return err
		}
		return fmt.Errorf("%w of this node, so nothing changed (%s is still registered): %w", ErrStateNotWritable, name, err)
	}
	c.publish(ev, changed)
	if leave != nil && (m.Status == StatusAlive || m.Status == StatusSuspect) {
		if err := leave(m); err != nil {
			c.log.Warn().Err(err).Str("member", name).Msg("gossip: could not tell the unregistered node to leave; its tombstone keeps it out")
		}
	}
	self := c.Local()
	payload, _ := json.Marshal(unregisterNotice{Tombstone: t, By: self.Name, ByID: self.Info.ID})
	if err := s.UserEvent(unregisterEvent, payload, false); err != nil {
		return fmt.Errorf("gossip: broadcast unregister: %w", err)
	}
	c.prune(s, name)
	return nil
}

// prune removes an unregistered member from serf's member list once it is
// no longer alive there.
func (c *Cluster) prune(s *serf.Serf, name string) {
	if sm, ok := findSerfMember(s, name); ok && sm.Status != serf.StatusAlive {
		if err := s.RemoveFailedNodePrune(name); err != nil {
			c.log.Warn().Err(err).Str("member", name).Msg("gossip: prune of unregistered member not confirmed")
		}
	}
}

// UnregisterSelf removes this node from the cluster: peers drop it, and it
// carries on alone under a new node id.
func (c *Cluster) UnregisterSelf() error {
	if len(c.reg.list()) <= 1 {
		return ErrLastMember
	}
	s, err := c.current()
	if err != nil {
		return err
	}
	self := c.Local()
	t := Tombstone{Name: self.Name, ID: self.Info.ID, At: time.Now().UTC()}
	payload, _ := json.Marshal(unregisterNotice{Tombstone: t, By: self.Name, ByID: self.Info.ID})
	if err := s.UserEvent(unregisterEvent, payload, false); err != nil {
		return fmt.Errorf("gossip: broadcast unregister: %w", err)
	}
	// Its own event may have made it standalone already.
	if err := c.becomeStandalone(self.Info.ID, "unregistered"); err != nil && !errors.Is(err, errNotThisNode) {
		return err
	}
	return nil
}

// LeaveForUnregister is called on a live node that another node is
// unregistering: if id is still this node's id, it leaves and carries on
// alone; otherwise (it already did) ErrNoSuchMember.
func (c *Cluster) LeaveForUnregister(id string) error {
	err := c.becomeStandalone(id, "unregistered by another node")
	if errors.Is(err, errNotThisNode) {
		return fmt.Errorf("gossip: %s (id %s) is no longer this node, which runs standalone: %w", c.cfg.Name, id, ErrNoSuchMember)
	}
	return err
}

// errNotThisNode is becomeStandalone asked to leave as a node id that
// this node no longer has: it already left.
var errNotThisNode = errors.New("gossip: not this node's id")

// onUnregisterEvent acts on an unregisterEvent, if a registered member
// sent it about a registered member (this one included).
func (c *Cluster) onUnregisterEvent(payload []byte) {
	var n unregisterNotice
	if err := json.Unmarshal(payload, &n); err != nil || n.Name == "" || n.By == "" {
		c.refuseEvent("malformed", n)
		return
	}
	if by, ok := c.reg.get(n.By); !ok || by.Info.ID != n.ByID {
		c.refuseEvent("not_from_a_member", n)
		return
	}
	if n.Name == c.cfg.Name {
		if n.ID != c.reg.nodeID() {
			return // an earlier incarnation of this node
		}
		c.log.Error().Str("by", n.By).Msg("gossip: this node was unregistered from the cluster; it runs on standalone")
		c.leaveUnregistered(n.ID, "unregistered by "+n.By)
		return
	}
	ev, changed := c.reg.remove(n.Tombstone)
	if !changed {
		if !c.reg.refused(n.Name, n.ID) {
			c.refuseEvent("unknown_member", n) // never registered here: nothing to record
		}
		return // or already removed
	}
	c.publish(ev, true)
	if s, err := c.current(); err == nil {
		c.prune(s, n.Name)
	}
}

// refuseEvent counts and logs (at debug level: anyone can send them) a
// user event this node does not act on.
func (c *Cluster) refuseEvent(reason string, n unregisterNotice) {
	c.metrics.dropped.WithLabelValues("event_"+reason, "event").Inc()
	c.log.Debug().Str("reason", reason).Str("member", n.Name).Str("by", n.By).Msg("gossip: ignoring an unregister event")
}

// becomeStandalone leaves the cluster, forgets it, and starts a fresh
// single-node gossip under a new node id on the same sockets. id is the
// node id this is meant for: when this node no longer has it (a second
// notice of the same unregistration), nothing happens (errNotThisNode).
// One runs at a time.
//
// The node ends with gossip running, standalone, even when its data
// directory cannot be written: the new state is then kept in memory and
// written as soon as the directory takes it, and Condition reports the
// failure meanwhile. If gossip itself cannot start again, Condition says
// so (and the log), and the node is DOWN.
func (c *Cluster) becomeStandalone(id, why string) error {
	c.standaloneMu.Lock()
	defer c.standaloneMu.Unlock()
	if c.reg.nodeID() != id {
		return errNotThisNode
	}
	c.mu.Lock()
	if c.closed || c.serf == nil {
		c.mu.Unlock()
		return ErrClosed
	}
	s, stop := c.serf, c.stop
	c.serf = nil
	c.mu.Unlock()

	c.quiesceRejoin()
	if err := s.Leave(); err != nil {
		c.log.Warn().Err(err).Msg("gossip: leave before standalone")
	}
	_ = s.Shutdown()
	// Deaf to the former cluster until this node joins one again.
	c.tr.deaf.Store(true)
	close(stop)
	c.loops.Wait()
	old := c.reg.list()
	c.mu.Lock()
	c.info.ID = newNodeID()
	info := c.info
	c.mu.Unlock()
	self := Member{Name: c.cfg.Name, Info: info, Addr: c.advertiseAddr(), Status: StatusAlive, Since: time.Now()}
	if err := c.reg.reset(self); err != nil {
		c.log.Error().Err(err).Msg("gossip: left the cluster, but cannot write that to the data directory; " +
			"running standalone and trying again every second (health is DOWN until it is written)")
	}
	for _, m := range old {
		if m.Name != c.cfg.Name {
			c.publish(Event{Type: EventRemove, Member: m}, true)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.leaving = false
	c.rejoin = rejoinState{}
	c.log.Warn().Str("nodeId", info.ID).Str("why", why).Msg("gossip: left the cluster; running standalone")
	if err := c.startSerfLocked(); err != nil {
		c.gossipErr = err
		c.log.Error().Err(err).Msg("gossip: cannot start gossip again after leaving the cluster; this node is DOWN until it restarts")
		return err
	}
	return nil
}
