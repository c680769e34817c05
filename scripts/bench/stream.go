package main

import (
	"context"
	"maps"
	"net/http"
	"time"

	"github.com/rosterhq/roster/api"
)

// streamer is an agent whose nodes push their membership changes, so the
// benchmark can watch a join or a failure without polling (-watch
// stream). The serf agent has a stream too, but it delays member events
// by at least a second to coalesce them, so it is polled.
type streamer interface {
	// Stream calls fn with nd's whole member list when the stream starts
	// and after each change, until ctx ends or the node goes away. Calls
	// for one node do not overlap.
	Stream(ctx context.Context, nd *node, fn func(map[string]member)) error
}

// Stream follows GET /v1/public/events: the full list first, then one
// event per change.
func (r *rosterAgent) Stream(ctx context.Context, nd *node, fn func(map[string]member)) error {
	c := &api.Client{BaseURL: r.url(nd, ""), HTTP: r.stream}
	list := map[string]member{}
	return c.Events(ctx, func(ev api.StreamEvent) error {
		switch ev.Name {
		case api.SSENodes:
			clear(list)
			for _, n := range ev.Nodes {
				list[n.Name] = member{status: n.Status, since: n.Since}
			}
		case api.SSEChange:
			n := ev.Change.Node
			if ev.Change.Type == api.EventRemove {
				delete(list, n.Name)
			} else {
				list[n.Name] = member{status: n.Status, since: n.Since}
			}
		default:
			return nil
		}
		fn(maps.Clone(list))
		return nil
	})
}

// newStreamClient is an HTTP client for long-lived event streams: no
// overall timeout, one connection per node.
func newStreamClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DisableCompression:    true,
		ResponseHeaderTimeout: 5 * time.Second,
	}}
}
