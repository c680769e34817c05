package gossip

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// A stopping node drains: it gossips a draining flag in its metadata,
// waits (bounded) until every peer says it no longer places clients on it,
// and only then asks its own clients to reconnect. A client that asks any
// node where to go then is never sent back to the stopping node.

// drainQuery asks peers whether they have taken a draining node out of
// client placement. Its payload is that node's name; a peer answers "1"
// once it has, and not at all before.
const drainQuery = "roster-drain"

// drainRound bounds one round of drainQuery; a peer that missed it (a lost
// packet) is asked again in the next round.
const drainRound = time.Second

// drainPoll is how often a peer checks whether it has taken a draining
// node out of placement while a drainQuery waits for its answer.
const drainPoll = 10 * time.Millisecond

// updateInfo changes what this node advertises and gossips it (serf's
// SetTags, memberlist's UpdateNode). One change at a time, so that a
// client count and the draining flag set at once do not undo each other.
func (c *Cluster) updateInfo(change func(*NodeInfo) bool) error {
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	c.mu.Lock()
	next := c.info
	if !change(&next) {
		c.mu.Unlock()
		return nil
	}
	c.info = next
	s := c.serf
	c.mu.Unlock()
	if s != nil {
		if err := s.SetTags(next.Tags()); err != nil {
			return fmt.Errorf("gossip: update tags: %w", err)
		}
	}
	ev, changed := c.reg.observe(c.cfg.Name, next, c.advertiseAddr(), StatusAlive)
	c.publish(ev, changed)
	return nil
}

// SetDraining sets or clears the draining flag this node gossips. It
// returns once the change is on its way to the peers; AwaitDrained waits
// for them to act on it.
func (c *Cluster) SetDraining(on bool) error {
	return c.updateInfo(func(i *NodeInfo) bool {
		if i.Draining == on {
			return false
		}
		i.Draining = on
		return true
	})
}

// AwaitDrained waits until every peer that is not known dead or left says
// it no longer places clients on this node, or until ctx ends. It returns
// how many peers confirmed and how many were asked; a peer that never
// answers (an older version, a partition) only costs the wait.
func (c *Cluster) AwaitDrained(ctx context.Context) (confirmed, asked int, err error) {
	s, err := c.current()
	if err != nil {
		return 0, 0, err
	}
	pending := map[string]bool{}
	for _, m := range s.Memberlist().Members() {
		if m.Name != c.cfg.Name && (m.State == memberlist.StateAlive || m.State == memberlist.StateSuspect) {
			pending[m.Name] = true
		}
	}
	asked = len(pending)
	for len(pending) > 0 {
		round := drainRound
		if d, ok := ctx.Deadline(); ok {
			round = min(round, time.Until(d))
		}
		if ctx.Err() != nil || round <= 0 {
			return asked - len(pending), asked, nil
		}
		names := make([]string, 0, len(pending))
		for n := range pending {
			names = append(names, n)
		}
		resp, err := s.Query(drainQuery, []byte(c.cfg.Name), &serf.QueryParam{FilterNodes: names, Timeout: round})
		if err != nil {
			return asked - len(pending), asked, fmt.Errorf("gossip: ask peers to confirm the drain: %w", err)
		}
		collectDrained(ctx, resp, pending)
		resp.Close()
	}
	return asked, asked, nil
}

// collectDrained removes the peers that confirm from pending, until all
// did, the query ends or ctx does.
func collectDrained(ctx context.Context, resp *serf.QueryResponse, pending map[string]bool) {
	ch := resp.ResponseCh()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return
		case r, ok := <-ch:
			if !ok {
				return
			}
			if string(r.Payload) == "1" {
				delete(pending, r.From)
			}
		}
	}
}

// answerDrain answers a drainQuery once this node no longer places clients
// on the node it names, or not at all when the query ends first. It waits
// beside the event loop, which must not block.
func (c *Cluster) answerDrain(q *serf.Query, stop <-chan struct{}) {
	name := string(q.Payload)
	if name == "" || name == c.cfg.Name {
		return
	}
	go func() {
		t := time.NewTicker(drainPoll)
		defer t.Stop()
		for !c.drainSeen(name) {
			if time.Now().After(q.Deadline()) {
				return
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
		if err := q.Respond([]byte("1")); err != nil {
			c.log.Debug().Err(err).Str("member", name).Msg("gossip: cannot confirm a drain")
		}
	}()
}

// drainSeen reports whether this node no longer places clients on name:
// the node's own judgement (Config.DrainSeen) when it has one, else the
// registry's.
func (c *Cluster) drainSeen(name string) bool {
	if c.cfg.DrainSeen != nil {
		return c.cfg.DrainSeen(name)
	}
	m, ok := c.reg.get(name)
	return !ok || m.Info.Draining || m.Status != StatusAlive
}
