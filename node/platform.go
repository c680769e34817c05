package node

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

// Client services: Axon's PlatformService and roster's ClusterService on
// the client port, fed from gossip membership.

const (
	// clientsGossipInterval bounds how often the client count is gossiped:
	// every change rides on every alive message, so bursts are coalesced.
	clientsGossipInterval = 2 * time.Second
	// drainWait bounds how long a stopping node waits for its clients to
	// move before it leaves; they usually go within milliseconds.
	drainWait = 2 * time.Second
	// drainConfirmWait bounds how long a stopping node waits for its peers
	// to take it out of placement before it asks its clients to move; they
	// usually do within a few gossip rounds.
	drainConfirmWait = 2 * time.Second
	// rebalanceSweep is how often a node checks for clients that
	// placement puts on another alive node and asks them to move there:
	// a client placed while some peer had a stale view of the cluster
	// (a member suspected for a moment) is caught here, as Axon EE's
	// auto-balancing checks every 15 s.
	rebalanceSweep = 15 * time.Second
	// rebalanceWait bounds how long a node waits for its peers to place
	// clients on a node that joined before it sends it some. Nothing waits
	// on a rebalance (the clients are served where they are meanwhile), so
	// it gives a loaded peer far longer than a drain does: a client asked
	// to move too early may be sent back by a peer that has not heard.
	rebalanceWait = 10 * time.Second
	// membershipBuffer is the slack of the node's membership subscriptions.
	membershipBuffer = 256
)

// clientServices are the node's services for client applications.
type clientServices struct {
	placement *rpc.Placement
	platform  *rpc.PlatformServer
	cluster   *rpc.ClusterServer
	counted   chan struct{} // capacity 1: the client count changed

	rebalanceMu sync.Mutex
	rebalancing map[string]bool // members a rebalance is waiting for
}

// startClientServices registers the platform and cluster services on the
// client gRPC server and follows membership: placement, rebalancing and
// the gossiped client count.
func (n *Node) startClientServices() error {
	cs := &clientServices{placement: rpc.NewPlacement(), counted: make(chan struct{}, 1), rebalancing: map[string]bool{}}
	platform, err := rpc.NewPlatformServer(rpc.PlatformOptions{
		Self: rpc.Target{
			Name: n.cfg.Name, Host: n.cfg.ClientHost, GRPCPort: n.cfg.Port, HTTPPort: n.cfg.HTTPPort, Version: Version,
		},
		Placement: cs.placement,
		OnClients: func(int) {
			select {
			case cs.counted <- struct{}{}:
			default:
			}
		},
		Registerer: n.metrics,
		Logger:     n.log,
	})
	if err != nil {
		return err
	}
	cs.platform = platform
	cs.cluster = rpc.NewClusterServer(n.cfg.Name, clusterView{c: n.cluster}, rpc.WatchLimits{
		Total: n.cfg.Limits.MembershipStreams, PerConnection: n.cfg.Limits.MembershipStreamsPerConnection,
		TotalSetting: keyMembershipStreams, PerConnectionSetting: keyMembershipPerConn,
	})
	cs.platform.Register(n.clientGRPC)
	cs.cluster.Register(n.clientGRPC)

	events, cancel := n.cluster.Subscribe(membershipBuffer)
	n.updatePlacement(cs)
	n.clients = cs
	n.bg.Add(1)
	go n.followMembership(cs, events, cancel)
	return nil
}

// followMembership keeps the placement current, asks clients to move to a
// node that becomes alive (axoniq.axonserver.cluster.rebalance), and
// gossips the client count at most every clientsGossipInterval.
func (n *Node) followMembership(cs *clientServices, events <-chan gossip.Event, cancel func()) {
	defer n.bg.Done()
	defer func() { cancel() }()
	alive := aliveMembers(n.cluster.Members())
	publish := time.NewTimer(time.Hour)
	publish.Stop()
	defer publish.Stop()
	var published time.Time
	armed := false
	sweep := time.NewTicker(rebalanceSweep)
	defer sweep.Stop()
	for {
		select {
		case <-n.bgStop:
			return
		case ev, ok := <-events:
			if !ok {
				// Fell behind: subscribe again and rebuild from the full list.
				cancel()
				events, cancel = n.cluster.Subscribe(membershipBuffer)
				alive = aliveMembers(n.cluster.Members())
				n.updatePlacement(cs)
				continue
			}
			// A node that joins hears of every member at once: one
			// placement for the whole burst, not one per member.
			joined := cameAlive(ev, alive, nil)
		burst:
			for {
				select {
				case more, ok := <-events:
					if !ok {
						cancel()
						events, cancel = n.cluster.Subscribe(membershipBuffer)
						break burst
					}
					joined = cameAlive(more, alive, joined)
				default:
					break burst
				}
			}
			n.updatePlacement(cs)
			if n.cfg.Cluster.Rebalance {
				for _, name := range joined {
					if cs.platform.WouldRebalance(name) > 0 && cs.startRebalance(name) {
						n.bg.Add(1)
						go n.moveClients(cs, name, cs.platform.Rebalance)
					}
				}
			}
		case <-cs.counted:
			if !armed {
				armed = true
				publish.Reset(max(0, clientsGossipInterval-time.Since(published)))
			}
		case <-sweep.C:
			if n.cfg.Cluster.Rebalance {
				for _, name := range cs.placement.Nodes() {
					if cs.platform.WouldSweep(name) > 0 && cs.startRebalance(name) {
						n.bg.Add(1)
						go n.moveClients(cs, name, cs.platform.Sweep)
					}
				}
			}
		case <-publish.C:
			armed, published = false, time.Now()
			if err := n.cluster.SetClients(cs.platform.Clients()); err != nil {
				n.log.Debug().Err(err).Msg("node: cannot gossip the client count")
			}
		}
	}
}

// rebalance asks the clients placement now puts on joined to reconnect,
// once every peer places clients on it too (bounded by rebalanceWait):
// a client may ask any node where to go, and one that has not heard of
// the join yet would send it back.
func (n *Node) moveClients(cs *clientServices, joined string, ask func(string) int) {
	defer n.bg.Done()
	defer cs.endRebalance(joined)
	ctx, cancel := context.WithTimeout(context.Background(), rebalanceWait)
	defer cancel()
	go func() {
		select {
		case <-n.bgStop:
			cancel()
		case <-ctx.Done():
		}
	}()
	start := time.Now()
	confirmed, peers, err := n.cluster.AwaitPlaced(ctx, joined)
	if n.stopping.Load() {
		return
	}
	asked := ask(joined)
	l := n.log.Info()
	if err != nil || confirmed < peers {
		l = n.log.Warn().AnErr("error", err)
	}
	l.Str("member", joined).Int("clients", asked).Int("confirmed", confirmed).Int("peers", peers).
		Dur("waited", time.Since(start).Round(time.Millisecond)).
		Msg("node: rebalancing: clients asked to reconnect to the joined node")
}

// startRebalance claims the rebalance to member; false when one is already
// waiting for it (it will ask every client placed there by then).
func (cs *clientServices) startRebalance(member string) bool {
	cs.rebalanceMu.Lock()
	defer cs.rebalanceMu.Unlock()
	if cs.rebalancing[member] {
		return false
	}
	cs.rebalancing[member] = true
	return true
}

func (cs *clientServices) endRebalance(member string) {
	cs.rebalanceMu.Lock()
	defer cs.rebalanceMu.Unlock()
	delete(cs.rebalancing, member)
}

// aliveMembers maps the alive members' names to their boot ids.
func aliveMembers(members []gossip.Member) map[string]string {
	out := map[string]string{}
	for _, m := range members {
		if m.Status == gossip.StatusAlive {
			out[m.Name] = m.Info.Boot
		}
	}
	return out
}

// cameAlive records ev in alive and appends to names the member it shows
// becoming alive: one that joined, and also one that was suspect, or was
// started again (a node killed and restarted faster than failure
// detection joins no more, yet its clients went to other nodes and should
// come back).
func cameAlive(ev gossip.Event, alive map[string]string, names []string) []string {
	m := ev.Member
	if m.Status != gossip.StatusAlive || ev.Type == gossip.EventRemove {
		delete(alive, m.Name)
		return names
	}
	if boot, was := alive[m.Name]; !was || boot != m.Info.Boot {
		names = append(names, m.Name)
	}
	alive[m.Name] = m.Info.Boot
	return names
}

// updatePlacement hands the alive members to the placement, with their
// tags, their gossiped client counts and whether they drain.
func (n *Node) updatePlacement(cs *clientServices) {
	members := n.cluster.Members()
	alive := make([]rpc.Target, 0, len(members))
	for _, m := range members {
		if m.Status == gossip.StatusAlive {
			t := rpc.Target{
				Name: m.Name, Host: m.Info.ClientHost, GRPCPort: m.Info.GRPCPort, HTTPPort: m.Info.HTTPPort, Version: m.Info.Version,
				Load: m.Info.Clients, Draining: m.Info.Draining,
			}
			if m.Info.NodeTags != "" {
				t.Tags = m.Info.NodeTags.Map()
			}
			alive = append(alive, t)
		}
	}
	cs.placement.Update(alive)
}

// places answers peers' placement queries: whether this node places
// clients on member (gossip.Config.Places).
func (n *Node) places(member string) bool {
	cs := n.clients
	return cs != nil && cs.placement.Places(member)
}

// drainClients moves the node's clients away without sending any of them
// back: the node stops placing clients on itself, gossips that it drains
// and waits, bounded, until every peer has taken it out of placement; only
// then does it ask every stream client to reconnect, and give them a
// bounded moment to go. Then it ends the remaining client streams so that
// the graceful stop of the gRPC server does not wait for them.
func (n *Node) drainClients(ctx context.Context) {
	cs := n.clients
	if cs == nil {
		return
	}
	wait, confirmWait := drainWait, drainConfirmWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d)/4)
		confirmWait = min(confirmWait, time.Until(d)/4)
	}
	start := time.Now()
	cs.platform.Depart()
	if n.cluster != nil {
		n.awaitDrained(ctx, confirmWait)
	}
	left, closed := cs.platform.Drain(ctx, wait)
	cs.cluster.Close()
	if left+closed > 0 {
		n.log.Info().Int("moved", left).Int("closed", closed).Dur("took", time.Since(start).Round(time.Millisecond)).
			Msg("node: clients asked to reconnect to other nodes")
	}
}

// awaitDrained gossips that the node drains and waits up to wait until its
// peers have taken it out of placement.
func (n *Node) awaitDrained(ctx context.Context, wait time.Duration) {
	start := time.Now()
	if err := n.cluster.SetDraining(true); err != nil {
		n.log.Warn().Err(err).Msg("node: cannot gossip that this node drains; its clients may be sent back to it once")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max(0, wait-time.Since(start)))
	defer cancel()
	confirmed, asked, err := n.cluster.AwaitDrained(ctx)
	l := n.log.Info()
	if err != nil || confirmed < asked {
		l = n.log.Warn().AnErr("error", err)
	}
	l.Int("confirmed", confirmed).Int("peers", asked).Dur("took", time.Since(start).Round(time.Millisecond)).
		Msg("node: peers took this node out of client placement")
}

// clusterView is the ClusterService's view of gossip membership.
type clusterView struct{ c *gossip.Cluster }

func (v clusterView) Nodes() []*rosterpb.Node {
	members := v.c.Members()
	out := make([]*rosterpb.Node, len(members))
	for i, m := range members {
		out[i] = nodeToPB(m)
	}
	return out
}

func (v clusterView) Watch(ctx context.Context, subscribed func() error, each func(*rosterpb.MembershipEvent) error) error {
	events, cancel := v.c.Subscribe(membershipBuffer)
	defer cancel()
	if err := subscribed(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return rpc.ErrWatchLagged
			}
			if err := each(&rosterpb.MembershipEvent{Type: eventTypeToPB(ev.Type), Node: nodeToPB(ev.Member)}); err != nil {
				return err
			}
		}
	}
}

func eventTypeToPB(t gossip.EventType) rosterpb.MembershipEvent_Type {
	switch t {
	case gossip.EventJoin:
		return rosterpb.MembershipEvent_TYPE_JOIN
	case gossip.EventUpdate:
		return rosterpb.MembershipEvent_TYPE_UPDATE
	case gossip.EventSuspect:
		return rosterpb.MembershipEvent_TYPE_SUSPECT
	case gossip.EventFail:
		return rosterpb.MembershipEvent_TYPE_FAIL
	case gossip.EventLeave:
		return rosterpb.MembershipEvent_TYPE_LEAVE
	case gossip.EventRemove:
		return rosterpb.MembershipEvent_TYPE_REMOVE
	}
	return rosterpb.MembershipEvent_TYPE_UNSPECIFIED
}

func statusToPB(s gossip.Status) rosterpb.NodeStatus {
	switch s {
	case gossip.StatusAlive:
		return rosterpb.NodeStatus_NODE_STATUS_ALIVE
	case gossip.StatusSuspect:
		return rosterpb.NodeStatus_NODE_STATUS_SUSPECT
	case gossip.StatusFailed:
		return rosterpb.NodeStatus_NODE_STATUS_FAILED
	case gossip.StatusLeft:
		return rosterpb.NodeStatus_NODE_STATUS_LEFT
	}
	return rosterpb.NodeStatus_NODE_STATUS_UNSPECIFIED
}

func nodeToPB(m gossip.Member) *rosterpb.Node {
	return &rosterpb.Node{
		Name:             m.Name,
		HostName:         m.Info.ClientHost,
		GrpcPort:         int32(m.Info.GRPCPort),
		HttpPort:         int32(m.Info.HTTPPort),
		InternalHostName: m.Info.InternalHost,
		GrpcInternalPort: int32(m.Info.InternalPort),
		Status:           statusToPB(m.Status),
		Since:            timestamppb.New(m.Since),
		Version:          m.Info.Version,
		Clients:          int32(m.Info.Clients),
	}
}
