package gossip

import (
	"time"
)

// Limits bound what gossip input from the network can make a node read,
// hold and log before memberlist has it: the transport's guard checks
// every stream and packet against them (guard.go, guardpacket.go). Zero
// or negative fields take the defaults.
type Limits struct {
	// MaxStreams is how many inbound gossip streams are handled at once;
	// more are closed at once and counted (too_many_streams). Default 64.
	MaxStreams int
	// MinNodes and MaxNodes bound the node count a push/pull may claim:
	// four times the nodes this node knows of (registered members and
	// gossip members), at least MinNodes (default 1024) and at most
	// MaxNodes (default 65536). The user state a push/pull may carry is in
	// proportion. Answers to this node's own push/pulls are held to
	// MaxNodes: a node that joins knows nobody yet.
	MinNodes int
	MaxNodes int
	// MaxUserMessage bounds a user message on a stream. Default 64 KiB;
	// serf sends none larger than 9 KiB.
	MaxUserMessage int
	// MaxPacketExpansion bounds what the compressed content of one UDP
	// packet may expand to. Default 64 KiB, the largest UDP payload.
	MaxPacketExpansion int
	// BadInputLogInterval is how often bad input from one source is
	// logged: one line per source per interval, with the count of what
	// was not logged since (badinputlog.go). Default 10 s.
	BadInputLogInterval time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxStreams          = 64
	DefaultMinNodes            = 1024
	DefaultMaxNodes            = 65536
	DefaultMaxUserMessage      = 64 << 10
	DefaultMaxPacketExpansion  = 64 << 10
	DefaultBadInputLogInterval = 10 * time.Second
)

// Sizes behind the stream limits.
const (
	// nodeMargin multiplies the nodes a node knows of: a push/pull may
	// carry members this node has not heard of yet, joins and the dead
	// not yet reaped.
	nodeMargin = 4
	// nodeStateMax bounds one encoded node state in a push/pull: a name,
	// an address, memberlist's 512 bytes of metadata and field names.
	nodeStateMax = 2 << 10
	// userStateBase and userStatePerNode make the user state a push/pull
	// may carry: serf's member clocks and left members grow with the
	// nodes, its buffer of recent user events (512 Lamport times) not.
	userStateBase    = 512 << 10
	userStatePerNode = 512
	// headerMax bounds the msgpack header of a push/pull or user message
	// (about 40 bytes as memberlist writes them).
	headerMax = 1 << 10
	// smallMax bounds the other messages a stream carries: pings, acks
	// and error answers.
	smallMax = 64 << 10
	// framingMax is what labels, encryption (type, length, version,
	// nonce, padding, tag) and the compress wrapper may add to a message.
	framingMax = 2 + 255 + 5 + 45 + 64
)

// withDefaults fills the fields left zero or negative.
func (l Limits) withDefaults() Limits {
	if l.MaxStreams <= 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	if l.MinNodes <= 0 {
		l.MinNodes = DefaultMinNodes
	}
	l.MinNodes = min(l.MinNodes, l.MaxNodes)
	if l.MaxUserMessage <= 0 {
		l.MaxUserMessage = DefaultMaxUserMessage
	}
	if l.MaxPacketExpansion <= 0 {
		l.MaxPacketExpansion = DefaultMaxPacketExpansion
	}
	if l.BadInputLogInterval <= 0 {
		l.BadInputLogInterval = DefaultBadInputLogInterval
	}
	return l
}

// streamLimits bound one memberlist message on a stream.
type streamLimits struct {
	nodes     int // node states a push/pull may carry
	userState int // bytes of a push/pull's user state
	userMsg   int // bytes of a user message
	plain     int // bytes of the message, decrypted and decompressed
	wire      int // bytes it may take on the wire, label included
}

// nodesFor is the node count a push/pull may claim on a node that knows
// of known nodes.
func (l Limits) nodesFor(known int) int {
	return max(l.MinNodes, min(l.MaxNodes, known*nodeMargin))
}

// stream is the bounds of a message that may carry nodes node states.
func (l Limits) stream(nodes int) streamLimits {
	s := streamLimits{nodes: nodes, userState: userStateBase + nodes*userStatePerNode, userMsg: l.MaxUserMessage}
	s.plain = 1 + headerMax + max(nodes*nodeStateMax+s.userState, s.userMsg)
	// memberlist compresses a stream whether or not that makes it
	// smaller, and LZW's 12-bit codes grow incompressible bytes by half.
	s.wire = framingMax + s.plain + s.plain/2
	return s
}

// knownNodes is the number of nodes this node knows of: its registered
// members and the members of its gossip, which bounds the push/pulls it
// takes (Limits).
func (c *Cluster) knownNodes() int {
	n := 0
	for _, k := range c.reg.counts() {
		n += k
	}
	if m := c.tr.members.Load(); m != nil {
		n += m.NumMembers()
	}
	return n
}
