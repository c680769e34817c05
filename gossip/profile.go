package gossip

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Profile holds the timings of failure detection, dissemination and
// rejoining. Named profiles: lan (default), wan, local.
type Profile struct {
	Name string

	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	IndirectChecks          int
	AwarenessMaxMultiplier  int
	GossipInterval          time.Duration
	GossipNodes             int
	RetransmitMult          int
	PushPullInterval        time.Duration
	TCPTimeout              time.Duration
	GossipToTheDeadTime     time.Duration
	// Compression makes memberlist try LZW on every packet and stream it
	// sends (and use it when smaller): it shrinks push-pulls, costs CPU on
	// every ping, and leaves pings and acks as they were.
	Compression bool

	// LeavePropagateDelay is how long a leaving node keeps gossiping after
	// broadcasting its leave, so peers hear of it before it goes.
	LeavePropagateDelay time.Duration
	// RejoinMin and RejoinMax bound the backoff between rejoin attempts to
	// one unreachable registered member.
	RejoinMin time.Duration
	RejoinMax time.Duration
	// StatusPoll is how often memberlist's suspect states are sampled
	// (serf reports no event for them).
	StatusPoll time.Duration
	// ReconcileInterval is how often the registry is compared with serf's
	// member list, in case an event was missed.
	ReconcileInterval time.Duration
	// PersistDelay is how long a change gossip brings waits before the
	// registry writes it, with the changes that follow meanwhile.
	PersistDelay time.Duration
}

// ProfileNames lists the profiles ProfileByName knows.
var profileNames = []string{"lan", "wan", "local"}

// ProfileByName returns a named profile.
func ProfileByName(name string) (Profile, error) {
	switch name {
	case "", "lan":
		return lanProfile(), nil
	case "wan":
		return wanProfile(), nil
	case "local":
		return localProfile(), nil
	}
	return Profile{}, fmt.Errorf("gossip: unknown gossip profile %q (allowed: %v)", name, profileNames)
}

func fromMemberlist(name string, c *memberlist.Config) Profile {
	return Profile{
		Name:                    name,
		ProbeInterval:           c.ProbeInterval,
		ProbeTimeout:            c.ProbeTimeout,
		SuspicionMult:           c.SuspicionMult,
		SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		IndirectChecks:          c.IndirectChecks,
		AwarenessMaxMultiplier:  c.AwarenessMaxMultiplier,
		GossipInterval:          c.GossipInterval,
		GossipNodes:             c.GossipNodes,
		RetransmitMult:          c.RetransmitMult,
		PushPullInterval:        c.PushPullInterval,
		TCPTimeout:              c.TCPTimeout,
		GossipToTheDeadTime:     c.GossipToTheDeadTime,
		Compression:             c.EnableCompression,
		LeavePropagateDelay:     time.Second,
		RejoinMin:               time.Second,
		RejoinMax:               30 * time.Second,
		StatusPoll:              250 * time.Millisecond,
		ReconcileInterval:       reconcileInterval,
		PersistDelay:            persistDelay,
	}
}

// lanProfile is for nodes on one data-centre network (scripts/bench
// measures it against the serf agent's LAN profile).
//
// Failure detection: a dead node is declared failed about (1.9 +
// SuspicionMult) probe intervals after it dies (first probe, one
// interval of direct and indirect probes, then the suspicion timeout
// once SuspicionMult-2 other nodes confirm). memberlist's LAN values (1 s,
// 500 ms) make that about 6 s; 250 ms, 125 ms make it about 1.5 s. LAN
// round trips are well under a millisecond, so 125 ms for the direct ack
// and 125 ms more for the indirect ones and the TCP fallback leave ample
// room. What keeps false failures away is unchanged: three indirect
// probes and a TCP ping before any suspicion, Lifeguard's awareness, and a
// suspicion that lasts SuspicionMaxTimeoutMult (6) times longer, 6 s at
// 10 nodes, unless other nodes independently confirm it, time enough for a
// healthy node to hear of it and refute. e2e/ checks this with 10% packet
// loss and docker pause.
//
// Gossip every 100 ms instead of 200 ms spreads a failure or a refutation
// twice as fast and costs nothing when there is nothing to tell.
// Compression is off: it cost a fifth of a join's CPU and saved no byte
// on probes, which are nearly all the idle traffic.
func lanProfile() Profile {
	p := fromMemberlist("lan", memberlist.DefaultLANConfig())
	p.ProbeInterval = 250 * time.Millisecond
	p.ProbeTimeout = 125 * time.Millisecond
	p.GossipInterval = 100 * time.Millisecond
	p.Compression = false
	p.LeavePropagateDelay = 500 * time.Millisecond
	return p
}

// wanProfile is for nodes spread over slow or lossy links.
func wanProfile() Profile {
	p := fromMemberlist("wan", memberlist.DefaultWANConfig())
	p.RejoinMax = 60 * time.Second
	p.StatusPoll = time.Second
	return p
}

// localProfile is for nodes on one machine (development and tests): fast
// probing, short timeouts.
func localProfile() Profile {
	p := fromMemberlist("local", memberlist.DefaultLocalConfig())
	p.ProbeInterval = 250 * time.Millisecond
	p.ProbeTimeout = 150 * time.Millisecond
	p.SuspicionMult = 4
	p.IndirectChecks = 2
	p.GossipInterval = 50 * time.Millisecond
	p.PushPullInterval = 5 * time.Second
	p.TCPTimeout = 2 * time.Second
	p.GossipToTheDeadTime = 5 * time.Second
	p.LeavePropagateDelay = 200 * time.Millisecond
	p.RejoinMin = 200 * time.Millisecond
	p.RejoinMax = 2 * time.Second
	p.StatusPoll = 50 * time.Millisecond
	return p
}

// apply copies the profile onto memberlist's and serf's configurations.
func (p Profile) apply(mc *memberlist.Config, sc *serf.Config) {
	mc.ProbeInterval = p.ProbeInterval
	mc.ProbeTimeout = p.ProbeTimeout
	mc.SuspicionMult = p.SuspicionMult
	mc.SuspicionMaxTimeoutMult = p.SuspicionMaxTimeoutMult
	mc.IndirectChecks = p.IndirectChecks
	mc.AwarenessMaxMultiplier = p.AwarenessMaxMultiplier
	mc.GossipInterval = p.GossipInterval
	mc.GossipNodes = p.GossipNodes
	mc.RetransmitMult = p.RetransmitMult
	mc.PushPullInterval = p.PushPullInterval
	mc.TCPTimeout = p.TCPTimeout
	mc.GossipToTheDeadTime = p.GossipToTheDeadTime
	mc.EnableCompression = p.Compression
	// roster never asks for network coordinates: without them acks carry
	// no coordinate and no Vivaldi update runs on every probe.
	sc.DisableCoordinates = true
	sc.LeavePropagateDelay = p.LeavePropagateDelay
	sc.ReconnectInterval = p.RejoinMax
}

// Dilate returns the profile with every timing multiplied by k: a
// simulation on a dilated clock runs k times slower than real time, so
// that more nodes fit on the machine's cores, and divides the times it
// measures by k. k below 2 returns the profile as it is.
func (p Profile) Dilate(k int) Profile {
	if k < 2 {
		return p
	}
	d := time.Duration(k)
	for _, f := range []*time.Duration{&p.ProbeInterval, &p.ProbeTimeout, &p.GossipInterval, &p.PushPullInterval,
		&p.TCPTimeout, &p.GossipToTheDeadTime, &p.LeavePropagateDelay, &p.RejoinMin, &p.RejoinMax, &p.StatusPoll,
		&p.ReconcileInterval, &p.PersistDelay} {
		*f *= d
	}
	return p
}
