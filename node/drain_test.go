package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
	rosterclient "github.com/rosterhq/roster/rpc/client"
)

// goClient is a Go client (rpc/client) that records every node it
// registered on.
type goClient struct {
	c          *rosterclient.Client
	mu         sync.Mutex
	registered []string
}

func startGoClient(t *testing.T, id string, seeds []string, tags map[string]string) *goClient {
	t.Helper()
	g := &goClient{}
	c, err := rosterclient.New(rosterclient.Config{
		Seeds: seeds, ClientID: id, ComponentName: "go-app", Tags: tags,
		// Sixty clients start at once on a busy test machine: give
		// registering time rather than have a slow one avoid its node.
		CallTimeout: 10 * time.Second,
		OnEvent: func(ev rosterclient.Event) {
			if ev.Type != rosterclient.EventConnected {
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			g.registered = append(g.registered, ev.Server.Name)
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	g.c = c
	return g
}

// Registered is where the client registered, in order, and where it is now.
func (g *goClient) Registered() ([]string, string) {
	g.mu.Lock()
	reg := append([]string(nil), g.registered...)
	g.mu.Unlock()
	cur := ""
	if s, ok := g.c.Server(); ok {
		cur = s.Name
	}
	return reg, cur
}

// waitUntil polls cond until it holds or within passes.
func waitUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// registrar is either kind of test client.
type registrar interface {
	Registered() (all []string, current string)
}

func clientAddrs(nodes ...*node.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.GRPCAddr()
	}
	return out
}

// TestStopMovesEachClientOnceAndNeverBack: when n2 stops, each of its
// clients moves exactly once, to another node, and none is sent back to
// n2, also the clients that behave as AxonIQ's connector and ask a random
// node where to go (which, before n2's peers knew it was leaving, could
// send them straight back). Registrations are counted per client on every
// node.
func TestStopMovesEachClientOnceAndNeverBack(t *testing.T) {
	t.Parallel()
	checkConnectorRouting(t)
	nodes := runCluster(t, 3)
	servers := clientAddrs(nodes...)
	var ids []string
	for i := range 30 {
		ids = append(ids, fmt.Sprintf("axon-%02d", i), fmt.Sprintf("go-%02d", i))
	}
	// Where placement puts each client; untagged, it does not depend on
	// the clients connected.
	before := settledPlacements(t, ids, nodes...)
	clients := map[string]registrar{}
	var axon []*axonClient
	for i := range 30 {
		id := fmt.Sprintf("axon-%02d", i)
		a := startAxonClient(t, id, servers, nil)
		axon = append(axon, a)
		clients[id] = a
	}
	for i := range 30 {
		id := fmt.Sprintf("go-%02d", i)
		clients[id] = startGoClient(t, id, servers, nil)
	}
	// Settled: every client where placement puts it. Moves are counted
	// from here.
	mark := map[string]int{}
	settled := func() bool {
		for id, c := range clients {
			reg, cur := c.Registered()
			if cur != before[id] {
				return false
			}
			mark[id] = len(reg)
		}
		return true
	}
	if !waitUntil(60*time.Second, settled) {
		for id, c := range clients {
			reg, cur := c.Registered()
			t.Logf("%s: %v now %q, placed on %s", id, reg, cur, before[id])
		}
		t.Fatal("60 clients where placement puts them")
	}
	onN2 := 0
	for _, at := range before {
		if at == "n2" {
			onN2++
		}
	}
	require.GreaterOrEqual(t, onN2, 8, "clients on n2: %v", before)
	asked := map[*axonClient]int{}
	for _, a := range axon {
		asked[a] = len(a.Answers())
	}

	stop(nodes[1])
	eventually(t, 40*time.Second, "n2's clients registered elsewhere", func() bool {
		for id, c := range clients {
			reg, cur := c.Registered()
			if before[id] == "n2" && (len(reg) <= mark[id] || cur == "" || cur == "n2") {
				return false
			}
		}
		return true
	})
	waitStatus(t, 10*time.Second, "n2", "left", nodes[0], nodes[2])

	// Exactly once: n2's clients registered once more, on another node;
	// the others not at all; and nothing changes afterwards.
	check := func() error {
		for id, c := range clients {
			reg, _ := c.Registered()
			since := reg[mark[id]:]
			want := 0
			if before[id] == "n2" {
				want = 1
			}
			if len(since) != want || slices.Contains(since, "n2") {
				return fmt.Errorf("%s on %s registered on %v after the stop began", id, before[id], since)
			}
		}
		return nil
	}
	require.NoError(t, check())
	require.Never(t, func() bool { return check() != nil }, time.Second, 50*time.Millisecond, "a client moved again")
	// No node named n2 to a client after the stop began.
	for _, a := range axon {
		require.NotContains(t, a.Answers()[asked[a]:], "n2", "%s was sent back to n2", a.id)
	}
	moved := map[string]int{}
	for id, c := range clients {
		if reg, _ := c.Registered(); before[id] == "n2" {
			moved[reg[mark[id]]]++
		}
	}
	t.Logf("%d of 60 clients were on n2 (30 connector-like, 30 Go); each moved once: %v", onN2, moved)
}

// waitPlaced waits until every client is where placement (asked of via)
// puts it.
func waitPlaced(t *testing.T, via *node.Node, clients []*axonClient) {
	t.Helper()
	cli := platformClient(t, via)
	var wrong string
	ok := waitUntil(30*time.Second, func() bool {
		for _, c := range clients {
			info, err := cli.GetPlatformServer(context.Background(), c.identification())
			if err != nil {
				wrong = err.Error()
				return false
			}
			if reg, cur := c.Registered(); cur != info.GetPrimary().GetNodeName() {
				wrong = fmt.Sprintf("%s on %q (registered on %v), placed on %s", c.id, cur, reg, info.GetPrimary().GetNodeName())
				return false
			}
		}
		return true
	})
	require.True(t, ok, "clients where placement puts them: %s", wrong)
}

// TestRollingRestartMovesEachClientOncePerStop: in a rolling restart each
// stop moves the stopping node's clients once, and rebalancing on each
// return moves only clients to the node that came back.
func TestRollingRestartMovesEachClientOncePerStop(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	servers := clientAddrs(nodes...)
	var clients []*axonClient
	for i := range 24 {
		clients = append(clients, startAxonClient(t, fmt.Sprintf("axon-%02d", i), servers, nil))
	}
	waitPlaced(t, nodes[0], clients)
	for i := range nodes {
		name := nodes[i].Name()
		mark := map[*axonClient]int{}
		on := map[*axonClient]bool{}
		for _, c := range clients {
			reg, cur := c.Registered()
			mark[c], on[c] = len(reg), cur == name
		}
		cfg := nodes[i].Config()
		stop(nodes[i])
		eventually(t, 20*time.Second, "clients off "+name, func() bool {
			for _, c := range clients {
				if _, cur := c.Registered(); cur == "" || cur == name {
					return false
				}
			}
			return true
		})
		moves := 0
		for _, c := range clients {
			reg, _ := c.Registered()
			after := reg[mark[c]:]
			if on[c] {
				require.Len(t, after, 1, "%s on %s moved %v", c.id, name, after)
				moves++
			} else {
				require.Empty(t, after, "%s was not on %s and moved %v", c.id, name, after)
			}
		}
		// Back: rebalancing sends it a share, and only to it.
		for _, c := range clients {
			reg, _ := c.Registered()
			mark[c] = len(reg)
		}
		nodes[i] = runNode(t, cfg)
		checkClusterFormed(t, nodes...)
		waitPlaced(t, nodes[(i+1)%len(nodes)], clients)
		back := 0
		for _, c := range clients {
			reg, _ := c.Registered()
			for _, to := range reg[mark[c]:] {
				require.Equal(t, name, to, "%s moved to %s while %s came back", c.id, to, name)
				back++
			}
		}
		t.Logf("stop of %s: %d clients moved once each; %d came back when it returned", name, moves, back)
	}
}

func TestStopWaitsForPeersBeforeAskingClientsToMove(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 2)
	ctx := context.Background()
	me, err := client(nodes[0]).Me(ctx)
	require.NoError(t, err)
	require.False(t, me.Draining)
	// A lone node's stop does not wait for peers it does not have.
	lone := runNode(t, testConfig(t, "lone", t.TempDir()))
	start := time.Now()
	stop(lone)
	require.Less(t, time.Since(start), 2*time.Second)
}
