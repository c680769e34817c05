package gossip

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/rendezvous"
)

// TestRejoinPeersArePickedByRendezvous checks what the background rejoin
// relies on: members that see the same alive peers agree on exactly
// rejoinPeers of them for each member that is down, the choice differs
// from one down member to the next, and in a small cluster everyone tries.
func TestRejoinPeersArePickedByRendezvous(t *testing.T) {
	names := func(n int) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = rendezvous.Hash(fmt.Sprintf("node%d", i+1))
		}
		return out
	}
	peers := names(100)
	load := map[uint64]int{}
	for d := range 200 {
		target := rendezvous.Hash(fmt.Sprintf("down%d", d))
		var chosen []uint64
		for _, p := range peers {
			if picked(target, p, peers, rejoinPeers) {
				chosen = append(chosen, p)
				load[p]++
			}
		}
		require.Len(t, chosen, rejoinPeers, "down%d", d)
	}
	// 600 picks over 100 peers: spread, not piled on a few.
	require.Greater(t, len(load), 80)
	for p, n := range load {
		require.LessOrEqual(t, n, 20, "peer %x picked %d times", p, n)
	}

	small := names(rejoinPeers)
	for _, p := range small {
		require.True(t, picked(rendezvous.Hash("down"), p, small, rejoinPeers))
	}
}

// TestRejoinBackoffSlowsAFlappingMember checks the background rejoin's
// pace: a member is tried at once when it goes down, then less and less
// often, also when it keeps coming back and failing again, until it has
// stayed alive for RejoinMax.
func TestRejoinBackoffSlowsAFlappingMember(t *testing.T) {
	p := Profile{RejoinMin: time.Second, RejoinMax: 8 * time.Second}
	b := newBackoffs(p)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down := map[string]bool{}
	up := map[string]bool{"x": true}

	b.observe(down, now)
	require.True(t, b.due("x", now), "a member that just went down is tried at once")
	var waits []time.Duration
	for range 5 {
		w := b.tried("x", now)
		require.False(t, b.due("x", now.Add(w-time.Millisecond)), "tried again before its wait of %s", w)
		require.True(t, b.due("x", now.Add(w)))
		waits = append(waits, w)
		now = now.Add(w)
	}
	for i, base := range []time.Duration{1, 2, 4, 8, 8} {
		require.GreaterOrEqual(t, waits[i], base*time.Second, "wait %d", i)
		require.LessOrEqual(t, waits[i], base*time.Second*5/4, "wait %d", i)
	}

	// Back for a moment, then down again: still at the slow pace.
	b.observe(up, now)
	now = now.Add(time.Second)
	b.observe(down, now)
	w := b.tried("x", now)
	require.GreaterOrEqual(t, w, 8*time.Second, "a flapping member is not reconnected at every failure")

	// Alive for RejoinMax: its next failure is tried at once again.
	now = now.Add(w)
	b.observe(up, now)
	b.observe(up, now.Add(p.RejoinMax))
	b.observe(down, now.Add(p.RejoinMax+time.Second))
	b.tried("y", now) // another member's pace is its own
	require.True(t, b.due("x", now.Add(p.RejoinMax+time.Second)))
	require.False(t, b.due("y", now))
	b.forget()
	require.True(t, b.due("y", now))
}

// TestReconnectBroadcastsNoJoinIntent checks that a member bringing back
// another (the background rejoin of a node that is not isolated) only
// exchanges state with it, where a join also queues serf's join intent,
// which every node gossips on. Gossip and probes, which would send the
// queued broadcasts, are slowed so that the queue shows what was added.
func TestReconnectBroadcastsNoJoinIntent(t *testing.T) {
	p := localProfile()
	p.GossipInterval, p.ProbeInterval, p.PushPullInterval = time.Minute, time.Minute, time.Hour
	s := newSimWith(t, 3, p)
	t.Cleanup(s.close)
	a, b, c := s.nodes[0], s.nodes[1], s.nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, nd := range []*simNode{b, c} {
		_, err := nd.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister})
		require.NoError(t, err)
	}
	intents := func() string {
		sf, err := a.c.current()
		require.NoError(t, err)
		return sf.Stats()["intent_queue"]
	}

	before := intents()
	_, err := a.c.JoinVia(ctx, c.addr, JoinOptions{Mode: JoinReconnect, ExpectID: c.c.Local().Info.ID})
	require.NoError(t, err)
	require.Equal(t, before, intents(), "a reconnect queued a broadcast")

	_, err = a.c.JoinVia(ctx, c.addr, JoinOptions{Mode: JoinRejoin, ExpectID: c.c.Local().Info.ID})
	require.NoError(t, err)
	require.NotEqual(t, before, intents(), "a join queues its intent")
}

// TestLeaveWaitsForTheRejoinInFlight checks that a node leaving its
// cluster first ends the background rejoin's attempt in flight: one that
// completed after the leave would broadcast a join intent newer than the
// leave intent, and peers would record the node failed, not left.
func TestLeaveWaitsForTheRejoinInFlight(t *testing.T) {
	s, a, b := newSimPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	entered := make(chan struct{}, 1)
	var returned atomic.Bool
	var why atomic.Value
	hold := func(ctx context.Context, address string) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		why.Store(ctx.Err())
		returned.Store(true)
		return ctx.Err()
	}
	s.hold.Store(&hold)
	b.crash()
	select {
	case <-entered: // a, alone now, is trying to rejoin b
	case <-ctx.Done():
		t.Fatal("a never tried to rejoin b")
	}
	require.NoError(t, a.c.Leave())
	require.True(t, returned.Load(), "Leave returned while a rejoin attempt was still in flight")
	require.ErrorIs(t, why.Load().(error), context.Canceled, "the attempt in flight is cancelled, not left to time out")
}
