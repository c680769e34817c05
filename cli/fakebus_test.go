package cli

import (
	"context"
	"sync"

	"github.com/rosterhq/roster/api"
)

// fakeBus is fakeBackend's Subscribe: tests publish events and end
// subscriptions by hand.
type fakeBus struct {
	mu   sync.Mutex
	subs map[chan api.NodeEvent]bool
}

func (f *fakeBackend) Subscribe(ctx context.Context) (<-chan api.NodeEvent, func()) {
	b := &f.bus
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

// change applies ev to the fake's list and publishes it.
func (f *fakeBackend) change(ev api.NodeEvent) {
	f.mu.Lock()
	replaced := false
	for i, n := range f.nodes {
		if n.Name == ev.Node.Name {
			if ev.Type == api.EventRemove {
				f.nodes = append(f.nodes[:i], f.nodes[i+1:]...)
			} else {
				f.nodes[i] = ev.Node
			}
			replaced = true
			break
		}
	}
	if !replaced && ev.Type != api.EventRemove {
		f.nodes = append(f.nodes, ev.Node)
	}
	f.mu.Unlock()
	f.bus.publish(ev)
}

func (b *fakeBus) publish(ev api.NodeEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		ch <- ev
	}
}

// end closes every subscription, as a stopping node does.
func (b *fakeBus) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}

func (b *fakeBus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
