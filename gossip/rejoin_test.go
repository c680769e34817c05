package gossip

import (
	"fmt"
	"testing"

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
