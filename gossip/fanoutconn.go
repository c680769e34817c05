package gossip

import (
	"errors"
	"io"
	"net"
	"strings"
)

// fanoutPrefix marks the push-pulls of a join's fan-out (pushPullMembers)
// for the transport. memberlist's Join hands a leading "name/" of an
// address to the transport as the Address.Name of its dial, and ':' is
// not allowed in node names, so no dial of memberlist's own carries it.
const fanoutPrefix = "join-fanout:"

// fanoutTarget is the address pushPullMembers passes to memberlist's Join
// for the member name at addr.
func fanoutTarget(name, addr string) string { return fanoutPrefix + name + "/" + addr }

// isFanoutDial tells whether a dial's Address.Name came from fanoutTarget.
func isFanoutDial(name string) bool { return strings.HasPrefix(name, fanoutPrefix) }

// errFanoutAnswered ends memberlist's read of a fan-out member's answer
// once the answer has begun (fanoutConn).
var errFanoutAnswered = errors.New("gossip: member answered the join announcement; its whole state is not read")

// fanoutConn is the joining node's end of one push-pull of the fan-out.
// The member reads this node's state, writes its own whole state back,
// and only then merges this node's (memberlist's order, in handleConn).
// The joining node has no use for the N entries of each answer: its join
// through the contact brings the cluster's state once. Decoding them
// would cost the joining node O(N²) for a fan-out to N members, and delay
// the announcements still to be sent behind it.
//
// So the first Read waits for the answer's first byte, which tells that
// the member has read this node's state, and fails with
// errFanoutAnswered; Close reads the rest unparsed until the member
// closes the connection after its merge (memberlist's deadline on the
// connection bounds the wait), so the member's write never fails.
type fanoutConn struct {
	net.Conn
	answered bool
}

func (c *fanoutConn) Read(p []byte) (int, error) {
	if !c.answered {
		var first [1]byte
		if _, err := io.ReadFull(c.Conn, first[:]); err != nil {
			return 0, err
		}
		c.answered = true
	}
	return 0, errFanoutAnswered
}

func (c *fanoutConn) Close() error {
	if c.answered {
		_, _ = io.Copy(io.Discard, c.Conn)
	}
	return c.Conn.Close()
}
