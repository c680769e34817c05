package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"
)

// EventsPath streams membership changes as server-sent events. It is
// roster's own path (Axon Server has no such stream).
const EventsPath = "/v1/public/events"

// Types of NodeEvent. The first six are membership changes as gossip
// reports them; EventResync only travels from a Backend to the API.
const (
	EventJoin    = "join"
	EventUpdate  = "update"
	EventSuspect = "suspect"
	EventFail    = "fail"
	EventLeave   = "leave"
	EventRemove  = "remove"
	// EventResync tells the API that changes were missed (the subscriber
	// fell behind): it sends the full list again instead of an event.
	EventResync = "resync"
)

// Names of the server-sent events on EventsPath.
const (
	SSENodes  = "nodes"
	SSEChange = "change"
	SSEPing   = "ping"
)

// NodeEvent is one membership change: what happened and the node as it is
// now (for remove, as it was last).
type NodeEvent struct {
	Type string `json:"type" enum:"join,update,suspect,fail,leave,remove" doc:"What changed: join (alive: new, or back), update (advertised fields changed or a suspicion refuted), suspect, fail, leave (graceful, stays registered), remove (unregistered)."`
	Node Node   `json:"node" doc:"The node after the change; for remove, as it was last."`
}

// Ping keeps an idle stream alive through proxies and lets clients notice
// a server that went silent.
type Ping struct {
	Time time.Time `json:"time" doc:"Server time."`
}

// pingInterval is how often an idle stream carries a ping.
const pingInterval = 15 * time.Second

// retryMillis is the reconnection delay the stream asks clients to use.
const retryMillis = 1000

func (s *server) registerEvents(a huma.API, errs []int, security []map[string][]string) {
	sse.Register(a, huma.Operation{
		OperationID: "streamClusterEvents",
		Method:      http.MethodGet,
		Path:        EventsPath,
		Summary:     "Stream membership changes (server-sent events)",
		Description: "First a `nodes` event with every registered node (as GET /v1/public), then one `change` " +
			"event per membership change, and a `ping` event every 15 s while idle. When the answering node " +
			"missed changes it sends `nodes` again: clients replace their list with it. The stream ends when " +
			"the node stops; reconnect (after the `retry` delay) to get the list again. With access control " +
			"on, send the token in the AxonIQ-Access-Token header (EventSource cannot: use fetch).",
		Tags:     []string{TagPublic},
		Errors:   errs,
		Security: security,
		// Proxies must neither cache nor buffer the stream.
		Middlewares: huma.Middlewares{func(ctx huma.Context, next func(huma.Context)) {
			ctx.SetHeader("Cache-Control", "no-cache")
			ctx.SetHeader("X-Accel-Buffering", "no")
			next(ctx)
		}},
	}, map[string]any{
		SSENodes:  []Node{},
		SSEChange: NodeEvent{},
		SSEPing:   Ping{},
	}, s.events)
}

// events subscribes before it reads the list, so no change falls between
// the two; a change already in the list is applied twice, harmlessly.
func (s *server) events(ctx context.Context, _ *struct{}, send sse.Sender) {
	changes, cancel := s.backend.Subscribe(ctx)
	defer cancel()
	if send(sse.Message{Data: s.nodeList(ctx), Retry: retryMillis}) != nil {
		return
	}
	interval := s.pingInterval
	if interval <= 0 {
		interval = pingInterval
	}
	ping := time.NewTicker(interval)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-changes:
			if !ok {
				return // the node stops: clients reconnect elsewhere or later
			}
			if ev.Type == EventResync {
				err = send.Data(s.nodeList(ctx))
			} else {
				err = send.Data(ev)
			}
			ping.Reset(interval)
		case now := <-ping.C:
			err = send.Data(Ping{Time: now.UTC()})
		}
		if err != nil {
			return // the client went away
		}
	}
}

func (s *server) nodeList(ctx context.Context) []Node {
	nodes := s.backend.Nodes(ctx)
	if nodes == nil {
		nodes = []Node{}
	}
	return nodes
}
