package node_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/internal/testkit"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/rpc/controlpb"
)

func dialClientPort(t testing.TB, n *node.Node) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func platformClient(t testing.TB, n *node.Node) controlpb.PlatformServiceClient {
	return controlpb.NewPlatformServiceClient(dialClientPort(t, n))
}

func testClientIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%d@app-host-%02d", 4000+i, i)
	}
	return ids
}

// placementsVia asks via where each client should go: client id to node name.
func placementsVia(t testing.TB, via *node.Node, ids []string) map[string]string {
	t.Helper()
	cli := platformClient(t, via)
	out := map[string]string{}
	for _, id := range ids {
		info, err := cli.GetPlatformServer(context.Background(), &controlpb.ClientIdentification{ClientId: id, ComponentName: "test"})
		require.NoError(t, err)
		out[id] = info.GetPrimary().GetNodeName()
	}
	return out
}

// settledPlacements waits until every node gives the same answers and
// places clients on each of them (membership reaches placement a moment
// after the REST API), and returns those answers.
func settledPlacements(t testing.TB, ids []string, nodes ...*node.Node) map[string]string {
	t.Helper()
	var p map[string]string
	eventually(t, 10*time.Second, "placement settled on every node", func() bool {
		p = placementsVia(t, nodes[0], ids)
		for _, n := range nodes[1:] {
			if !mapsEqual(p, placementsVia(t, n, ids)) {
				return false
			}
		}
		return len(spreadOf(p)) == len(nodes)
	})
	return p
}

func spreadOf(p map[string]string) map[string]int {
	c := map[string]int{}
	for _, n := range p {
		c[n]++
	}
	return c
}

func TestPlatformSpreadsClientsTheSameOnEveryNode(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	byName := map[string]*node.Node{}
	for _, n := range nodes {
		byName[n.Name()] = n
	}
	ids := testClientIDs(60)
	want := placementsVia(t, nodes[0], ids)
	for _, asked := range nodes {
		cli := platformClient(t, asked)
		for _, id := range ids {
			info, err := cli.GetPlatformServer(context.Background(), &controlpb.ClientIdentification{ClientId: id})
			require.NoError(t, err)
			p := info.GetPrimary()
			require.Equal(t, want[id], p.GetNodeName(), "%s asked %s", id, asked.Name())
			chosen := byName[p.GetNodeName()].Config()
			require.Equal(t, "127.0.0.1", p.GetHostName())
			require.EqualValues(t, chosen.Port, p.GetGrpcPort())
			require.EqualValues(t, chosen.HTTPPort, p.GetHttpPort())
			require.Equal(t, asked.Name() == p.GetNodeName(), info.GetSameConnection())
		}
	}
	count := spreadOf(want)
	t.Logf("60 clients over 3 nodes: %v", count)
	for _, n := range nodes {
		require.GreaterOrEqual(t, count[n.Name()], 10, "%s is starved: %v", n.Name(), count)
	}
}

func TestPlatformKilledNodesClientsMoveAndNoOthers(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	ids := testClientIDs(60)
	before := placementsVia(t, nodes[0], ids)
	nodes[2].Kill()
	waitStatus(t, 20*time.Second, "n3", "failed", nodes[0], nodes[1])
	after := placementsVia(t, nodes[0], ids)
	require.Equal(t, after, placementsVia(t, nodes[1], ids), "survivors agree")
	moved := map[string]int{}
	for _, id := range ids {
		if before[id] == "n3" {
			require.NotEqual(t, "n3", after[id])
			moved[after[id]]++
			continue
		}
		require.Equal(t, before[id], after[id], "client %s moved though its node lives", id)
	}
	t.Logf("before %v, after %v; n3's clients went to %v", spreadOf(before), spreadOf(after), moved)
	require.Positive(t, moved["n1"]+moved["n2"])
}

// streamClient is one client's platform stream, read in the background.
type streamClient struct {
	id     string
	node   string
	conn   *grpc.ClientConn
	stream controlpb.PlatformService_OpenStreamClient
	cancel context.CancelFunc
	msgs   chan *controlpb.PlatformOutboundInstruction // heartbeats left out
	end    chan error
	mu     sync.Mutex
}

// connectStream opens id's stream on n and registers.
func connectStream(t testing.TB, n *node.Node, id string) *streamClient {
	t.Helper()
	c := &streamClient{id: id, node: n.Name(), conn: dialClientPort(t, n), msgs: make(chan *controlpb.PlatformOutboundInstruction, 64), end: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.cancel = cancel
	var err error
	c.stream, err = controlpb.NewPlatformServiceClient(c.conn).OpenStream(ctx)
	require.NoError(t, err)
	c.send(t, &controlpb.PlatformInboundInstruction{
		Request:       &controlpb.PlatformInboundInstruction_Register{Register: &controlpb.ClientIdentification{ClientId: id, ComponentName: "test"}},
		InstructionId: "register",
	})
	go func() {
		for {
			m, err := c.stream.Recv()
			if err != nil {
				c.end <- err
				return
			}
			if m.GetHeartbeat() == nil {
				c.msgs <- m
			}
		}
	}()
	require.Equal(t, n.Name(), c.next(t).GetNodeNotification().GetNodeName())
	require.Equal(t, "register", c.next(t).GetAck().GetInstructionId())
	return c
}

func (c *streamClient) send(t testing.TB, m *controlpb.PlatformInboundInstruction) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.NoError(t, c.stream.Send(m))
}

// next is the next instruction other than a heartbeat; the stream must
// not end first.
func (c *streamClient) next(t testing.TB) *controlpb.PlatformOutboundInstruction {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case err := <-c.end:
		t.Fatalf("%s: stream to %s ended: %v", c.id, c.node, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing from %s", c.id, c.node)
	}
	return nil
}

// stillThere checks the client was not asked to go: a heartbeat's ack is
// the next thing it gets.
func (c *streamClient) stillThere(t testing.TB) {
	t.Helper()
	c.send(t, &controlpb.PlatformInboundInstruction{
		Request: &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}}, InstructionId: "still",
	})
	require.Equal(t, "still", c.next(t).GetAck().GetInstructionId(), "%s on %s", c.id, c.node)
}

func restCounts(t testing.TB, observer *node.Node) map[string]int {
	list, err := client(observer).Nodes(context.Background())
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, x := range list {
		out[x.Name] = x.Clients
	}
	return out
}

func TestPlatformJoinedNodeReceivesItsShareByReconnect(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 2)
	reg3 := prometheus.NewRegistry()
	n3, err := node.Start(context.Background(), testConfig(t, "n3", t.TempDir()), node.Options{Logger: testLogger(t), Metrics: reg3})
	require.NoError(t, err)
	t.Cleanup(func() { stop(n3) })
	byName := map[string]*node.Node{"n1": nodes[0], "n2": nodes[1], "n3": n3}

	ids := testClientIDs(60)
	streams := map[string]*streamClient{}
	for id, at := range placementsVia(t, nodes[0], ids) {
		streams[id] = connectStream(t, byName[at], id)
	}
	eventually(t, 10*time.Second, "client counts gossiped", func() bool {
		c := restCounts(t, nodes[1])
		return c["n1"]+c["n2"] == 60 && c["n1"] > 0 && c["n2"] > 0
	})

	register(t, n3, nodes[0])
	checkClusterFormed(t, nodes[0], nodes[1], n3)
	now := settledPlacements(t, ids, nodes[0], nodes[1], n3)
	share := spreadOf(now)["n3"]
	t.Logf("n3's share: %d of 60 (%v)", share, spreadOf(now))
	require.GreaterOrEqual(t, share, 10)

	// Exactly the clients placement now puts on n3 are asked to go; they
	// ask their node where to, and go there.
	for _, id := range ids {
		c := streams[id]
		if now[id] != "n3" {
			continue
		}
		require.NotNil(t, c.next(t).GetRequestReconnect(), "%s on %s", id, c.node)
		info, err := controlpb.NewPlatformServiceClient(c.conn).GetPlatformServer(context.Background(), &controlpb.ClientIdentification{ClientId: id})
		require.NoError(t, err)
		require.Equal(t, "n3", info.GetPrimary().GetNodeName())
		c.cancel()
		streams[id] = connectStream(t, n3, id)
	}
	for _, id := range ids {
		if now[id] != "n3" {
			streams[id].stillThere(t)
		}
	}

	// Counted where they are: in gossip (REST, on every node) and in n3's
	// metrics.
	want := spreadOf(now)
	for _, o := range byName {
		eventually(t, 10*time.Second, "client counts on "+o.Name(), func() bool {
			c := restCounts(t, o)
			return c["n1"] == want["n1"] && c["n2"] == want["n2"] && c["n3"] == want["n3"]
		})
	}
	require.Equal(t, float64(share), gaugeValue(t, reg3, "roster_client_connections"))
}

func TestPlatformRebalanceOff(t *testing.T) {
	t.Parallel()
	cfgs := make([]node.Config, 3)
	nodes := make([]*node.Node, 3)
	for i := range cfgs {
		cfgs[i] = testConfig(t, fmt.Sprintf("n%d", i+1), t.TempDir())
		cfgs[i].Cluster.Rebalance = false
		nodes[i] = runNode(t, cfgs[i])
	}
	register(t, nodes[1], nodes[0])
	checkClusterFormed(t, nodes[0], nodes[1])
	ids := testClientIDs(60)
	streams := map[string]*streamClient{}
	for id, at := range placementsVia(t, nodes[0], ids) {
		streams[id] = connectStream(t, map[string]*node.Node{"n1": nodes[0], "n2": nodes[1]}[at], id)
	}
	register(t, nodes[2], nodes[0])
	checkClusterFormed(t, nodes...)
	now := settledPlacements(t, ids, nodes...)
	require.Positive(t, spreadOf(now)["n3"])
	for _, c := range streams {
		require.Never(t, func() bool { return len(c.msgs) > 0 }, 50*time.Millisecond, 10*time.Millisecond, "%s was asked to move", c.id)
		c.stillThere(t)
	}
}

func TestPlatformGracefulStopSendsReconnectBeforeTheStreamCloses(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	n2 := nodes[1]
	var mine []string
	for id, at := range placementsVia(t, nodes[0], testClientIDs(60)) {
		if at == "n2" {
			mine = append(mine, id)
		}
	}
	sort.Strings(mine)
	require.GreaterOrEqual(t, len(mine), 5)
	var clients []*streamClient
	for _, id := range mine {
		clients = append(clients, connectStream(t, n2, id))
	}
	// One client ignores request_reconnect: the node does not wait for it
	// beyond its bounded moment.
	stubborn := clients[0]

	start := time.Now()
	stopped := make(chan time.Duration, 1)
	go func() { stop(n2); stopped <- time.Since(start) }()

	for _, c := range clients {
		m := c.next(t)
		require.NotNil(t, m.GetRequestReconnect(), "%s: first word after the stop began", c.id)
		if c == stubborn {
			continue
		}
		// It asks the stopping node where to go: elsewhere.
		info, err := controlpb.NewPlatformServiceClient(c.conn).GetPlatformServer(context.Background(), &controlpb.ClientIdentification{ClientId: c.id})
		require.NoError(t, err)
		require.NotEqual(t, "n2", info.GetPrimary().GetNodeName())
		require.False(t, info.GetSameConnection())
		c.cancel()
	}
	select {
	case err := <-stubborn.end:
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the stubborn client's stream was never closed")
	}
	took, _ := testkit.Receive(t, stopped, 20*time.Second, "end of n2's stop")
	t.Logf("stop took %s with one client ignoring request_reconnect", took.Round(time.Millisecond))
	require.Less(t, took, 9*time.Second, "stop waited for the stubborn client until its deadline")
	waitStatus(t, 5*time.Second, "n2", "left", nodes[0], nodes[2])
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range families {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	var have []string
	for _, mf := range families {
		have = append(have, mf.GetName())
	}
	t.Fatalf("%s is not registered; the registry has %s", name, strings.Join(have, ", "))
	return 0
}
