package rpc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func targets(names ...string) []Target {
	out := make([]Target, len(names))
	for i, n := range names {
		out[i] = Target{Name: n, Host: n + ".example.com", GRPCPort: 8124, HTTPPort: 8024, Version: "0.1.0"}
	}
	return out
}

func placementOf(names ...string) *Placement {
	p := NewPlacement()
	p.Update(targets(names...))
	return p
}

func clientIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%d@app-host-%d", 1000+i, i%7)
	}
	return ids
}

func picks(t testing.TB, p *Placement, ids []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		n, ok := p.Pick(id)
		require.True(t, ok)
		out[id] = n
	}
	return out
}

func TestPlacementSameAnswerWhateverTheOrder(t *testing.T) {
	ids := clientIDs(500)
	a := placementOf("n1", "n2", "n3", "n4")
	b := placementOf("n4", "n2", "n1", "n3")
	require.Equal(t, picks(t, a, ids), picks(t, b, ids))
	require.Equal(t, []string{"n1", "n2", "n3", "n4"}, b.Nodes())
}

func TestPlacementSpreadsEvenly(t *testing.T) {
	names := []string{"node1", "node2", "node3", "node4", "node5"}
	ids := clientIDs(30000)
	count := map[string]int{}
	for _, n := range picks(t, placementOf(names...), ids) {
		count[n]++
	}
	want := len(ids) / len(names)
	for _, n := range names {
		require.InDelta(t, want, count[n], float64(want)*0.05, "%s has %d of %d clients", n, count[n], len(ids))
	}
}

func TestPlacementMovesOnlyTheClientsOfAGoneNode(t *testing.T) {
	ids := clientIDs(3000)
	before := picks(t, placementOf("n1", "n2", "n3", "n4"), ids)
	after := picks(t, placementOf("n1", "n2", "n4"), ids)
	moved := map[string]int{}
	for _, id := range ids {
		if before[id] != "n3" {
			require.Equal(t, before[id], after[id], "client %s moved from a node that is still alive", id)
			continue
		}
		moved[after[id]]++
	}
	// n3's clients spread over the others rather than landing on one.
	for _, n := range []string{"n1", "n2", "n4"} {
		require.Greater(t, moved[n], 150, "n3's clients that went to %s", n)
	}
}

func TestPlacementJoinTakesAFairShareFromEveryNode(t *testing.T) {
	ids := clientIDs(4000)
	before := picks(t, placementOf("n1", "n2", "n3"), ids)
	after := picks(t, placementOf("n1", "n2", "n3", "n4"), ids)
	from := map[string]int{}
	for _, id := range ids {
		if before[id] != after[id] {
			require.Equal(t, "n4", after[id], "a client moved to a node other than the new one")
			from[before[id]]++
		}
	}
	total := from["n1"] + from["n2"] + from["n3"]
	require.InDelta(t, len(ids)/4, total, float64(len(ids))*0.03)
	for _, n := range []string{"n1", "n2", "n3"} {
		require.InDelta(t, total/3, from[n], float64(total)*0.1, "share given by %s", n)
	}
}

func TestPlacementSkipsAndAvoids(t *testing.T) {
	p := placementOf("n1", "n2", "n3")
	for _, id := range clientIDs(200) {
		first := p.pick(id, nil, "", "", true).name
		second := p.pick(id, nil, first, "", true).name
		require.NotEqual(t, first, second)
		require.Equal(t, second, p.pick(id, nil, "", " x ,"+first, true).name, "avoid skips like skip")
		// The second choice is where the client goes once its first is gone.
		require.Equal(t, second, placementNames(p, first).pick(id, nil, "", "", true).name)
		require.Nil(t, p.pick(id, nil, "n1", "n2,n3", true))
	}
	_, ok := NewPlacement().Pick("x")
	require.False(t, ok)
}

func placementNames(p *Placement, without string) *Placement {
	var names []string
	for _, n := range p.Nodes() {
		if n != without {
			names = append(names, n)
		}
	}
	return placementOf(names...)
}

func TestPlacementPickAllocatesNothing(t *testing.T) {
	p := placementOf("n1", "n2", "n3", "n4", "n5")
	id := "12345@some-host.example.com"
	allocs := testing.AllocsPerRun(1000, func() {
		if p.pick(id, nil, "n2", "n5,n4", true) == nil {
			t.Fatal("no node")
		}
	})
	require.Zero(t, allocs)
}

func TestPlacementUpdateKeepsTheNodesThatDidNotChange(t *testing.T) {
	p := placementOf("n1", "n2", "n3")
	info := func(name string) *placed {
		for _, e := range *p.table.Load() {
			if e.name == name {
				return &e
			}
		}
		return nil
	}
	n1, n2 := info("n1").info, info("n2").info

	// n3 leaves, n0 joins, n2 moves to another port; given in any order.
	next := targets("n2", "n0", "n1")
	next[0].GRPCPort = 9124
	p.Update(next)
	require.Nil(t, info("n3"))
	require.Same(t, n1, info("n1").info, "unchanged: same NodeInfo")
	require.NotSame(t, n2, info("n2").info)
	require.EqualValues(t, 9124, info("n2").info.GetGrpcPort())
	require.Equal(t, "n0", info("n0").info.GetNodeName())
	require.Equal(t, []string{"n0", "n1", "n2"}, p.Nodes())
	// The answers are those of a placement built afresh.
	ids := clientIDs(300)
	fresh := NewPlacement()
	fresh.Update(next)
	require.Equal(t, picks(t, fresh, ids), picks(t, p, ids))
}

func TestVersionNumber(t *testing.T) {
	for v, want := range map[string]int32{
		"0.1.0": 100, "1.12.3": 11203, "v2.0.1": 20001, "1.2.3-rc1": 10203, "1.2.3+git": 10203,
		"": 0, "1.2": 0, "1.200.0": 0, "a.b.c": 0, "-1.0.0": 0,
	} {
		require.Equal(t, want, VersionNumber(v), v)
	}
}

func BenchmarkPlacementPick(b *testing.B) {
	names := make([]string, 9)
	for i := range names {
		names[i] = fmt.Sprintf("node%d", i+1)
	}
	p := placementOf(names...)
	ids := clientIDs(1024)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.pick(ids[i%len(ids)], nil, "", "", true)
	}
}
