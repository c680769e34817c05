package gossip

import (
	"fmt"
	"net"
	"strconv"
)

// Admit decides, on the contact's side, whether caller may join through
// this node. A node unregistered while it was away is refused by its
// tombstone. A returning node, one that was away from its cluster for
// half the time tombstones are kept or more (it says so: it knows when it
// last had a live peer), is admitted only when this node has it
// registered under the same id: its tombstone may have expired
// everywhere. Others are
// admitted as before, so that a peer that lost its state (restored from
// the backup) is healed by the members that rejoin it. Every rejoin starts
// with an introduction: serf's own rejoin from its snapshot and its
// reconnect are off (startSerfLocked). A node registering through an
// unregistered node ends its deafness (transport.deaf). Errors wrap
// ErrUnregistered or ErrNotRegistered, or are a *NameTakenError.
func (c *Cluster) Admit(caller Member, returning bool) error {
	if err := ValidNodeName(caller.Name); err != nil {
		return err
	}
	if t, ok := c.reg.tombstone(caller.Name, caller.Info.ID); ok {
		return fmt.Errorf("gossip: node %s was unregistered from the cluster on %s; it runs standalone now: %w",
			caller.Name, t.At.Format("2006-01-02 15:04:05Z07:00"), ErrUnregistered)
	}
	existing, known := c.reg.get(caller.Name)
	if known && existing.Info.ID != caller.Info.ID && (existing.Status == StatusAlive || existing.Status == StatusSuspect) {
		return &NameTakenError{Name: caller.Name, Host: existing.Info.InternalHost,
			Addr: net.JoinHostPort(existing.Info.InternalHost, strconv.Itoa(existing.Info.InternalPort))}
	}
	if returning && (!known || existing.Info.ID != caller.Info.ID) {
		return fmt.Errorf("gossip: node %s (id %s) was away for half the tombstone TTL or more and is not registered on node %s: "+
			"it was unregistered meanwhile (register-node adds it again): %w", caller.Name, caller.Info.ID, c.cfg.Name, ErrNotRegistered)
	}
	// A node registering through this one, after it was unregistered from
	// its former cluster, makes a new cluster with it: gossip is heard
	// again. A former peer (one it exiled) does not.
	if !returning && !c.reg.exiled(caller.Name, caller.Info.ID) {
		c.hear()
	}
	return nil
}

// hear ends the deafness of an unregistered node (transport.deaf): it
// joins a cluster again.
func (c *Cluster) hear() {
	c.mu.Lock()
	tr := c.tr
	c.mu.Unlock()
	if tr != nil && tr.deaf.Swap(false) {
		c.log.Info().Msg("gossip: joining a cluster again; gossip from the former cluster is taken again")
	}
}

// NameTakenError refuses a node whose name a live node with another id
// uses. It is ErrNameTaken for errors.Is.
type NameTakenError struct {
	Name string
	Host string // the live node's internal host
	Addr string // and its internal address, host:port
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("gossip: node name %s is already used by a live node at %s (%s)", e.Name, e.Host, e.Addr)
}

func (e *NameTakenError) Unwrap() error { return ErrNameTaken }
