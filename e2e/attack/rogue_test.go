//go:build linux

package attack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/controlpb"
)

// rogueTags are what the rogue peer of the finding advertised: a web
// server at a fake address.
var rogueTags = map[string]string{"role": "web", "h": "6.6.6.6", "g": "1"}

// startRogue runs a plain serf agent on loopback with the cluster's
// label and, when key is not empty, the cluster's gossip key: anyone on
// the network who knows the cluster name (it travels in clear), or holds
// the key.
func startRogue(t *testing.T, key string) *serf.Serf {
	t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name = "rogue"
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", 0, 0
	mc.Label = clusterLabel
	mc.Logger = log.New(io.Discard, "", 0)
	if key != "" {
		k, err := base64.StdEncoding.DecodeString(key)
		require.NoError(t, err)
		mc.SecretKey = k
	}
	sc := serf.DefaultConfig()
	sc.NodeName = "rogue"
	sc.Tags = rogueTags
	sc.MemberlistConfig = mc
	sc.Logger = log.New(io.Discard, "", 0)
	s, err := serf.Create(sc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown() })
	return s
}

// TestRogueSerfPeer: a plain serf agent with the cluster's label tries
// to join a cluster. With access control and a gossip key, and the agent
// without the key, nothing it sends is read; a key holder running plain
// serf exchanges gossip, but is still never a member, and its forged
// roster-unregister events change nothing. Without access control (no
// key) the agent exchanges gossip too, and likewise is never a member.
// Never a member: no node lists it in /v1/public, none hands it clients
// (GetPlatformServer), none records a tombstone, the state files keep
// their size.
func TestRogueSerfPeer(t *testing.T) {
	t.Parallel()
	t.Run("access control", func(t *testing.T) {
		t.Parallel()
		token, key := newToken(t), newKey(t)
		nodes := startCluster(t,
			spec{name: "n1", token: token, key: key},
			spec{name: "n2", token: token, key: key},
			spec{name: "n3", token: token, key: key})
		sizes := settledStateSizes(t, nodes)

		// Without the key: nothing it sends opens.
		before := nodes[0].dropped(t)["decrypt/udp"] + nodes[0].dropped(t)["decrypt/tcp"]
		rogue := startRogue(t, "")
		_, joinErr := rogue.Join([]string{nodes[0].internal}, true)
		require.Error(t, joinErr, "a peer without the key cannot exchange state")
		seen := requireNeverMember(t, nodes, 3*time.Second)
		var refused float64
		waitFor(t, 10*time.Second, "the rogue's gossip counted as undecryptable", func() bool {
			d := nodes[0].dropped(t)
			refused = d["decrypt/udp"] + d["decrypt/tcp"] - before
			return refused > 0
		})
		require.Equal(t, 1, rogue.NumNodes(), "the rogue learnt no member")
		res.Add(t, "rogue serf peer, no key",
			"plain serf agent with the cluster's label, without the gossip key, joins a 3-node cluster with access control and a key",
			fmt.Sprintf("join refused (%s); %.0f of its messages counted as decrypt; %s", oneLine(joinErr), refused, seen))
		require.NoError(t, rogue.Shutdown())

		// A key holder running plain serf.
		withKey := startRogue(t, key)
		forged, seen := forgeAgainst(t, nodes, withKey)
		res.Add(t, "rogue serf peer, with the key",
			"plain serf agent with the cluster's label and its gossip key (a key holder) joins the same cluster, then sends "+strconv.Itoa(forged)+" forged `roster-unregister` events (old form; from itself; about names never registered, in a member's name)",
			seen+"; "+sameStateSizes(t, nodes, sizes))
	})

	t.Run("no access control", func(t *testing.T) {
		t.Parallel()
		nodes := startCluster(t, spec{name: "n1"}, spec{name: "n2"})
		sizes := settledStateSizes(t, nodes)
		rogue := startRogue(t, "")
		forged, seen := forgeAgainst(t, nodes, rogue)
		res.Add(t, "rogue serf peer, no access control",
			"plain serf agent with the cluster's label joins a 2-node cluster without access control or key, then sends "+strconv.Itoa(forged)+" forged `roster-unregister` events",
			seen+"; "+sameStateSizes(t, nodes, sizes))
	})
}

// forgeAgainst has rogue (which can exchange gossip with the nodes) join
// them and send forged roster-unregister events; it checks that the
// rogue is never a member and that the events change nothing, and says
// what was seen.
func forgeAgainst(t *testing.T, nodes []*node, rogue *serf.Serf) (int, string) {
	t.Helper()
	_, err := rogue.Join([]string{nodes[0].internal}, true)
	require.NoError(t, err, "memberlist exchanges state before the node's merge delegate refuses the rogue")
	waitFor(t, 10*time.Second, "the rogue learnt the roster nodes", func() bool { return rogue.NumNodes() > len(nodes) })
	ids := map[string]string{}
	for _, m := range rogue.Members() {
		ids[m.Name] = m.Tags["i"] // roster's node id, read from the gossip as anyone can
	}
	before := make([]float64, len(nodes))
	for i, n := range nodes {
		before[i] = eventRefusals(t, n)
	}

	type tombstone struct {
		Name string    `json:"name"`
		ID   string    `json:"id"`
		At   time.Time `json:"at"`
	}
	type notice struct {
		tombstone
		By   string `json:"by"`
		ByID string `json:"byId"`
	}
	now := time.Now().UTC()
	const forged = 400
	for i := range forged {
		var payload any
		switch i % 4 {
		case 0: // the finding's attack: a live member's name and id, no sender
			payload = tombstone{Name: "n2", ID: ids["n2"], At: now}
		case 1: // from the rogue itself
			payload = notice{tombstone: tombstone{Name: "n2", ID: ids["n2"], At: now}, By: "rogue", ByID: "r"}
		case 2: // names never registered, in a member's name
			payload = notice{tombstone: tombstone{Name: fmt.Sprintf("ghost%04d", i), ID: "g", At: now}, By: "n1", ByID: ids["n1"]}
		default: // names never registered, no sender
			payload = tombstone{Name: fmt.Sprintf("ghost%04d", i), ID: "g", At: now}
		}
		b, err := json.Marshal(payload)
		require.NoError(t, err)
		require.NoError(t, rogue.UserEvent("roster-unregister", b, false))
		if i%50 == 49 {
			time.Sleep(50 * time.Millisecond) // serf's event queue is bounded: let gossip carry them
		}
	}
	refusedOn := make([]float64, len(nodes))
	for i, n := range nodes {
		waitFor(t, 20*time.Second, "the forged events reached "+n.name, func() bool {
			refusedOn[i] = eventRefusals(t, n) - before[i]
			return refusedOn[i] >= forged/4
		})
	}
	seen := requireNeverMember(t, nodes, 3*time.Second)
	for _, n := range nodes {
		require.Empty(t, tombstones(t, n), "%s recorded no tombstone", n.name)
	}
	counts := make([]string, len(nodes))
	for i, n := range nodes {
		counts[i] = fmt.Sprintf("%s %.0f", n.name, refusedOn[i])
	}
	return forged, fmt.Sprintf("its gossip exchanged, yet %s; no tombstone; events refused and counted (roster_gossip_dropped_total{transport=\"event\"}): %s",
		seen, strings.Join(counts, ", "))
}

// requireNeverMember checks for d, every 100 ms, that every node lists
// exactly the nodes (all alive) and places clients only on them; it says
// what it checked.
func requireNeverMember(t *testing.T, nodes []*node, d time.Duration) string {
	t.Helper()
	want := map[string]string{}
	addrs := map[string]string{}
	for _, n := range nodes {
		want[n.name] = "alive"
		addrs[n.name] = n.grpc
	}
	conns := make([]controlpb.PlatformServiceClient, len(nodes))
	for i, n := range nodes {
		cc, err := grpc.NewClient(n.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = cc.Close() })
		conns[i] = controlpb.NewPlatformServiceClient(cc)
	}
	polls, placements := 0, 0
	for start := time.Now(); time.Since(start) < d; time.Sleep(100 * time.Millisecond) {
		for i, n := range nodes {
			got, err := n.statuses(t)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s lists exactly the roster nodes", n.name)
			polls++
			c, cancel := context.WithTimeout(t.Context(), requestTimeout)
			if n.token != "" {
				c = metadata.AppendToOutgoingContext(c, rpc.AccessTokenHeader, n.token)
			}
			for k := range 10 {
				info, err := conns[i].GetPlatformServer(c, &controlpb.ClientIdentification{ClientId: fmt.Sprintf("client-%d-%d", polls, k), ComponentName: "attack"})
				require.NoError(t, err)
				p := info.GetPrimary()
				got := p.GetHostName() + ":" + strconv.Itoa(int(p.GetGrpcPort()))
				require.Equal(t, addrs[p.GetNodeName()], got, "%s placed a client on %s at %s", n.name, p.GetNodeName(), got)
				placements++
			}
			cancel()
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	return fmt.Sprintf("never listed (%d polls of /v1/public: only %s) nor handed clients (%d GetPlatformServer answers, all roster nodes)",
		polls, strings.Join(names, ", "), placements)
}

// eventRefusals is how many roster-unregister events the node refused.
func eventRefusals(t *testing.T, n *node) float64 {
	return sum(n.scrape(t), "roster_gossip_dropped_total", map[string]string{"transport": "event"})
}

// tombstones is the node's list of unregistered nodes (/internal/gossip).
func tombstones(t *testing.T, n *node) []json.RawMessage {
	t.Helper()
	var v struct {
		Unregistered []json.RawMessage `json:"unregistered"`
	}
	c, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	require.NoError(t, n.client.Do(c, "GET", "/internal/gossip", nil, &v))
	return v.Unregistered
}

// stateSize is the size of the node's cluster state file.
func stateSize(t *testing.T, n *node) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(n.dir, "cluster-state.json"))
	require.NoError(t, err)
	return fi.Size()
}

// settledStateSizes waits until no node's state file changed size for
// 1.5 s (the last status changes of the start reached the disk), and
// returns the sizes.
func settledStateSizes(t *testing.T, nodes []*node) []int64 {
	t.Helper()
	sizes := make([]int64, len(nodes))
	stableSince := time.Now()
	waitFor(t, 20*time.Second, "state files written and settled", func() bool {
		changed := false
		for i, n := range nodes {
			s := int64(-1)
			if fi, err := os.Stat(filepath.Join(n.dir, "cluster-state.json")); err == nil {
				s = fi.Size()
			}
			if s != sizes[i] {
				sizes[i], changed = s, true
			}
		}
		if changed || slices.Contains(sizes, -1) {
			stableSince = time.Now()
		}
		return time.Since(stableSince) >= 1500*time.Millisecond
	})
	return sizes
}

// sameStateSizes requires the state files to have the sizes they had.
func sameStateSizes(t *testing.T, nodes []*node, sizes []int64) string {
	t.Helper()
	for i, n := range nodes {
		require.Equal(t, sizes[i], stateSize(t, n), "%s's state file", n.name)
	}
	return fmt.Sprintf("state files unchanged (%d bytes on %s)", sizes[0], nodes[0].name)
}

// oneLine is err's text on one line.
func oneLine(err error) string {
	if err == nil {
		return "no error"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
