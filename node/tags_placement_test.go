package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/rpc/controlpb"
)

// TestTagsPlaceClientsInTheirRegion: 50 clients tagged over two regions,
// two nodes a region, half of them Go clients and half behaving as Axon's
// connector. Each client lands in its region; when a region's last node
// dies its clients move to the other region, and they come back when it
// returns (here: killed and started again faster than failure detection,
// so no node sees it join); the other region's clients never move.
func TestTagsPlaceClientsInTheirRegion(t *testing.T) {
	t.Parallel()
	names := []string{"eu1", "eu2", "us1", "us2"}
	cfgs := make([]node.Config, len(names))
	nodes := make([]*node.Node, len(names))
	for i, name := range names {
		cfgs[i] = testConfig(t, name, t.TempDir())
		cfgs[i].Tags = map[string]string{"region": name[:2], "rack": name}
		nodes[i] = runNode(t, cfgs[i])
		cfgs[i] = nodes[i].Config() // the ports bound, to restart on them
	}
	for _, n := range nodes[1:] {
		register(t, n, nodes[0])
	}
	checkClusterFormed(t, nodes...)
	for _, n := range nodes {
		eventually(t, 10*time.Second, "tags gossiped to "+n.Name(), func() bool {
			list, err := client(n).Nodes(context.Background())
			if err != nil || len(list) != 4 {
				return false
			}
			for _, x := range list {
				if x.Tags["region"] != x.Name[:2] {
					return false
				}
			}
			return true
		})
	}

	seeds := clientAddrs(nodes...)
	clients := map[string]registrar{}
	region := map[string]string{}
	for i := range 50 {
		r := []string{"eu", "us"}[(i/2)%2] // 26 and 24, each half Go, half connector-like
		tags := map[string]string{"region": r}
		if i%2 == 0 {
			id := fmt.Sprintf("%s-go-%02d", r, i)
			region[id], clients[id] = r, startGoClient(t, id, seeds, tags)
		} else {
			id := fmt.Sprintf("%s-axon-%02d", r, i)
			region[id], clients[id] = r, startAxonClient(t, id, seeds, tags)
		}
	}
	// where lists the nodes the clients of region r are on.
	where := func(r string) map[string]int {
		out := map[string]int{}
		for id, c := range clients {
			if region[id] == r {
				_, cur := c.Registered()
				out[cur]++
			}
		}
		return out
	}
	count := map[string]int{}
	for _, r := range region {
		count[r]++
	}
	inRegion := func(r string, allowed ...string) func() bool {
		return func() bool {
			w := where(r)
			n := 0
			for _, a := range allowed {
				n += w[a]
			}
			return n == count[r]
		}
	}
	eventually(t, 30*time.Second, "eu clients in eu", inRegion("eu", "eu1", "eu2"))
	eventually(t, 30*time.Second, "us clients in us", inRegion("us", "us1", "us2"))
	t.Logf("placed: eu %v, us %v", where("eu"), where("us"))
	require.Positive(t, where("eu")["eu1"])
	require.Positive(t, where("eu")["eu2"])
	usRegistrations := map[string]int{}
	for id, c := range clients {
		reg, _ := c.Registered()
		if region[id] == "us" {
			usRegistrations[id] = len(reg)
		}
	}

	// Every node gives the same answer for a tagged client, whoever asks.
	for _, n := range nodes {
		info, err := platformClient(t, n).GetPlatformServer(context.Background(),
			&controlpb.ClientIdentification{ClientId: "x", Tags: map[string]string{"region": "us", "rack": "us2"}})
		require.NoError(t, err)
		require.Equal(t, "us2", info.GetPrimary().GetNodeName(), "asked %s", n.Name())
	}

	nodes[0].Kill()
	eventually(t, 30*time.Second, "eu clients on eu2", inRegion("eu", "eu2"))
	nodes[1].Kill()
	eventually(t, 30*time.Second, "eu clients in us once eu is gone", inRegion("eu", "us1", "us2"))
	t.Logf("eu down: eu clients on %v", where("eu"))

	nodes[1] = runNode(t, cfgs[1])
	start := time.Now()
	eventually(t, 45*time.Second, "eu clients back on eu2", inRegion("eu", "eu2"))
	t.Logf("eu2 back: eu clients on eu2 after %s", time.Since(start).Round(time.Millisecond))
	nodes[0] = runNode(t, cfgs[0])
	// Its fair share comes back: rebalancing leaves load out, so eu1 takes
	// the eu clients rendezvous hashing gives it (not necessarily those it
	// had at first, when load broke the ties), and every eu client stays in
	// eu.
	eventually(t, 45*time.Second, "eu1 takes a share of the eu clients back", func() bool {
		return inRegion("eu", "eu1", "eu2")() && where("eu")["eu1"] > 0
	})
	t.Logf("eu1 back: eu %v, us %v", where("eu"), where("us"))

	// The us clients never moved: tags kept them out of every rebalance.
	for id, c := range clients {
		if region[id] == "us" {
			reg, cur := c.Registered()
			require.Equal(t, usRegistrations[id], len(reg), "%s moved: %v", id, reg)
			require.True(t, strings.HasPrefix(cur, "us"), "%s on %s", id, cur)
		}
	}
}
