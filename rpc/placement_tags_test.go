package rpc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// regions is four nodes over two regions; eu1 is also in zone a.
func regions() []Target {
	t := targets("eu1", "eu2", "us1", "us2")
	t[0].Tags = map[string]string{"region": "eu", "zone": "a"}
	t[1].Tags = map[string]string{"region": "eu", "zone": "b"}
	t[2].Tags = map[string]string{"region": "us"}
	t[3].Tags = map[string]string{"region": "us"}
	return t
}

func tagged(t testing.TB, p *Placement, ids []string, tags map[string]string) map[string]int {
	t.Helper()
	count := map[string]int{}
	for _, id := range ids {
		n, ok := p.PickTagged(id, tags)
		require.True(t, ok)
		count[n]++
	}
	return count
}

func TestPlacementPrefersTheMostMatchingTags(t *testing.T) {
	p := NewPlacement()
	p.Update(regions())
	ids := clientIDs(400)

	eu := tagged(t, p, ids, map[string]string{"region": "eu"})
	require.Equal(t, 400, eu["eu1"]+eu["eu2"], "%v", eu)
	require.InDelta(t, 200, eu["eu1"], 40, "spread over the region: %v", eu)

	us := tagged(t, p, ids, map[string]string{"region": "us"})
	require.Equal(t, 400, us["us1"]+us["us2"], "%v", us)

	// Two matching tags beat one.
	require.Equal(t, map[string]int{"eu1": 400}, tagged(t, p, ids, map[string]string{"region": "eu", "zone": "a"}))
	require.Equal(t, map[string]int{"eu2": 400}, tagged(t, p, ids, map[string]string{"region": "eu", "zone": "b", "x": "y"}))

	// Names are compared without case, as in Axon Server EE; values are not.
	require.Equal(t, eu, tagged(t, p, ids, map[string]string{"Region": "eu"}))
	none := tagged(t, p, ids, map[string]string{"region": "EU"})
	require.Len(t, none, 4, "no match: any node, %v", none)

	// No match, or no tags: the same answers as by id alone.
	for _, id := range ids[:50] {
		want, _ := p.Pick(id)
		got, _ := p.PickTagged(id, map[string]string{"region": "asia", AvoidTag: ""})
		require.Equal(t, want, got)
	}
}

func TestPlacementTiesGoToTheLeastLoaded(t *testing.T) {
	ids := clientIDs(300)
	eu := map[string]string{"region": "eu"}

	loaded := regions()
	loaded[0].Load = 30 // eu1
	p := NewPlacement()
	p.Update(loaded)
	require.Equal(t, map[string]int{"eu2": 300}, tagged(t, p, ids, eu), "the idle node of the region takes the new clients")

	// A rebalance leaves loads out: the region's clients split by id.
	rebalanced := map[string]int{}
	for _, id := range ids {
		rebalanced[p.pick(id, eu, "", "", false).name]++
	}
	require.InDelta(t, 150, rebalanced["eu1"], 40, "%v", rebalanced)
	require.Equal(t, 300, rebalanced["eu1"]+rebalanced["eu2"])

	// Loads within a quarter of each other count as equal, so answers do
	// not flip as clients come and go.
	near := regions()
	near[0].Load, near[1].Load = 13, 12
	q := NewPlacement()
	q.Update(near)
	for _, id := range ids {
		require.Equal(t, p.pick(id, eu, "", "", false).name, q.pick(id, eu, "", "", true).name, id)
	}

	// Without a match, loads do not matter: any node, by id.
	far := targets("n1", "n2", "n3")
	far[0].Load = 1000
	r := NewPlacement()
	r.Update(far)
	require.Equal(t, picks(t, placementOf("n1", "n2", "n3"), ids), picks(t, r, ids))
}

func TestPlacementLeavesOutDrainingNodes(t *testing.T) {
	all := targets("n1", "n2", "n3")
	all[1].Draining = true
	p := NewPlacement()
	p.Update(all)
	require.Equal(t, []string{"n1", "n3"}, p.Nodes())
	require.False(t, p.Places("n2"))
	require.True(t, p.Places("n1"))
	ids := clientIDs(200)
	require.Equal(t, picks(t, placementOf("n1", "n3"), ids), picks(t, p, ids))
}

func TestPlacementTaggedPickAllocatesNothing(t *testing.T) {
	p := NewPlacement()
	p.Update(regions())
	tags := map[string]string{"region": "eu", "zone": "b"}
	allocs := testing.AllocsPerRun(1000, func() {
		if p.pick("12345@some-host", tags, "", "", true) == nil {
			t.Fatal("no node")
		}
	})
	require.Zero(t, allocs)
}
