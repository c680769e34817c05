//go:build linux

package attack

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// peakRSSBound is the most resident memory a node may reach under the
// header bomb.
const peakRSSBound = 200 << 20

// maxAttackLogLines is the most lines a node may log about one attack:
// bad input is logged at most once per source per 10 s, for at most 16
// sources (one line stands for the rest), so a flood of some seconds from
// ever new ports writes a few dozen lines at most.
const maxAttackLogLines = 40

// TestPushPullHeaderBomb sends a keyless node the 42-byte push/pull
// header that claims 1,048,576 nodes (memberlist alone would allocate
// 117 MB for each before reading any) over 8 connections at a time for
// 6 s. The node's peak resident memory stays under 200 MB, it answers
// health throughout, every bomb is refused and counted, and its peers
// see it alive all along.
func TestPushPullHeaderBomb(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, spec{name: "a"}, spec{name: "b"}, spec{name: "c"})
	a := nodes[0]
	before := a.dropped(t)["oversized/tcp"]
	rssBefore, _ := a.memory(t)
	mark := a.logMark()

	exclusive(t)
	watch := watchStatuses(t, []*node{a}, nodes[1:]...)
	probe := probeHealth(a, 200*time.Millisecond, 5*time.Second)
	bomb := headerBomb(1 << 20)
	const conns, span = 8, 6 * time.Second
	made, closed := streamFlood(a.internal, conns, span, func() []byte { return bomb })
	took, fails := probe.end()

	rss, peak := a.memory(t)
	var refused float64
	waitFor(t, 10*time.Second, "every bomb counted", func() bool {
		refused = a.dropped(t)["oversized/tcp"] - before
		return refused >= float64(made)
	})
	lines := a.logSince(mark)
	peers := watch.requireNoFalseFailure(t)
	require.Positive(t, made)
	require.Equal(t, made, closed, "the node hangs up on every bomb")
	require.Empty(t, fails, "health during the bomb")
	require.Less(t, peak, int64(peakRSSBound), "peak RSS (VmHWM)")
	require.LessOrEqual(t, len(lines), maxAttackLogLines, "log lines during the bomb: %v", sampleOf(lines))
	status, _, _, err := a.get("/actuator/health", false, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, 200, status)

	res.Add(t, "push/pull header bomb",
		fmt.Sprintf("%d-byte push/pull header claiming 1,048,576 nodes, %d connections at a time for %s against a keyless node: %d sent", len(bomb), conns, span, made),
		fmt.Sprintf("peak RSS (VmHWM) %s (bound %s; RSS %s before, %s after); %.0f counted in roster_gossip_dropped_total{reason=\"oversized\"}; %s; %d health probes all UP, slowest %s; %s",
			mb(peak), mb(peakRSSBound), mb(rssBefore), mb(rss), refused, logLines(lines), len(took), ms(slowest(took)), peers))
}
