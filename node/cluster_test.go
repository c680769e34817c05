package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

func TestRegisterFormsClusterWithAdvertisedFields(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	for _, observer := range nodes {
		list, err := client(observer).Nodes(context.Background())
		require.NoError(t, err)
		require.Equal(t, "n1,n2,n3", names(list))
		for i, got := range list {
			want := nodes[i].Config()
			require.Equal(t, want.Name, got.Name)
			require.Equal(t, "127.0.0.1", got.HostName)
			require.Equal(t, want.Port, got.GrpcPort)
			require.Equal(t, want.HTTPPort, got.HTTPPort)
			require.Equal(t, "127.0.0.1", got.InternalHostName)
			require.Equal(t, want.InternalPort, got.GrpcInternalPort)
			require.True(t, got.Connected)
			require.Equal(t, "alive", got.Status)
			require.False(t, got.Since.IsZero())
			require.Equal(t, node.Version, got.Version)
		}
	}
	me, err := client(nodes[1]).Me(context.Background())
	require.NoError(t, err)
	require.Equal(t, "n2", me.Name)
	require.True(t, me.Clustered)
	require.False(t, me.Authentication)
	require.False(t, me.SSL)
}

func TestRegisterTwiceSaysAlreadyMember(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 2)
	err := nodes[1].Register(context.Background(), "127.0.0.1", nodes[0].Config().InternalPort)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeAlreadyMember, ae.Code)
	require.Contains(t, ae.Message, "already a member")
}

func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
	ctx := context.Background()
	var ae *api.Error

	err := n1.Register(ctx, "127.0.0.1", n1.Config().InternalPort)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeSameNodeName, ae.Code, "joining itself")

	err = n1.Register(ctx, "no-such-host.invalid", 8224)
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeUnknownHost, ae.Code)
	require.Contains(t, ae.Message, "no-such-host.invalid")

	err = n1.Register(ctx, "127.0.0.1", closedPort(t))
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeCannotJoin, ae.Code)
	require.Contains(t, ae.Message, "connection refused")

	require.Equal(t, map[string]string{"n1": "alive"}, statuses(t, n1), "nothing changed")
}

func TestDuplicateNameRefusedLiveNodeUndisturbed(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	impostor := runNode(t, testConfig(t, "n2", t.TempDir()))
	err := impostor.Register(context.Background(), "127.0.0.1", nodes[0].Config().InternalPort)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeSameNodeName, ae.Code)
	require.Contains(t, ae.Message, "node name n2 is already used by a live node at 127.0.0.1")
	require.Contains(t, ae.Message, "give the new node another axoniq.axonserver.name")
	// The live n2 stays alive on every node, at its own address.
	for _, n := range nodes {
		list, err := client(n).Nodes(context.Background())
		require.NoError(t, err)
		for _, x := range list {
			require.Equal(t, "alive", x.Status, "%s on %s", x.Name, n.Name())
			if x.Name == "n2" {
				require.Equal(t, nodes[1].Config().InternalPort, x.GrpcInternalPort)
			}
		}
	}
	require.Equal(t, map[string]string{"n2": "alive"}, statuses(t, impostor))
}

func TestKillThenRestartFromSameDataDir(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	cfg3 := nodes[2].Config() // the ports it had
	start := time.Now()
	nodes[2].Kill()
	waitStatus(t, 20*time.Second, "n3", "failed", nodes[0], nodes[1])
	t.Logf("kill seen as failed by both survivors after %s", time.Since(start).Round(time.Millisecond))
	list, _ := client(nodes[0]).Nodes(context.Background())
	for _, x := range list {
		if x.Name == "n3" {
			require.False(t, x.Connected)
		}
	}

	start = time.Now()
	n3 := runNode(t, cfg3)
	checkClusterFormed(t, nodes[0], nodes[1], n3)
	t.Logf("restart alive everywhere after %s, without any command", time.Since(start).Round(time.Millisecond))
}

func TestGracefulStopShowsLeftThenRejoins(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	cfg3 := nodes[2].Config()
	start := time.Now()
	stop(nodes[2])
	// "At once": the leave is announced before the node goes; no failure
	// detection is involved.
	waitStatus(t, 3*time.Second, "n3", "left", nodes[0], nodes[1])
	t.Logf("leave seen after %s", time.Since(start).Round(time.Millisecond))
	n3 := runNode(t, cfg3)
	checkClusterFormed(t, nodes[0], nodes[1], n3)
}

func TestRestartAtNewAddressTakesOldPlace(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	cfg3 := nodes[2].Config()
	oldPort := cfg3.InternalPort
	nodes[2].Kill()
	cfg3.InternalPort, cfg3.Port, cfg3.HTTPPort = 0, 0, 0 // a rescheduled container
	n3 := runNode(t, cfg3)
	require.NotEqual(t, oldPort, n3.Config().InternalPort)
	checkClusterFormed(t, nodes[0], nodes[1], n3)
	for _, o := range nodes[:2] {
		eventually(t, 10*time.Second, "new address advertised", func() bool {
			list, err := client(o).Nodes(context.Background())
			if err != nil {
				return false
			}
			for _, x := range list {
				if x.Name == "n3" {
					return x.GrpcInternalPort == n3.Config().InternalPort && x.HTTPPort == n3.Config().HTTPPort
				}
			}
			return false
		})
	}
}

func TestUnregisterDeadAndLiveNodes(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 4)
	ctx := context.Background()

	// A dead node: it disappears everywhere, and when it comes back it
	// finds itself unregistered and runs standalone.
	cfg4 := nodes[3].Config()
	nodes[3].Kill()
	waitStatus(t, 20*time.Second, "n4", "failed", nodes[0])
	require.NoError(t, client(nodes[1]).Unregister(ctx, "n4"))
	for _, o := range nodes[:3] {
		eventually(t, 10*time.Second, "n4 gone on "+o.Name(), func() bool {
			_, listed := statuses(t, o)["n4"]
			return !listed && len(statuses(t, o)) == 3
		})
	}
	n4 := runNode(t, cfg4)
	eventually(t, 15*time.Second, "restarted n4 runs standalone", func() bool {
		return mapsEqual(statuses(t, n4), map[string]string{"n4": "alive"})
	})

	// A live node: told to leave, it runs standalone; the others drop it.
	require.NoError(t, client(nodes[0]).Unregister(ctx, "n3"))
	eventually(t, 10*time.Second, "n3 standalone", func() bool {
		return mapsEqual(statuses(t, nodes[2]), map[string]string{"n3": "alive"})
	})
	for _, o := range nodes[:2] {
		eventually(t, 10*time.Second, "n3 gone on "+o.Name(), func() bool {
			return mapsEqual(statuses(t, o), map[string]string{"n1": "alive", "n2": "alive"})
		})
	}
	// They never rejoin it: a while later the lists are unchanged.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		require.Equal(t, map[string]string{"n1": "alive", "n2": "alive"}, statuses(t, nodes[0]))
		require.Equal(t, map[string]string{"n3": "alive"}, statuses(t, nodes[2]))
		time.Sleep(100 * time.Millisecond)
	}

	var ae *api.Error
	err := client(nodes[0]).Unregister(ctx, "n9")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeNoSuchNode, ae.Code)
	err = client(nodes[2]).Unregister(ctx, "n3")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeCannotRemoveLast, ae.Code)
}

func TestFullClusterRestartReforms(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	var cfgs []node.Config
	for _, n := range nodes {
		cfgs = append(cfgs, n.Config())
	}
	for _, n := range nodes {
		stop(n)
	}
	var again []*node.Node
	for _, c := range cfgs {
		again = append(again, runNode(t, c))
	}
	checkClusterFormed(t, again...)
}

func TestClustersWithOtherNamesNeverMerge(t *testing.T) {
	t.Parallel()
	a := runCluster(t, 2)
	cfg := testConfig(t, "b1", t.TempDir())
	cfg.Cluster.Name = "other"
	b1 := runNode(t, cfg)
	err := b1.Register(context.Background(), "127.0.0.1", a[0].Config().InternalPort)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, api.CodeCannotJoin, ae.Code)
	require.Contains(t, ae.Message, "other")
	require.Equal(t, map[string]string{"b1": "alive"}, statuses(t, b1))
	require.Equal(t, map[string]string{"n1": "alive", "n2": "alive"}, statuses(t, a[0]))
}

func TestMetadataTooLongRefusedAtStart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	long := strings.Repeat("a", 60)
	cfg.ClientHost = strings.Join([]string{long, long, long, long}, ".")
	cfg.InternalHost = strings.Join([]string{long, long, long, "b" + long}, ".")
	_, err := node.Start(context.Background(), cfg, node.Options{Logger: testLogger(t)})
	require.Error(t, err)
	require.Contains(t, err.Error(), "512")
	require.Contains(t, err.Error(), "axoniq.axonserver.hostname")
	require.Contains(t, err.Error(), "axoniq.axonserver.internal-hostname")
}

func TestCorruptStateIsReportedNotEmptied(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 2)
	cfg := nodes[1].Config()
	stop(nodes[1])
	state := filepath.Join(cfg.ControlDBPath, "cluster-state.json")
	b, err := os.ReadFile(state)
	require.NoError(t, err)

	// Truncated, with a good backup: start with a warning, members intact.
	require.NoError(t, os.WriteFile(state, b[:len(b)/2], 0o600))
	n2 := runNode(t, cfg)
	checkClusterFormed(t, nodes[0], n2)
	stop(n2)

	// Both damaged: refuse to start, naming the file.
	require.NoError(t, os.WriteFile(state, b[:len(b)/2], 0o600))
	require.NoError(t, os.WriteFile(state+".bak", []byte("{"), 0o600))
	_, err = node.Start(context.Background(), cfg, node.Options{Logger: testLogger(t)})
	require.Error(t, err)
	require.Contains(t, err.Error(), state)
	require.Contains(t, err.Error(), "refusing to start with an empty member list")
}

func TestAutoclusterFirstRetriesUntilItJoins(t *testing.T) {
	t.Parallel()
	// n2 starts before n1 exists: it keeps trying until n1 is up.
	p := freePort(t)
	cfg2 := testConfig(t, "n2", t.TempDir())
	cfg2.AutoclusterFirst = "127.0.0.1:" + strconv.Itoa(p)
	n2 := runNode(t, cfg2)
	cfg1 := testConfig(t, "n1", t.TempDir())
	cfg1.InternalPort = p
	cfg1.AutoclusterFirst = "127.0.0.1:" + strconv.Itoa(p) // its own address: does not join itself
	n1 := runNode(t, cfg1)
	checkClusterFormed(t, n1, n2)
}
