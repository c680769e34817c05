package gossip

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// No node names a node to a client before its peers agree: a stopping
// node gossips a draining flag in its metadata and waits (bounded) until
// every peer says it no longer places clients on it before it asks its own
// clients to move; a node that rebalances clients to a node that joined
// waits until every peer places clients on it. A client that asks any node
// where to go (Axon's connector asks a configured server at random) is
// then never sent back.

// placementQuery asks peers whether they place clients on a node. Its
// payload is "+name" (waiting until they do) or "-name" (until they do
// not); a peer answers "1" once that holds, and not at all before.
const placementQuery = "roster-placement"

// placementRound bounds one round of placementQuery; a peer that missed it
// (a lost packet) is asked again in the next round.
const placementRound = time.Second

// placementPoll is how often a peer checks its placement while a
// placementQuery waits for its answer.
const placementPoll = 10 * time.Millisecond

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
	return c.awaitPlacement(ctx, "-"+c.cfg.Name)
}

// AwaitPlaced waits until every peer that is not known dead or left says
// it places clients on member (a node that joined), or until ctx ends. It
// returns how many peers confirmed and how many were asked.
func (c *Cluster) AwaitPlaced(ctx context.Context, member string) (confirmed, asked int, err error) {
	return c.awaitPlacement(ctx, "+"+member)
}

func (c *Cluster) awaitPlacement(ctx context.Context, payload string) (confirmed, asked int, err error) {
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
		round := placementRound
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
		resp, err := s.Query(placementQuery, []byte(payload), &serf.QueryParam{FilterNodes: names, Timeout: round})
		if err != nil {
			return asked - len(pending), asked, fmt.Errorf("gossip: ask peers about client placement: %w", err)
		}
		collectConfirmations(ctx, resp, pending)
		resp.Close()
	}
	return asked, asked, nil
}

// collectConfirmations removes the peers that confirm from pending, until
// all did, the query ends or ctx does.
func collectConfirmations(ctx context.Context, resp *serf.QueryResponse, pending map[string]bool) {
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

// answerPlacement answers a placementQuery once this node's placement is
// as asked, or not at all when the query ends first. It waits beside the
// event loop, which must not block.
func (c *Cluster) answerPlacement(q *serf.Query, stop <-chan struct{}) {
	p := string(q.Payload)
	if len(p) < 2 || (p[0] != '+' && p[0] != '-') {
		return
	}
	want, name := p[0] == '+', p[1:]
	go func() {
		t := time.NewTicker(placementPoll)
		defer t.Stop()
		for c.places(name) != want {
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
			c.log.Debug().Err(err).Str("member", name).Msg("gossip: cannot answer a placement query")
		}
	}()
}

// places reports whether this node places clients on name: the node's
// own judgement (Config.Places) when it has one, else the registry's.
func (c *Cluster) places(name string) bool {
	if c.cfg.Places != nil {
		return c.cfg.Places(name)
	}
	m, ok := c.reg.get(name)
	return ok && !m.Info.Draining && m.Status == StatusAlive
}
