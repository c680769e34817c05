package gossip

import "time"

// Status is a registered member's state as this node sees it.
type Status string

// The four statuses of a registered member. A member is connected only when
// alive.
const (
	StatusAlive   Status = "alive"
	StatusSuspect Status = "suspect"
	StatusFailed  Status = "failed"
	StatusLeft    Status = "left"
)

var allStatuses = []Status{StatusAlive, StatusSuspect, StatusFailed, StatusLeft}

// Member is one registered node.
type Member struct {
	Name string   `json:"name"`
	Info NodeInfo `json:"info"`
	// Addr is the gossip address (ip:port) it was last seen at.
	Addr   string    `json:"addr,omitempty"`
	Status Status    `json:"status"`
	Since  time.Time `json:"since"`
}

// Tombstone marks an unregistered node: that name with that node id never
// comes back by itself. A new node (new id) may take the name.
type Tombstone struct {
	Name string    `json:"name"`
	ID   string    `json:"id"`
	At   time.Time `json:"at"`
}

// EventType says what changed.
type EventType string

// Membership event types.
const (
	EventJoin    EventType = "join"    // became alive: new, or back after failing or leaving
	EventUpdate  EventType = "update"  // advertised info changed, or a suspicion was refuted
	EventSuspect EventType = "suspect" // missed probes; may still refute
	EventFail    EventType = "fail"    // declared dead
	EventLeave   EventType = "leave"   // left gracefully; stays registered
	EventRemove  EventType = "remove"  // unregistered
)

// Event is one change of one member.
type Event struct {
	Type   EventType `json:"type"`
	Member Member    `json:"member"`
}
