package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/node"
)

// gossipView is the part of /internal/gossip the tests read.
type gossipView struct {
	Registry   []gossip.Member    `json:"registry"`
	Tombstones []gossip.Tombstone `json:"unregistered"`
}

func gossipViewOf(t testing.TB, n *node.Node) gossipView {
	t.Helper()
	var v gossipView
	require.NoError(t, client(n).Do(context.Background(), "GET", "/internal/gossip", nil, &v))
	return v
}

// memberID is n's node id for name, as n's registry has it.
func memberID(t testing.TB, n *node.Node, name string) string {
	t.Helper()
	for _, m := range gossipViewOf(t, n).Registry {
		if m.Name == name {
			return m.Info.ID
		}
	}
	t.Fatalf("%s does not list %s", n.Name(), name)
	return ""
}

func stateFileSize(t testing.TB, n *node.Node) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(n.Config().ControlDBPath, "cluster-state.json"))
	require.NoError(t, err)
	return fi.Size()
}

// startRogue runs a plain serf agent (no roster metadata) with the
// cluster's label on loopback, as anyone on the network could.
func startRogue(t testing.TB, label string, tags map[string]string) *serf.Serf {
	t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name = "rogue"
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", 0, 0
	mc.Label = label
	mc.Logger = log.New(io.Discard, "", 0)
	sc := serf.DefaultConfig()
	sc.NodeName = "rogue"
	sc.Tags = tags
	sc.MemberlistConfig = mc
	sc.Logger = log.New(io.Discard, "", 0)
	s, err := serf.Create(sc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown() })
	return s
}

// TestRoguePeerIsNeverAMember: a plain serf agent that knows the cluster's
// label (no gossip key) joins a roster cluster. It is never listed by any
// node, never handed clients, and its roster-unregister events change
// nothing: not in the old form, not from a node that is not a member, not
// about names never registered. A flood of them leaves the state file as
// it was.
func TestRoguePeerIsNeverAMember(t *testing.T) {
	t.Parallel()
	nodes := make([]*node.Node, 3)
	for i := range nodes {
		nodes[i] = runNode(t, testConfig(t, fmt.Sprintf("n%d", i+1), t.TempDir()))
	}
	for _, n := range nodes[1:] {
		register(t, n, nodes[0])
	}
	checkClusterFormed(t, nodes...)
	want := map[string]string{"n1": "alive", "n2": "alive", "n3": "alive"}
	n2ID := memberID(t, nodes[0], "n2")
	n1ID := memberID(t, nodes[0], "n1")
	eventually(t, 10*time.Second, "state written", func() bool { return stateFileSize(t, nodes[0]) > 0 })
	time.Sleep(1500 * time.Millisecond) // let the last status changes reach the disk
	sizeBefore := stateFileSize(t, nodes[0])

	rogue := startRogue(t, "test", map[string]string{"role": "web", "h": "6.6.6.6", "g": "1"})
	_, err := rogue.Join([]string{nodes[0].InternalAddr()}, true)
	require.NoError(t, err, "memberlist exchanges state before its merge delegate refuses")
	eventually(t, 10*time.Second, "the rogue learnt the roster nodes", func() bool { return rogue.NumNodes() >= 3 })

	forge := func(payload any) {
		b, err := json.Marshal(payload)
		require.NoError(t, err)
		require.NoError(t, rogue.UserEvent("roster-unregister", b, false))
	}
	type old struct {
		Name string    `json:"name"`
		ID   string    `json:"id"`
		At   time.Time `json:"at"`
	}
	type notice struct {
		old
		By   string `json:"by"`
		ByID string `json:"byId"`
	}
	now := time.Now().UTC()
	const flood = 1000
	for i := range flood {
		switch i % 4 {
		case 0: // the attack as it was: a real member's name and id
			forge(old{Name: "n2", ID: n2ID, At: now})
		case 1: // from the rogue itself
			forge(notice{old: old{Name: "n2", ID: n2ID, At: now}, By: "rogue", ByID: "r"})
		case 2: // names never registered, claimed from a member
			forge(notice{old: old{Name: fmt.Sprintf("ghost%04d", i), ID: "g", At: now}, By: "n1", ByID: n1ID})
		default: // names never registered, old form
			forge(old{Name: fmt.Sprintf("ghost%04d", i), ID: "g", At: now})
		}
		if i%50 == 49 {
			time.Sleep(20 * time.Millisecond) // let gossip carry them: its queue is bounded
		}
	}

	refused := func(n *node.Node) float64 {
		return droppedOn(t, n, "event_malformed") + droppedOn(t, n, "event_not_from_a_member") + droppedOn(t, n, "event_unknown_member")
	}
	for _, n := range nodes {
		eventually(t, 15*time.Second, "forged events reached "+n.Name(), func() bool { return refused(n) >= flood/4 })
	}
	ids := testClientIDs(60)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			require.Equal(t, want, statuses(t, n), "%s lists exactly the roster nodes", n.Name())
			for id, to := range placementsVia(t, n, ids) {
				require.Contains(t, want, to, "client %s placed on %s by %s", id, to, n.Name())
			}
			require.Empty(t, gossipViewOf(t, n).Tombstones, "%s recorded no tombstone", n.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
	sizeAfter := stateFileSize(t, nodes[0])
	t.Logf("%d forged roster-unregister events; refused by n1: %.0f; n1's state file: %d bytes before, %d bytes after",
		flood, refused(nodes[0]), sizeBefore, sizeAfter)
	require.LessOrEqual(t, sizeAfter, sizeBefore+256, "the state file did not grow")
}

// droppedOn reads roster_gossip_dropped_total for reason from n's
// /actuator/prometheus.
func droppedOn(t *testing.T, n *node.Node, reason string) float64 {
	t.Helper()
	v, _ := value(scrape(t, n), "roster_gossip_dropped_total", map[string]string{"reason": reason})
	return v
}

// TestReturningNodeStaysOutAfterItsTombstoneExpired: a node unregistered
// while it was down, started again from its old data directory after its
// tombstone expired everywhere, does not rejoin: its peers no longer have
// it registered and refuse it, and it runs standalone.
func TestReturningNodeStaysOutAfterItsTombstoneExpired(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	nodes := make([]*node.Node, 3)
	for i := range nodes {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), t.TempDir())
		cfg.Cluster.TombstoneTTL = ttl
		nodes[i] = runNode(t, cfg)
	}
	for _, n := range nodes[1:] {
		register(t, n, nodes[0])
	}
	checkClusterFormed(t, nodes...)
	time.Sleep(1500 * time.Millisecond) // n3's last contact reaches its disk

	cfg3 := nodes[2].Config()
	nodes[2].Kill()
	waitStatus(t, 20*time.Second, "n3", "failed", nodes[0])
	require.NoError(t, client(nodes[0]).Unregister(context.Background(), "n3"))
	for _, n := range nodes[:2] {
		eventually(t, 10*time.Second, "n3 gone and its tombstone expired on "+n.Name(), func() bool {
			_, listed := statuses(t, n)["n3"]
			return !listed && len(gossipViewOf(t, n).Tombstones) == 0
		})
	}

	// Its ports may have been taken meanwhile: it comes back on new ones,
	// as a rescheduled container does.
	cfg3.Port, cfg3.HTTPPort, cfg3.InternalPort = 0, 0, 0
	n3 := runNode(t, cfg3)
	others := map[string]string{"n1": "alive", "n2": "alive"}
	eventually(t, 15*time.Second, "returning n3 runs standalone", func() bool {
		return mapsEqual(statuses(t, n3), map[string]string{"n3": "alive"})
	})
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes[:2] {
			require.Equal(t, others, statuses(t, n), "%s never lists n3 again", n.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConcurrentUnregistersAnswer200Or404: the same node unregistered on
// two nodes at once: one answers 200, the other 200 or 404 (AXONIQ-1301),
// never 500; the node is gone everywhere and runs standalone.
func TestConcurrentUnregistersAnswer200Or404(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	for round := 1; round <= 3; round++ {
		victim := runNode(t, testConfig(t, fmt.Sprintf("v%d", round), t.TempDir()))
		register(t, victim, nodes[0])
		checkClusterFormed(t, append(append([]*node.Node{}, nodes...), victim)...)

		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = client(nodes[i]).Unregister(context.Background(), victim.Name())
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			requireAPIError(t, err, api.CodeNoSuchNode)
			t.Logf("round %d: %s answered %v", round, nodes[i].Name(), err)
		}
		require.GreaterOrEqual(t, ok, 1, "round %d: one of them unregistered it", round)
		for _, n := range nodes {
			eventually(t, 10*time.Second, victim.Name()+" gone on "+n.Name(), func() bool {
				_, listed := statuses(t, n)[victim.Name()]
				return !listed
			})
		}
		eventually(t, 10*time.Second, victim.Name()+" standalone", func() bool {
			return mapsEqual(statuses(t, victim), map[string]string{victim.Name(): "alive"})
		})
	}
}
