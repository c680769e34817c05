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

type backoff struct {
	delay time.Duration
	next  time.Time
}

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
// Serf's own reconnect covers only members it still remembers; after a
// restart it remembers none. Peers try a member that just failed too:
// when it restarts, whichever side reaches the other first brings it back,
// since a restarted node's own first tries can fail while its network
// comes up (without the peers' tries, a container restart once took 27.5 s
// to be seen everywhere instead of about 1 s). Not every peer tries, only
// the rejoinPeers that rendezvous hashing picks for that member (all of
// them when this node is isolated).
func (c *Cluster) rejoinLoop(stop <-chan struct{}) {
	defer c.loops.Done()
	p := c.cfg.Profile
	tick := time.NewTicker(max(p.RejoinMin/2, 20*time.Millisecond))
	defer tick.Stop()
	backoffs := map[string]*backoff{}
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
		peers := make([]uint64, 0, len(nodes))
		for _, n := range nodes {
			alive[n.Name] = true
			peers = append(peers, rendezvous.Hash(n.Name))
		}
		alone := len(alive) <= 1 // then this node tries every member
		self := rendezvous.Hash(c.cfg.Name)
		var targets []Member
		for _, m := range c.reg.unsorted() {
			if m.Name != c.cfg.Name && !alive[m.Name] && (alone || picked(rendezvous.Hash(m.Name), self, peers, rejoinPeers)) {
				targets = append(targets, m)
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
		for name := range backoffs {
			if alive[name] {
				delete(backoffs, name)
			}
		}
		now := time.Now()
		for _, m := range targets {
			b := backoffs[m.Name]
			if b == nil {
				b = &backoff{}
				backoffs[m.Name] = b
			}
			if now.Before(b.next) {
				continue
			}
			select {
			case <-stop:
				return
			default:
			}
			err := c.tryRejoin(m)
			if err == nil {
				c.metrics.rejoins.WithLabelValues("ok").Inc()
				if isolated {
					c.log.Info().Str("via", m.Name).Msg("gossip: rejoined the cluster")
				}
				clear(backoffs)
				break
			}
			if errors.Is(err, ErrUnregistered) {
				return
			}
			c.metrics.rejoins.WithLabelValues("failed").Inc()
			b.delay = min(max(2*b.delay, p.RejoinMin), p.RejoinMax)
			jitter := time.Duration(rand.Int64N(int64(b.delay/4) + 1))
			b.next = time.Now().Add(b.delay + jitter)
			if m.Status == StatusSuspect {
				ev, changed := c.reg.setStatus(m.Name, StatusFailed)
				c.publish(ev, changed)
			}
			if isolated {
				c.mu.Lock()
				c.rejoin.attempts++
				c.rejoin.lastErr = fmt.Sprintf("%s: %v", m.Name, err)
				c.rejoin.next = b.next
				attempts := c.rejoin.attempts
				c.mu.Unlock()
				c.log.Warn().Err(err).Str("member", m.Name).Int("attempt", attempts).Dur("retry_in", b.delay+jitter).
					Msg("gossip: cannot rejoin the cluster through this member; retrying in the background")
			} else {
				c.log.Debug().Err(err).Str("member", m.Name).Dur("retry_in", b.delay+jitter).Msg("gossip: member still unreachable")
			}
		}
	}
}

func (c *Cluster) tryRejoin(m Member) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Profile.TCPTimeout*2)
	defer cancel()
	_, err := c.JoinVia(ctx, joinHostPort(m.Info.InternalHost, m.Info.InternalPort), JoinOptions{ExpectID: m.Info.ID})
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
