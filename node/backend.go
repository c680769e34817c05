package node

import (
	"context"
	"fmt"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// backend is the REST API's view of the node.
type backend struct{ n *Node }

var _ api.Backend = backend{}

func toAPINode(m gossip.Member) api.Node {
	return api.Node{
		Name:             m.Name,
		HostName:         m.Info.ClientHost,
		GrpcPort:         m.Info.GRPCPort,
		HTTPPort:         m.Info.HTTPPort,
		InternalHostName: m.Info.InternalHost,
		GrpcInternalPort: m.Info.InternalPort,
		Connected:        m.Status == gossip.StatusAlive,
		Status:           string(m.Status),
		Since:            m.Since.UTC(),
		Version:          m.Info.Version,
		Clients:          m.Info.Clients,
		Tags:             m.Info.NodeTags.Map(),
		Draining:         m.Info.Draining,
	}
}

func (b backend) Nodes(context.Context) []api.Node {
	members := b.n.cluster.Members()
	out := make([]api.Node, len(members))
	for i, m := range members {
		out[i] = toAPINode(m)
	}
	return out
}

func (b backend) Me(context.Context) api.Me {
	n := b.n
	return api.Me{
		Node:           toAPINode(n.cluster.Local()),
		Clustered:      len(n.cluster.Members()) > 1,
		Authentication: n.cfg.AccessControl.Enabled,
		SSL:            n.cfg.SSL.Enabled,
		ClusterName:    n.cfg.Cluster.Name,
		Rejoin:         n.cluster.RejoinStatus(),
		// roster has what Axon calls the admin role on every node, no
		// development mode, plugins or initialisation step, and serves
		// clients as Axon Server SE serves its one context.
		AdminNode:           true,
		ContextNames:        []string{api.DefaultContext},
		StorageContextNames: []string{api.DefaultContext},
		Initialized:         true,
	}
}

func (b backend) Join(ctx context.Context, host string, port int) error {
	return b.n.Register(ctx, host, port)
}

func (b backend) Unregister(ctx context.Context, name string) error {
	return b.n.Unregister(ctx, name)
}

// Health is UP while the node serves: not stopping, gossip running, and
// its data directory taking writes. The details say why it is DOWN, and
// how many registered nodes it sees alive; the API shows them only to
// token holders when access control is on.
func (b backend) Health(context.Context) api.Health {
	n := b.n
	if n.stopping.Load() {
		return api.Health{Status: api.HealthDown, Details: map[string]string{"node": "stopping"}}
	}
	status := api.HealthUp
	d := map[string]string{}
	cond := n.cluster.Condition()
	if cond.Disk != nil {
		status = api.HealthDown
		d["disk"] = "cannot write the data directory (axoniq.axonserver.controldb-path): " + cond.Disk.Error() +
			"; changes are kept in memory and written as soon as it works"
	}
	if cond.Gossip != nil {
		status = api.HealthDown
		d["gossip"] = "not running: " + cond.Gossip.Error()
	} else {
		alive, total := 0, 0
		for _, m := range n.cluster.Members() {
			total++
			if m.Status == gossip.StatusAlive {
				alive++
			}
		}
		d["gossip"] = fmt.Sprintf("%d of %d registered nodes alive", alive, total)
	}
	if r := n.cluster.RejoinStatus(); r != "" {
		d["rejoin"] = r
	}
	return api.Health{Status: status, Details: d}
}

func (b backend) GossipState(context.Context) any { return b.n.cluster.DebugState() }
