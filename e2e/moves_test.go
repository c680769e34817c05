//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rosterhq/roster/rpc/controlpb"
)

// Counting moves: each client of a stopping node must move exactly once,
// to another node, and none may be sent back to it; rebalancing when it
// returns moves clients only to it.

// waitFleetPlaced waits until every client of the fleet is on the node
// placement (asked of via) puts it, so that moves counted from then on are
// those of what the suite does next, not the end of an earlier rebalance.
func waitFleetPlaced(t testing.TB, fleet string, via *host) []fleetClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+via.ip+":8124", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	cli := controlpb.NewPlatformServiceClient(conn)
	var cs []fleetClient
	wrong := "no answer"
	defer func() {
		if t.Failed() {
			t.Logf("e2e: last misplaced client: %s; clients per node: %s", wrong, onNode(cs))
		}
	}()
	last := time.Time{}
	waitFor(t, 2*time.Minute, "clients where placement puts them", func() bool {
		// Asking for every client is 70 calls: pace it, so that the
		// asking does not slow the calls the suite measures.
		if time.Since(last) < 250*time.Millisecond {
			return false
		}
		last = time.Now()
		cs = fleetState(t, fleet)
		if len(cs) == 0 {
			return false
		}
		for _, c := range cs {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			info, err := cli.GetPlatformServer(ctx, &controlpb.ClientIdentification{ClientId: c.ID})
			cancel()
			if err != nil || info.GetPrimary().GetNodeName() != c.Server {
				wrong = fmt.Sprintf("%s on %q, placed on %q (%v)", c.ID, c.Server, info.GetPrimary().GetNodeName(), err)
				return false
			}
		}
		return true
	})
	return cs
}

// movesSince is each client's moves after the snapshot before.
func movesSince(before, after []fleetClient) map[string][]string {
	n := map[string]int{}
	for _, c := range before {
		n[c.ID] = len(c.Moves)
	}
	out := map[string][]string{}
	for _, c := range after {
		for _, m := range c.Moves[min(n[c.ID], len(c.Moves)):] {
			out[c.ID] = append(out[c.ID], m.From+">"+m.To)
		}
	}
	return out
}

// whySince says why client id left each node since the snapshot before.
func whySince(before, after []fleetClient, id string) string {
	n := 0
	for _, c := range before {
		if c.ID == id {
			n = len(c.Moves)
		}
	}
	var whys []string
	for _, c := range after {
		if c.ID == id {
			for _, m := range c.Moves[min(n, len(c.Moves)):] {
				whys = append(whys, fmt.Sprintf("left %s: %s", m.From, m.Why))
			}
		}
	}
	return strings.Join(whys, "; ")
}

// checkStopMoves checks the moves of a stop of victim between two
// snapshots: its clients moved exactly once, away from it; no other client
// moved. It returns how many moved, by kind.
func checkStopMoves(t testing.TB, victim string, before, after []fleetClient) map[string]int {
	t.Helper()
	moves := movesSince(before, after)
	moved := map[string]int{}
	for _, c := range before {
		m := moves[c.ID]
		if c.Server != victim {
			if len(m) != 0 {
				t.Errorf("%s was on %s, not %s, and moved %v (%s)", c.ID, c.Server, victim, m, whySince(before, after, c.ID))
			}
			continue
		}
		if len(m) != 1 || !strings.HasPrefix(m[0], victim+">") || strings.HasSuffix(m[0], ">"+victim) {
			t.Errorf("%s (%s) on %s moved %v while it stopped, not once away from it (%s)", c.ID, c.Kind, victim, m, whySince(before, after, c.ID))
			continue
		}
		moved[c.Kind]++
	}
	return moved
}

// checkReturnMoves checks the moves while back came back: every move went
// to it, at most one per client. It returns how many moved.
func checkReturnMoves(t testing.TB, back string, before, after []fleetClient) int {
	t.Helper()
	n := 0
	for id, m := range movesSince(before, after) {
		if len(m) > 1 || !strings.HasSuffix(m[0], ">"+back) {
			t.Errorf("%s moved %v while %s came back, not once to it (%s)", id, m, back, whySince(before, after, id))
			continue
		}
		n++
	}
	return n
}

// kinds renders counts by kind: "8 Go, 4 connector-like".
func kinds(m map[string]int) string {
	return fmt.Sprintf("%d Go, %d connector-like", m["go"], m["axon"])
}

// onNode counts the clients on each node, by name, sorted.
func onNode(cs []fleetClient) string {
	count := map[string]int{}
	for _, c := range cs {
		count[c.Server]++
	}
	var names []string
	for n := range count {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d", n, count[n]))
	}
	return strings.Join(parts, ", ")
}
