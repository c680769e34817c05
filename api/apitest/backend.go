// Package apitest holds an in-memory api.Backend for the tests of the
// REST API and of the commands that use it. Only tests import it.
package apitest

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/rosterhq/roster/api"
)

// Backend is an in-memory api.Backend: it lists the nodes it holds, in the
// order they are held (so that a test can check who sorts them), records
// the joins and unregisters it gets, and delivers to subscribers the
// events a test publishes. Set its fields before the API serves it, or
// between Lock and Unlock.
type Backend struct {
	mu sync.Mutex
	// List is what Nodes answers.
	List []api.Node
	// Self is what Me answers.
	Self api.Me
	// HealthReport is what Health answers.
	HealthReport api.Health
	// Gossip is what GossipState answers.
	Gossip any
	// JoinErr, when set, is what every Join returns.
	JoinErr error

	joins  []string
	unregs []string
	subs   map[chan api.NodeEvent]bool
}

var _ api.Backend = (*Backend)(nil)

// New is a healthy Backend that answers as self and lists nodes.
func New(self api.Me, nodes ...api.Node) *Backend {
	return &Backend{List: nodes, Self: self, HealthReport: api.Health{Status: api.HealthUp}, Gossip: map[string]any{}}
}

// Node is a node named name with status, on hosts name.example.com and
// name.internal and Axon's default ports, connected while alive.
func Node(name, status string, since time.Time) api.Node {
	return api.Node{Name: name, HostName: name + ".example.com", GrpcPort: 8124, HTTPPort: 8024,
		InternalHostName: name + ".internal", GrpcInternalPort: 8224, Connected: status == "alive",
		Status: status, Since: since}
}

// Lock and Unlock guard the fields while the API serves.
func (b *Backend) Lock()   { b.mu.Lock() }
func (b *Backend) Unlock() { b.mu.Unlock() }

// Nodes is List, in its order.
func (b *Backend) Nodes(context.Context) []api.Node {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]api.Node(nil), b.List...)
}

// Me is Self.
func (b *Backend) Me(context.Context) api.Me {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Self
}

// Join records host:port, or returns JoinErr.
func (b *Backend) Join(_ context.Context, host string, port int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.JoinErr != nil {
		return b.JoinErr
	}
	b.joins = append(b.joins, host+":"+strconv.Itoa(port))
	return nil
}

// Unregister removes the named node from List, refusing an unknown node
// and the last one with their Axon codes.
func (b *Backend) Unregister(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, n := range b.List {
		if n.Name != name {
			continue
		}
		if len(b.List) == 1 {
			return api.Errorf(api.CodeCannotRemoveLast, "cannot remove the last node of the cluster")
		}
		b.List = append(b.List[:i], b.List[i+1:]...)
		b.unregs = append(b.unregs, name)
		return nil
	}
	return api.Errorf(api.CodeNoSuchNode, "node %s not found", name)
}

// Health is HealthReport.
func (b *Backend) Health(context.Context) api.Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.HealthReport
}

// GossipState is Gossip.
func (b *Backend) GossipState(context.Context) any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Gossip
}

// Joins are the addresses joined through, as host:port, in order.
func (b *Backend) Joins() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.joins...)
}

// Unregistered are the names unregistered, in order.
func (b *Backend) Unregistered() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.unregs...)
}
