package node

import (
	"context"
	"sync"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
)

// eventBuffer is how many membership events a subscriber may lag behind
// before gossip drops it; a whole cluster restarting fits in it.
const eventBuffer = 256

// Subscribe is api.Backend's: membership changes from gossip, as the REST
// API shows nodes. When gossip drops the subscription because the reader
// fell behind, it subscribes again and sends EventResync, so the reader
// rereads the list and misses nothing. The channel closes when ctx ends,
// cancel is called or the node stops.
func (b backend) Subscribe(ctx context.Context) (<-chan api.NodeEvent, func()) {
	n := b.n
	ctx, stop := context.WithCancel(ctx)
	out := make(chan api.NodeEvent)
	events, unsubscribe := n.cluster.Subscribe(eventBuffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		defer func() { unsubscribe() }()
		send := func(ev api.NodeEvent) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
			case <-n.bgStop:
			}
			return false
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.bgStop:
				return
			case ev, ok := <-events:
				if ok {
					if !send(toAPIEvent(ev)) {
						return
					}
					continue
				}
				// Dropped for lagging (or gossip shut down, which closes
				// bgStop first): subscribe again before telling the reader,
				// so nothing falls between the two.
				if ctx.Err() != nil || n.stopping.Load() {
					return
				}
				unsubscribe()
				events, unsubscribe = n.cluster.Subscribe(eventBuffer)
				if !send(api.NodeEvent{Type: api.EventResync}) {
					return
				}
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			stop()
			<-done
		})
	}
}

func toAPIEvent(ev gossip.Event) api.NodeEvent {
	return api.NodeEvent{Type: string(ev.Type), Node: toAPINode(ev.Member)}
}
