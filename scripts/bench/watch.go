package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// watcher reads member lists while the benchmark waits for a join or a
// failure, and notes any node listed failed or suspect that was neither
// killed nor stopped: a false failure. It polls every node (-watch poll),
// or follows the stream of each node it was told to follow (-watch
// stream, agents that are streamers): no load on the nodes while they
// gossip, and each change timed as it arrives.
type watcher struct {
	a      agent
	every  time.Duration
	res    *result
	stream streamer // nil: poll

	mu         sync.Mutex
	down       map[string]bool // killed or stopped on purpose
	falseFail  map[[2]string]bool
	falseSusp  map[[2]string]bool
	lastStatus map[[2]string]string
	lists      map[string]map[string]member // streamed: observer → its list
	wait       *pending                     // streamed: the condition until waits for
}

// pending is what until waits for in stream mode: the first arrival at
// which each wanted observer's list satisfied cond.
type pending struct {
	cond  func(map[string]member) bool
	start time.Time
	want  map[string]bool
	at    map[string]seenBy
	done  chan struct{}
}

// settleLocked records that observer's list satisfied p's condition at
// now, unless it did before.
func (p *pending) settleLocked(observer string, list map[string]member, now time.Time) {
	if _, ok := p.at[observer]; ok || !p.want[observer] || !p.cond(list) {
		return
	}
	p.at[observer] = seenBy{at: now.Sub(p.start), list: list}
	if len(p.at) == len(p.want) {
		close(p.done)
	}
}

// follow opens nd's stream (stream mode only) and returns once its first
// list has arrived; the stream ends with the node or with ctx.
func (w *watcher) follow(ctx context.Context, nd *node) error {
	if w.stream == nil {
		return nil
	}
	first := make(chan error, 1)
	go func() {
		started := false
		err := w.stream.Stream(ctx, nd, func(list map[string]member) {
			now := time.Now()
			w.mu.Lock()
			if w.lists == nil {
				w.lists = map[string]map[string]member{}
			}
			w.lists[nd.name] = list
			w.noteLocked(nd.name, list)
			if w.wait != nil {
				w.wait.settleLocked(nd.name, list, now)
			}
			w.mu.Unlock()
			if !started {
				started = true
				first <- nil
			}
		})
		if !started {
			first <- fmt.Errorf("bench: stream of %s: %w", nd.name, err)
		}
	}()
	return <-first
}

func (w *watcher) expectDown(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down == nil {
		w.down = map[string]bool{}
	}
	w.down[name] = true
}

// seenBy is what one observer answered when the condition first held.
type seenBy struct {
	at   time.Duration // from start to the answer's arrival; -1: never
	list map[string]member
}

// until polls every observer every w.every, all at the same instants
// counted from start, until cond holds for its list. It returns, per
// observer, the time from start to the answer that satisfied cond (the
// answer's arrival, so a poll's own latency counts against the agent), or
// -1 when limit passed first.
func (w *watcher) until(ctx context.Context, observers []*node, start time.Time, limit time.Duration, cond func(map[string]member) bool) []seenBy {
	if w.stream != nil {
		return w.untilStreamed(ctx, observers, start, limit, cond)
	}
	out := make([]seenBy, len(observers))
	var wg sync.WaitGroup
	for i, o := range observers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].at = -1
			for tick := 1; ctx.Err() == nil; tick++ {
				st, err := w.a.Members(ctx, o)
				if err == nil {
					w.note(o.name, st)
					if cond(st) {
						out[i] = seenBy{at: time.Since(start), list: st}
						return
					}
				}
				if time.Since(start) > limit {
					return
				}
				// The next instant on the common grid; late polls skip ticks.
				next := start.Add(time.Duration(tick) * w.every)
				for time.Until(next) < 0 {
					tick++
					next = start.Add(time.Duration(tick) * w.every)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// untilStreamed is until in stream mode: the time of the event after
// which each observer's list satisfied cond, or -1 when limit passed
// first. A list that satisfies cond already counts from now.
func (w *watcher) untilStreamed(ctx context.Context, observers []*node, start time.Time, limit time.Duration, cond func(map[string]member) bool) []seenBy {
	p := &pending{cond: cond, start: start, want: map[string]bool{}, at: map[string]seenBy{}, done: make(chan struct{})}
	for _, o := range observers {
		p.want[o.name] = true
	}
	w.mu.Lock()
	now := time.Now()
	for _, o := range observers {
		if list, ok := w.lists[o.name]; ok {
			p.settleLocked(o.name, list, now)
		}
	}
	w.wait = p
	w.mu.Unlock()

	timer := time.NewTimer(time.Until(start.Add(limit)))
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	w.mu.Lock()
	w.wait = nil
	out := make([]seenBy, len(observers))
	for i, o := range observers {
		if s, ok := p.at[o.name]; ok {
			out[i] = s
		} else {
			out[i].at = -1
		}
	}
	w.mu.Unlock()
	return out
}

func (w *watcher) note(observer string, st map[string]member) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.noteLocked(observer, st)
}

func (w *watcher) noteLocked(observer string, st map[string]member) {
	if w.falseFail == nil {
		w.falseFail, w.falseSusp, w.lastStatus = map[[2]string]bool{}, map[[2]string]bool{}, map[[2]string]string{}
	}
	for name, m := range st {
		s := m.status
		if w.down[name] {
			continue
		}
		k := [2]string{observer, name}
		if w.lastStatus[k] == s {
			continue
		}
		w.lastStatus[k] = s
		switch s {
		case "failed":
			w.falseFail[k] = true
		case "suspect":
			w.falseSusp[k] = true
		}
	}
}

// falseCounts is the number of (observer, member) pairs ever seen failed,
// and suspect, while the member was running.
func (w *watcher) falseCounts() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.falseFail), len(w.falseSusp)
}
