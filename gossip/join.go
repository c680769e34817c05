package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JoinOptions tune JoinVia.
type JoinOptions struct {
	// ExpectID, when set, refuses a contact whose node id differs: the
	// background rejoin must reach the member it knew, not whoever took
	// its address.
	ExpectID string
	// Strict refuses to join when this node is already in a cluster
	// (register-node); the background rejoin is not strict.
	Strict bool
	// Wait returns only once every member the contact reported alive is
	// alive here too. Such a join (register-node, autocluster) also
	// push-pulls with every alive member at once, so that all of them
	// know this node when it returns; without Wait (the background
	// rejoin) only the contact is told and gossip tells the others, so
	// that nodes healing a partition do not each exchange the whole
	// cluster's state with every member.
	Wait bool
	// Reconnect is a member of the cluster bringing back a member that
	// gossip shows down (the background rejoin when this node is not
	// isolated): a push-pull with it, as serf's own reconnect does, and no
	// join intent. serf's Join broadcasts one for this node, which every
	// node gossips on: where false failures make peers reconnect members
	// again and again (an overloaded cluster), each reconnect started a
	// cluster-wide wave of gossip about a node that had never left.
	Reconnect bool
}

// ErrExchange is a join whose introduction worked but whose gossip
// exchange failed: the nodes have different gossip keys, or a firewall
// lets the internal gRPC calls through but not gossip.
var ErrExchange = errors.New("gossip: the gossip exchange failed")

// joinFanout bounds the members a join push-pulls with, all at once.
// Each answers with its whole state, so the joining node reads fanout × N
// entries (and merges one state of them). Up to joinFanout+1 nodes every
// member is told directly, in one round trip; in a larger cluster
// joinFanout random members are, and each of them gossips the new node on
// at once, so that a join costs the joining node O(N) and not O(N²).
const joinFanout = 128

// JoinVia joins the cluster through the node whose internal port is at
// address (host:port): an introduction checks that this node's name is
// free and fetches the contact's registry, then a push-pull with the
// contact and with every other alive member makes them all know this node
// at once.
func (c *Cluster) JoinVia(ctx context.Context, address string, opts JoinOptions) (Introduction, error) {
	s, err := c.current()
	if err != nil {
		return Introduction{}, err
	}
	if c.cfg.Introducer == nil {
		return Introduction{}, fmt.Errorf("gossip: no introducer configured")
	}
	self := c.Local()
	intro, err := c.cfg.Introducer.Introduce(ctx, address, self)
	if errors.Is(err, ErrUnregistered) {
		// The cluster unregistered this node while it was away.
		go func() {
			if err := c.becomeStandalone(); err != nil {
				c.log.Error().Err(err).Msg("gossip: cannot reset to standalone")
			}
		}()
	}
	if err != nil {
		return Introduction{}, err
	}
	if opts.ExpectID != "" && intro.NodeID != opts.ExpectID {
		return Introduction{}, fmt.Errorf("gossip: %s is node %s (id %s), not the member with id %s: %w", address, intro.Name, intro.NodeID, opts.ExpectID, ErrWrongNode)
	}
	for _, t := range intro.Tombstones {
		if t.Name == self.Name && t.ID == self.Info.ID {
			go func() {
				if err := c.becomeStandalone(); err != nil {
					c.log.Error().Err(err).Msg("gossip: cannot reset to standalone")
				}
			}()
			return Introduction{}, ErrUnregistered
		}
	}
	if opts.Strict {
		if err := c.checkNotMember(intro); err != nil {
			return Introduction{}, err
		}
		// An explicit register-node ends an exile from this cluster.
		if err := c.reg.lift(intro.Members); err != nil {
			return Introduction{}, err
		}
	} else if c.reg.exiled(intro.Name, intro.NodeID) {
		return Introduction{}, fmt.Errorf("gossip: this node was unregistered from the cluster of %s; only register-node adds it again: %w", intro.Name, ErrExiled)
	}
	contact, err := resolve(ctx, address)
	if err != nil {
		return Introduction{}, err
	}
	// Push-pull with every alive member at once, the contact included,
	// before joining through the contact: this node's state is still just
	// itself, so each member merges one entry and records this node within
	// a round trip, where after the contact's reply it would merge the
	// whole cluster's state. Their replies, the whole state each, are not
	// even decoded (fanoutConn): serf's own join through the contact, which
	// follows for its join intent, merges the contact's once. The user
	// events the other replies carried are roster's unregistrations, which
	// the introduction brought anyway.
	var reached []string
	if opts.Wait {
		reached = c.pushPullMembers(intro)
	}
	join := func(addrs []string) error {
		if opts.Reconnect {
			_, err := s.Memberlist().Join(addrs)
			return err
		}
		_, err := s.Join(addrs, true)
		return err
	}
	if err := join([]string{contact}); err != nil {
		if len(reached) == 0 {
			return Introduction{}, fmt.Errorf("gossip: join through %s: %w: %w", address, ErrExchange, err)
		}
		// The contact's gossip port failed where others answered.
		c.log.Warn().Err(err).Str("contact", address).Str("via", reached[0]).Msg("gossip: gossip exchange with the contact failed; joining through another member")
		if err := join(reached[:1]); err != nil {
			return Introduction{}, fmt.Errorf("gossip: join through %s: %w: %w", address, ErrExchange, err)
		}
	}
	for _, ev := range c.reg.merge(intro.Members, intro.Tombstones) {
		c.publish(ev, true)
	}
	if opts.Wait {
		if err := c.waitAlive(ctx, intro); err != nil {
			return intro, err
		}
	}
	// A node that crashes right after register-node or autocluster must
	// find its peers on disk; a background rejoin leaves it to persist.
	if opts.Strict || opts.Wait {
		if err := c.reg.flush(); err != nil {
			return intro, err
		}
	}
	return intro, nil
}

// checkNotMember refuses register-node on a node that is already in a
// cluster: the contact's or any other.
func (c *Cluster) checkNotMember(intro Introduction) error {
	members := c.reg.list()
	for _, m := range members {
		if m.Name == intro.Name && m.Name != c.cfg.Name {
			return fmt.Errorf("gossip: node %s is already a member of the cluster of %s (%d nodes): %w", c.cfg.Name, intro.Name, len(members), ErrAlreadyMember)
		}
	}
	if len(members) > 1 {
		return fmt.Errorf("gossip: node %s is already a member of a cluster of %d nodes; unregister it first to move it: %w", c.cfg.Name, len(members), ErrAlreadyMember)
	}
	return nil
}

// pushPullMembers push-pulls with every alive member the contact knows (the
// contact included), up to joinFanout chosen at random, in parallel, so
// each learns of this node in one round trip. It returns the addresses
// that answered.
func (c *Cluster) pushPullMembers(intro Introduction) []string {
	s, err := c.current()
	if err != nil {
		return nil
	}
	type target struct{ name, addr string }
	var targets []target
	for _, m := range intro.Members {
		if m.Status == StatusAlive && m.Name != c.cfg.Name && m.Addr != "" {
			targets = append(targets, target{m.Name, m.Addr})
		}
	}
	if len(targets) > joinFanout {
		rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
		targets = targets[:joinFanout]
	}
	c.fanouts.Add(1)
	defer c.fanouts.Add(-1)
	sem := make(chan struct{}, joinFanout)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		reached []string
	)
	for _, tg := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// The member merges this node's state after it has begun to
			// answer with its own, which the transport does not decode
			// (fanoutConn); memberlist flattens that error into its own.
			if _, err := s.Memberlist().Join([]string{fanoutTarget(tg.name, tg.addr)}); err != nil && !strings.Contains(err.Error(), errFanoutAnswered.Error()) {
				c.log.Debug().Err(err).Str("member", tg.name).Str("addr", tg.addr).Msg("gossip: push-pull with member failed; gossip will tell it")
				return
			}
			mu.Lock()
			reached = append(reached, tg.addr)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return reached
}

func (c *Cluster) waitAlive(ctx context.Context, intro Introduction) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		var missing []string
		for _, m := range intro.Members {
			if m.Status != StatusAlive || m.Name == c.cfg.Name {
				continue
			}
			if cur, ok := c.reg.get(m.Name); !ok || cur.Status != StatusAlive {
				missing = append(missing, m.Name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(missing)
			return fmt.Errorf("gossip: joined, but %v not yet seen alive: %w", missing, ctx.Err())
		case <-t.C:
		}
	}
}

// resolve turns host:port into ip:port with the system resolver (which
// reads /etc/hosts), preferring IPv4.
func resolve(ctx context.Context, address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", fmt.Errorf("gossip: address %q: %w", address, err)
	}
	if ip := net.ParseIP(host); ip != nil {
		return address, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return "", &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	best := ips[0].IP
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			best = ip.IP
			break
		}
	}
	return net.JoinHostPort(best.String(), port), nil
}

// Unregister removes another member from the cluster for good: it is
// dropped from every node's registry and its tombstone keeps it out. A
// live member should have been told to leave first.
func (c *Cluster) Unregister(name string) error {
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
		return err
	}
	c.publish(ev, changed)
	payload, _ := json.Marshal(t)
	if err := s.UserEvent(unregisterEvent, payload, false); err != nil {
		return fmt.Errorf("gossip: broadcast unregister: %w", err)
	}
	if sm, ok := findSerfMember(s, name); ok && sm.Status.String() != "alive" {
		if err := s.RemoveFailedNodePrune(name); err != nil {
			c.log.Warn().Err(err).Str("member", name).Msg("gossip: prune of unregistered member not confirmed")
		}
	}
	return nil
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
	payload, _ := json.Marshal(Tombstone{Name: self.Name, ID: self.Info.ID, At: time.Now().UTC()})
	if err := s.UserEvent(unregisterEvent, payload, false); err != nil {
		return fmt.Errorf("gossip: broadcast unregister: %w", err)
	}
	return c.becomeStandalone()
}

// LeaveForUnregister is called on a live node that another node is
// unregistering: it leaves and carries on alone.
func (c *Cluster) LeaveForUnregister() error { return c.becomeStandalone() }

// becomeStandalone leaves the cluster, forgets it, and starts a fresh
// single-node gossip under a new node id on the same sockets.
func (c *Cluster) becomeStandalone() error {
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
	close(stop)
	c.loops.Wait()
	if err := os.Remove(c.snapshotPath()); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("gossip: remove snapshot: %w", err)
	}
	old := c.reg.list()
	c.mu.Lock()
	c.info.ID = newNodeID()
	info := c.info
	c.mu.Unlock()
	self := Member{Name: c.cfg.Name, Info: info, Addr: c.advertiseAddr(), Status: StatusAlive, Since: time.Now()}
	if err := c.reg.reset(self); err != nil {
		return err
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
	c.log.Warn().Str("nodeId", info.ID).Msg("gossip: left the cluster; running standalone")
	return c.startSerfLocked()
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
