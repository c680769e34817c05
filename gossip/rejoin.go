package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rosterhq/roster/internal/rendezvous"
)

// rejoinState is what the background rejoin reports while this node has no
// live peer although others are registered.
type rejoinState struct {
	isolated bool
	attempts int
	next     time.Time
	lastErr  string
}

// backoffs paces the background rejoin's attempts, per member. A member
// is tried at once when gossip first shows it down; after each attempt,
// whatever its outcome, the next waits twice as long (from RejoinMin up to
// RejoinMax, plus up to a quarter of jitter). A member's pace is forgotten
// only once it has stayed alive for RejoinMax, so a member that keeps
// failing and coming back (false failures of an overloaded node) is
// reconnected less and less often rather than at every failure.
type backoffs struct {
	min, max time.Duration
	byName   map[string]*backoff
}

type backoff struct {
	delay      time.Duration
	next       time.Time
	aliveSince time.Time // zero while the member is down
}

func newBackoffs(p Profile) *backoffs {
	return &backoffs{min: p.RejoinMin, max: p.RejoinMax, byName: map[string]*backoff{}}
}

// observe notes which members gossip shows alive at now.
func (b *backoffs) observe(alive map[string]bool, now time.Time) {
	for name, st := range b.byName {
		switch {
		case !alive[name]:
			st.aliveSince = time.Time{}
		case st.aliveSince.IsZero():
			st.aliveSince = now
		case now.Sub(st.aliveSince) >= b.max:
			delete(b.byName, name)
		}
	}
}

// due tells whether name may be tried at now.
func (b *backoffs) due(name string, now time.Time) bool {
	st := b.byName[name]
	return st == nil || !now.Before(st.next)
}

// tried records an attempt at name made at now and returns the wait
// until the next one.
func (b *backoffs) tried(name string, now time.Time) time.Duration {
	st := b.byName[name]
	if st == nil {
		st = &backoff{}
		b.byName[name] = st
	}
	st.delay = min(max(2*st.delay, b.min), b.max)
	wait := st.delay + time.Duration(rand.Int64N(int64(st.delay/4)+1))
	st.next = now.Add(wait)
	return wait
}

// forget drops every member's pace: this node has just rejoined its
// cluster.
func (b *backoffs) forget() { clear(b.byName) }

// RejoinStatus describes the background rejoin, or is empty when this node
// is connected to its cluster (or alone in it).
func (c *Cluster) RejoinStatus() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rejoin
	if !r.isolated {
		return ""
	}
	if r.attempts == 0 {
		return "rejoining: contacting registered nodes"
	}
	return fmt.Sprintf("rejoining: no registered node answered (%d attempts, last: %s); next try in %s",
		r.attempts, r.lastErr, time.Until(r.next).Round(100*time.Millisecond))
}

// rejoinLoop keeps trying registered members that gossip does not show
// alive, each with its own exponential backoff, by their advertised
// internal host name (so a peer that moved to a new address is found).
// It is the only way back into the cluster: every attempt starts with an
// introduction, which the contact may refuse (Admit); serf's own reconnect
// and snapshot rejoin, which would skip it, are off. Peers try a member that just failed too:
// when it restarts, whichever side reaches the other first brings it back,
// since a restarted node's own first tries can fail while its network
// comes up, and a node waiting on its own backoff would be seen late
// everywhere. Not every peer tries, only
// the rejoinPeers that rendezvous hashing picks for that member (all of
// them when this node is isolated).
func (c *Cluster) rejoinLoop(stop <-chan struct{}) {
	defer c.loops.Done()
	p := c.cfg.Profile
	tick := time.NewTicker(max(p.RejoinMin/2, 20*time.Millisecond))
	defer tick.Stop()
	paces := newBackoffs(p)
	// denied holds the registered peers that refused this isolated node's
	// rejoin because they do not have it registered (Admit).
	denied := map[string]bool{}
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		s, err := c.current()
		if err != nil {
			return
		}
		// memberlist lists the nodes it holds alive or suspect (serf's
		// alive), as pointers; serf's list would copy every member's tags.
		nodes := s.Memberlist().Members()
		alive := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			alive[n.Name] = true
		}
		alone := len(alive) <= 1 // then this node tries every member
		var targets []Member
		// Most ticks no registered member is missing: the peers' hashes
		// are computed only when one is.
		if missing := c.reg.absent(c.cfg.Name, alive); len(missing) > 0 {
			self := rendezvous.Hash(c.cfg.Name)
			peers := make([]uint64, 0, len(nodes))
			for _, n := range nodes {
				peers = append(peers, rendezvous.Hash(n.Name))
			}
			for _, m := range missing {
				if alone || picked(rendezvous.Hash(m.Name), self, peers, rejoinPeers) {
					targets = append(targets, m)
				}
			}
		}
		isolated := alone && len(targets) > 0
		c.mu.Lock()
		if !isolated {
			c.rejoin = rejoinState{}
		} else {
			c.rejoin.isolated = true
		}
		c.mu.Unlock()
		paces.observe(alive, time.Now())
		for _, m := range targets {
			if !paces.due(m.Name, time.Now()) {
				continue
			}
			// An isolated node joins (serf's join intent is its own); a
			// member only reconnects the one it tries. None starts once
			// this node is leaving or stopping (its loops' stop is closed
			// only after that): a join intent broadcast after its leave
			// intent would make peers record it failed, not left.
			c.rejoinMu.Lock()
			if c.isLeaving() {
				c.rejoinMu.Unlock()
				return
			}
			err := c.tryRejoin(m, !alone)
			c.rejoinMu.Unlock()
			wait := paces.tried(m.Name, time.Now())
			if err == nil {
				c.metrics.rejoins.WithLabelValues("ok").Inc()
				if isolated {
					c.log.Info().Str("via", m.Name).Msg("gossip: rejoined the cluster")
					paces.forget()
					clear(denied)
					break
				}
				continue
			}
			if errors.Is(err, ErrUnregistered) {
				return
			}
			if isolated && errors.Is(err, ErrNotRegistered) && c.deniedByMajority(denied, m.Name) {
				return
			}
			c.metrics.rejoins.WithLabelValues("failed").Inc()
			if m.Status == StatusSuspect {
				ev, changed := c.reg.setStatus(m.Name, StatusFailed)
				c.publish(ev, changed)
			}
			if isolated {
				c.mu.Lock()
				c.rejoin.attempts++
				c.rejoin.lastErr = fmt.Sprintf("%s: %v", m.Name, err)
				c.rejoin.next = time.Now().Add(wait)
				attempts := c.rejoin.attempts
				c.mu.Unlock()
				c.log.Warn().Err(err).Str("member", m.Name).Int("attempt", attempts).Dur("retry_in", wait).
					Msg("gossip: cannot rejoin the cluster through this member; retrying in the background")
			} else {
				c.log.Debug().Err(err).Str("member", m.Name).Dur("retry_in", wait).Msg("gossip: member still unreachable")
			}
		}
	}
}

// deniedByMajority records that member refused this isolated node's
// rejoin for not having it registered. One such answer may be a peer
// that has not yet heard of this node (it registered through another,
// and that peer restarted before it wrote the news down); when most
// registered peers say so, the cluster unregistered this node while it was
// away and has forgotten even its tombstone: it leaves and runs
// standalone, as when a peer still had the tombstone.
func (c *Cluster) deniedByMajority(denied map[string]bool, member string) bool {
	denied[member] = true
	peers := 0
	for _, m := range c.reg.unsorted() {
		if m.Name != c.cfg.Name {
			peers++
		}
	}
	if 2*len(denied) <= peers {
		return false
	}
	c.log.Error().Int("refused_by", len(denied)).Int("peers", peers).
		Msg("gossip: most registered peers do not have this node registered: it was unregistered while it was away; running standalone")
	c.leaveUnregistered(c.reg.nodeID(), "not registered on most of its peers")
	return true
}

// isLeaving tells whether this node is leaving its cluster or shutting
// down.
func (c *Cluster) isLeaving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaving || c.closed || c.serf == nil
}

// quiesceRejoin cancels the background rejoin's attempt in flight and
// waits until it has ended; the caller has marked this node leaving (or
// taken its serf away), so that no attempt starts after it.
func (c *Cluster) quiesceRejoin() {
	c.mu.Lock()
	cancel := c.rejoinCancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.rejoinMu.Lock()
	defer c.rejoinMu.Unlock()
}

func (c *Cluster) tryRejoin(m Member, reconnect bool) error {
	c.mu.Lock()
	parent := c.rejoinCtx
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(parent, c.cfg.Profile.TCPTimeout*2)
	defer cancel()
	mode := JoinRejoin
	if reconnect {
		mode = JoinReconnect
	}
	_, err := c.JoinVia(ctx, joinHostPort(m.Info.InternalHost, m.Info.InternalPort), JoinOptions{Mode: mode, ExpectID: m.Info.ID})
	return err
}

// rejoinPeers is how many alive members try to bring back a member that
// gossip shows down. When every member tried, a flurry of false failures
// in a large cluster became a storm: each of N nodes exchanged the whole
// state with each member it saw failed, every second, and the nodes too
// busy to answer probes in time multiplied (the 250-node simulation).
// Three keep the restarted node's fast return (it needs just one) at a
// cost that does not grow with N.
const rejoinPeers = 3

// picked tells whether self is among the k peers (self included in peers)
// whose rendezvous weight for target is highest. Members that see the same
// alive peers pick the same k for each target, with no coordination; those
// whose views differ for a moment pick a few more or fewer.
func picked(target, self uint64, peers []uint64, k int) bool {
	mine := rendezvous.Mix(target ^ self)
	above := 0
	for _, p := range peers {
		if p != self && rendezvous.Mix(target^p) > mine {
			if above++; above >= k {
				return false
			}
		}
	}
	return true
}
