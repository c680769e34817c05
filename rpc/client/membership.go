package client

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rosterhq/roster/rpc/rosterpb"
)

// membership is the cluster as the last membership stream told it.
type membership struct {
	mu    sync.Mutex
	nodes map[string]*rosterpb.Node
}

func newMembership() *membership { return &membership{nodes: map[string]*rosterpb.Node{}} }

// apply records one message of WatchMembership; it returns the nodes that
// became alive (so callers can stop avoiding them).
func (m *membership) apply(ev *rosterpb.MembershipEvent) (joined []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev.GetType() {
	case rosterpb.MembershipEvent_TYPE_SNAPSHOT:
		m.nodes = make(map[string]*rosterpb.Node, len(ev.GetNodes()))
		for _, n := range ev.GetNodes() {
			m.nodes[n.GetName()] = n
		}
	case rosterpb.MembershipEvent_TYPE_REMOVE:
		delete(m.nodes, ev.GetNode().GetName())
	default:
		if n := ev.GetNode(); n.GetName() != "" {
			prev := m.nodes[n.GetName()]
			m.nodes[n.GetName()] = n
			if n.GetStatus() == rosterpb.NodeStatus_NODE_STATUS_ALIVE && prev.GetStatus() != rosterpb.NodeStatus_NODE_STATUS_ALIVE {
				joined = append(joined, n.GetName())
			}
		}
	}
	return joined
}

// list is every known node, sorted by name.
func (m *membership) list() []*rosterpb.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*rosterpb.Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// alive is the client addresses (host:port) of the alive nodes, sorted by
// node name.
func (m *membership) alive() []string {
	var out []string
	for _, n := range m.list() {
		if n.GetStatus() == rosterpb.NodeStatus_NODE_STATUS_ALIVE && n.GetHostName() != "" {
			out = append(out, address(n.GetHostName(), n.GetGrpcPort()))
		}
	}
	return out
}

func address(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// DefaultPort is the client gRPC port (axoniq.axonserver.port) assumed for
// a seed given without one.
const DefaultPort = 8124

// seedAddress adds the default port to a seed without one.
func seedAddress(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), strconv.Itoa(DefaultPort))
}
