package main

import (
	"context"
	"sync"
	"time"
)

// watcher reads member lists while the benchmark waits for a join or a
// failure, and notes any node listed failed or suspect that was neither
// killed nor stopped: a false failure.
type watcher struct {
	a     agent
	every time.Duration
	res   *result

	mu         sync.Mutex
	down       map[string]bool // killed or stopped on purpose
	falseFail  map[[2]string]bool
	falseSusp  map[[2]string]bool
	lastStatus map[[2]string]string
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

func (w *watcher) note(observer string, st map[string]member) {
	w.mu.Lock()
	defer w.mu.Unlock()
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
