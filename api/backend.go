package api

import "context"

// Backend is what the REST API needs from a node. The node package
// implements it; tests use fakes. Methods return *Error (or wrap one) for
// failures that have an Axon code.
type Backend interface {
	// Nodes lists every registered node, sorted by name.
	Nodes(ctx context.Context) []Node
	// Me describes the answering node.
	Me(ctx context.Context) Me
	// Join makes this node join the cluster through the node at host:port.
	// It returns once this node holds the full member list.
	Join(ctx context.Context, host string, port int) error
	// Unregister removes the named node from the cluster for good.
	Unregister(ctx context.Context, name string) error
	// Health reports whether the node serves requests.
	Health(ctx context.Context) Health
	// GossipState is a raw debugging view of the gossip layer (/internal).
	GossipState(ctx context.Context) any
	// Subscribe delivers membership changes from now on until ctx ends,
	// cancel is called or the node stops; then the channel is closed.
	// An event of type EventResync means changes were missed: the list
	// must be read again. cancel releases the subscription.
	Subscribe(ctx context.Context) (events <-chan NodeEvent, cancel func())
}
