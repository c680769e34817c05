package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// JoinMode is why a node joins, which decides how JoinVia goes about it.
type JoinMode int

const (
	// JoinRegister is an explicit register-node: it refuses to join when
	// this node is already in a cluster, ends an exile from the contact's
	// cluster, and returns only once every member the contact reported
	// alive is alive here too. It push-pulls with every alive member at
	// once, so that all of them know this node when it returns, and
	// records the members on disk before it returns.
	JoinRegister JoinMode = iota + 1
	// JoinAuto is a join the node makes on its own to form its cluster
	// (autocluster): as JoinRegister, but refused when this node was
	// unregistered from the contact's cluster, and without the check that
	// it is in no cluster yet.
	JoinAuto
	// JoinRejoin is the background rejoin of a node that lost its cluster:
	// only the contact is told and gossip tells the others, so that nodes
	// healing a partition do not each exchange the whole cluster's state
	// with every member. It neither waits nor writes the member list.
	JoinRejoin
	// JoinReconnect is a member of the cluster bringing back a member that
	// gossip shows down (the background rejoin when this node is not
	// isolated): a push-pull with it, as serf's own reconnect does, and no
	// join intent. serf's Join broadcasts one for this node, which every
	// node gossips on: where false failures make peers reconnect members
	// again and again (an overloaded cluster), each reconnect started a
	// cluster-wide wave of gossip about a node that had never left.
	JoinReconnect
)

// strict joins refuse a node that is already a member.
func (m JoinMode) strict() bool { return m == JoinRegister }

// wait joins push-pull with every member and wait until they are alive.
func (m JoinMode) wait() bool { return m == JoinRegister || m == JoinAuto }

// JoinOptions tune JoinVia.
type JoinOptions struct {
	// Mode is why the node joins; it must be set.
	Mode JoinMode
	// ExpectID, when set, refuses a contact whose node id differs: the
	// background rejoin must reach the member it knew, not whoever took
	// its address.
	ExpectID string
}

// ErrExchange is a join whose introduction worked but whose gossip
// exchange failed: the nodes have different gossip keys, or a firewall
// lets the internal gRPC calls through but not gossip.
var ErrExchange = errors.New("gossip: the gossip exchange failed")

// joinFanout bounds the members a join push-pulls with, all at once.
// Each answers with its whole state, so the fan-out costs the members
// joinFanout × N entries to encode. Up to joinFanout+1 nodes every member
// is told directly, in one round trip; in a larger cluster joinFanout
// random members are, and each of them gossips the new node on at once
// (log N gossip rounds), so that a join costs O(N) and not O(N²).
const joinFanout = 8

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
	if opts.Mode < JoinRegister || opts.Mode > JoinReconnect {
		return Introduction{}, fmt.Errorf("gossip: join mode %d is not one of the JoinMode constants", opts.Mode)
	}
	// A new member must be able to record the cluster it joins: a full or
	// read-only data directory refuses the join before anything changes.
	register := opts.Mode.wait()
	if register {
		if err := c.reg.checkWritable(); err != nil {
			return Introduction{}, fmt.Errorf("%w of this node to its data directory, so it does not join: %w", ErrStateNotWritable, err)
		}
	}
	self := c.Local()
	intro, err := c.cfg.Introducer.Introduce(ctx, address, self, !register && c.returning())
	if errors.Is(err, ErrUnregistered) {
		// The cluster unregistered this node while it was away.
		c.leaveUnregistered(self.Info.ID, "a registered node says it was unregistered: "+err.Error())
	}
	if err != nil {
		return Introduction{}, err
	}
	if opts.ExpectID != "" && intro.NodeID != opts.ExpectID {
		return Introduction{}, fmt.Errorf("gossip: %s is node %s (id %s), not the member with id %s: %w", address, intro.Name, intro.NodeID, opts.ExpectID, ErrWrongNode)
	}
	for _, t := range intro.Tombstones {
		if t.Name == self.Name && t.ID == self.Info.ID {
			c.leaveUnregistered(self.Info.ID, "node "+intro.Name+" lists it unregistered")
			return Introduction{}, ErrUnregistered
		}
	}
	if opts.Mode.strict() {
		if err := c.checkNotMember(intro); err != nil {
			return Introduction{}, err
		}
		// An explicit register-node ends an exile from this cluster.
		if err := c.reg.lift(intro.Members); err != nil {
			return Introduction{}, err
		}
		c.hear()
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
	if opts.Mode.wait() {
		reached = c.pushPullMembers(intro)
	}
	join := func(addrs []string) error {
		if opts.Mode == JoinReconnect {
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
	if register {
		intro = c.reintroduce(ctx, address, self, intro)
	}
	for _, ev := range c.reg.merge(intro.Members, intro.Tombstones) {
		c.publish(ev, true)
	}
	if opts.Mode.wait() {
		if err := c.waitAlive(ctx, intro); err != nil {
			return intro, err
		}
	}
	// A node that crashes right after register-node or autocluster must
	// find its peers on disk; a background rejoin leaves it to persist.
	if register {
		c.markConnected()
		if err := c.reg.flush(); err != nil {
			return intro, fmt.Errorf("%w: joined, but the member list is not on disk yet (tried again every second): %w", ErrStateNotWritable, err)
		}
	}
	return intro, nil
}

// reintroduce asks the contact again once this node has joined gossip.
// serf's join ignores the user events sent before it, so an
// unregistration that spread between the first introduction (which still
// listed the node) and the join reaches this node by neither; the second
// introduction lists its tombstone. An unregistration the contact has not
// heard of yet reaches this node by gossip, as it is a member by now. When
// the contact does not answer, the first introduction stands.
func (c *Cluster) reintroduce(ctx context.Context, address string, self Member, first Introduction) Introduction {
	again, err := c.cfg.Introducer.Introduce(ctx, address, self, false)
	if err != nil || again.NodeID != first.NodeID {
		c.log.Debug().Err(err).Str("contact", address).Msg("gossip: the contact did not answer a second introduction after the join; the first one stands")
		return first
	}
	return again
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

// leaveUnregistered makes this node standalone, in the background, after
// it learnt that its cluster unregistered it while it was away.
func (c *Cluster) leaveUnregistered(id, why string) {
	go func() {
		if err := c.becomeStandalone(id, why); err != nil && !errors.Is(err, errNotThisNode) && !errors.Is(err, ErrClosed) {
			c.log.Error().Err(err).Msg("gossip: cannot reset to standalone")
		}
	}()
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
