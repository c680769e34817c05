package gossip

import (
	"context"
	"errors"
	"math"
	"time"
)

// reclaimLoop runs once after this node restarted at another gossip
// address than the one its data directory recorded (a rescheduled
// container, a changed port). Its peers still hold the old incarnation
// and refuse the new address ("conflicting address") until they declare
// the old one dead; from then on, the next state this node pushes to them
// is taken. memberlist pushes its state to one random peer every
// push-pull interval, which can leave a peer holding the old address for
// several intervals. So this loop asks each alive peer, over the internal
// service, where it sees this node, and push-pulls with every peer that
// still lists the old address, until all list the new one or the old
// incarnation must have been declared dead everywhere long ago.
func (c *Cluster) reclaimLoop(stop <-chan struct{}, from string) {
	defer c.loops.Done()
	p := c.cfg.Profile
	here := c.advertiseAddr()
	start := time.Now()
	giveUp := start.Add(c.reclaimWindow())
	c.log.Info().Str("from", from).Str("to", here).Msg("gossip: restarted at a new address; making sure every peer takes it")
	// Twice the probe interval: a peer declares the old incarnation dead
	// at some probe round, and a round trip per peer costs little.
	interval := 2 * p.ProbeInterval
	for {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		pending, total, err := c.reclaimRound(here)
		if err != nil {
			c.log.Warn().Err(err).Msg("gossip: a peer says this node was unregistered; no longer pushing the new address")
			return
		}
		if pending == 0 {
			c.log.Info().Int("peers", total).Dur("after", time.Since(start).Round(time.Millisecond)).
				Msg("gossip: every alive peer lists this node at its new address")
			return
		}
		if time.Now().After(giveUp) {
			c.log.Warn().Int("peers", pending).Msg("gossip: some peers still list this node at its old address; gossip's push-pull will tell them")
			return
		}
	}
}

// reclaimRound asks every alive peer where it sees this node and
// push-pulls with those that do not list it at here. It returns how many
// peers still need it, out of how many were asked, or ErrUnregistered.
func (c *Cluster) reclaimRound(here string) (pending, total int, err error) {
	s, err := c.current()
	if err != nil || c.cfg.Introducer == nil {
		return 0, 0, nil
	}
	self := c.Local()
	for _, m := range c.reg.unsorted() {
		if m.Name == c.cfg.Name || m.Status != StatusAlive {
			continue
		}
		total++
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Profile.TCPTimeout)
		intro, err := c.cfg.Introducer.Introduce(ctx, joinHostPort(m.Info.InternalHost, m.Info.InternalPort), self, c.returning())
		cancel()
		if errors.Is(err, ErrUnregistered) {
			return pending, total, err
		}
		if err == nil && listsAt(intro, c.cfg.Name, here) {
			continue
		}
		pending++
		// Only a peer that admitted this node is pushed its state: every
		// way back into the cluster goes through an introduction.
		if err == nil && m.Addr != "" {
			if _, err := s.Memberlist().Join([]string{m.Addr}); err != nil {
				c.log.Debug().Err(err).Str("member", m.Name).Msg("gossip: push-pull with member failed")
			}
		}
	}
	return pending, total, nil
}

// listsAt reports whether an introduction lists name alive at addr.
func listsAt(intro Introduction, name, addr string) bool {
	for _, m := range intro.Members {
		if m.Name == name {
			return m.Status == StatusAlive && m.Addr == addr
		}
	}
	return false
}

// reclaimWindow bounds reclaimLoop: by then every peer has declared the
// old incarnation dead, even with Lifeguard's longest suspicion and
// awareness slowing its probes down.
func (c *Cluster) reclaimWindow() time.Duration {
	p := c.cfg.Profile
	n := float64(max(len(c.reg.list()), 1))
	scale := max(1, math.Log10(n))
	suspicion := time.Duration(float64(p.SuspicionMult*p.SuspicionMaxTimeoutMult) * scale * float64(p.ProbeInterval))
	probing := time.Duration(max(p.AwarenessMaxMultiplier, 1)) * (p.ProbeInterval + p.ProbeTimeout)
	return 2*(suspicion+probing) + p.PushPullInterval
}
