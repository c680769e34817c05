package apitest

import (
	"context"
	"sync"

	"github.com/rosterhq/roster/api"
)

// Subscribe delivers what Publish and Change send until ctx ends, cancel
// is called or EndSubscriptions ends every subscription.
func (b *Backend) Subscribe(ctx context.Context) (<-chan api.NodeEvent, func()) {
	ch := make(chan api.NodeEvent, 16)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[chan api.NodeEvent]bool{}
	}
	b.subs[ch] = true
	b.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.subs[ch] {
				delete(b.subs, ch)
				close(ch)
			}
		})
	}
	context.AfterFunc(ctx, cancel)
	return ch, cancel
}

// Publish sends ev to every subscriber; List stays as it is.
func (b *Backend) Publish(ev api.NodeEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		ch <- ev
	}
}

// Change applies ev to List (a node added, replaced or removed) and
// publishes it, as a node's membership changes.
func (b *Backend) Change(ev api.NodeEvent) {
	b.mu.Lock()
	replaced := false
	for i, n := range b.List {
		if n.Name == ev.Node.Name {
			if ev.Type == api.EventRemove {
				b.List = append(b.List[:i], b.List[i+1:]...)
			} else {
				b.List[i] = ev.Node
			}
			replaced = true
			break
		}
	}
	if !replaced && ev.Type != api.EventRemove {
		b.List = append(b.List, ev.Node)
	}
	b.mu.Unlock()
	b.Publish(ev)
}

// EndSubscriptions closes every subscription, as a stopping node does.
func (b *Backend) EndSubscriptions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}

// Subscribers counts the open subscriptions.
func (b *Backend) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
