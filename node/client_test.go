package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/internal/testkit"
	"github.com/rosterhq/roster/node"
	rosterclient "github.com/rosterhq/roster/rpc/client"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

func TestClusterServiceListsAndWatchesMembership(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 2)
	conn := dialClientPort(t, nodes[0])
	cs := rosterpb.NewClusterServiceClient(conn)
	ctx := context.Background()

	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())

	list, err := cs.ListNodes(ctx, &rosterpb.ListNodesRequest{})
	require.NoError(t, err)
	require.Equal(t, "n1", list.GetAnsweredBy())
	require.Len(t, list.GetNodes(), 2)
	for i, n := range list.GetNodes() {
		cfg := nodes[i].Config()
		require.Equal(t, cfg.Name, n.GetName())
		require.Equal(t, "127.0.0.1", n.GetHostName())
		require.EqualValues(t, cfg.Port, n.GetGrpcPort())
		require.EqualValues(t, cfg.HTTPPort, n.GetHttpPort())
		require.Equal(t, "127.0.0.1", n.GetInternalHostName())
		require.EqualValues(t, cfg.InternalPort, n.GetGrpcInternalPort())
		require.Equal(t, rosterpb.NodeStatus_NODE_STATUS_ALIVE, n.GetStatus())
		require.False(t, n.GetSince().AsTime().IsZero())
		require.Equal(t, node.Version, n.GetVersion())
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cs.WatchMembership(wctx, &rosterpb.WatchMembershipRequest{})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, rosterpb.MembershipEvent_TYPE_SNAPSHOT, first.GetType())
	require.Len(t, first.GetNodes(), 2)
	require.Equal(t, "n1", first.GetAnsweredBy())

	// waitEvent reads until typ for member comes; others (updates of
	// client counts and the like) pass by.
	waitEvent := func(typ rosterpb.MembershipEvent_Type, member string) *rosterpb.Node {
		t.Helper()
		for {
			ev, err := stream.Recv()
			require.NoError(t, err)
			if ev.GetType() == typ && ev.GetNode().GetName() == member {
				return ev.GetNode()
			}
		}
	}
	n3 := runNode(t, testConfig(t, "n3", t.TempDir()))
	register(t, n3, nodes[0])
	joined := waitEvent(rosterpb.MembershipEvent_TYPE_JOIN, "n3")
	require.Equal(t, rosterpb.NodeStatus_NODE_STATUS_ALIVE, joined.GetStatus())
	require.EqualValues(t, n3.Config().Port, joined.GetGrpcPort())
	stop(n3)
	require.Equal(t, rosterpb.NodeStatus_NODE_STATUS_LEFT, waitEvent(rosterpb.MembershipEvent_TYPE_LEAVE, "n3").GetStatus())
}

// callLoop calls ListNodes in a loop and records what happened.
type callLoop struct {
	call func(ctx context.Context) (string, error)

	mu      sync.Mutex
	calls   int
	errs    []error
	longest time.Duration
	by      map[string]int
	stop    chan struct{}
	done    chan struct{}
}

func startCallLoop(t *testing.T, call func(ctx context.Context) (string, error)) *callLoop {
	c := &callLoop{call: call, by: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			start := time.Now()
			who, err := c.call(ctx)
			took := time.Since(start)
			cancel()
			c.mu.Lock()
			c.calls++
			c.longest = max(c.longest, took)
			if err != nil {
				c.errs = append(c.errs, err)
			} else {
				c.by[who]++
			}
			c.mu.Unlock()
			time.Sleep(5 * time.Millisecond) // pace the loop, not a wait for anything
		}
	}()
	t.Cleanup(func() { c.finish(t) })
	return c
}

func (c *callLoop) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// progress waits until more calls succeeded.
func (c *callLoop) progress(t *testing.T, more int) {
	t.Helper()
	from := c.count()
	eventually(t, 30*time.Second, "calls go on", func() bool { return c.count() >= from+more })
}

func (c *callLoop) finish(t *testing.T) {
	t.Helper()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	testkit.Receive(t, c.done, 30*time.Second, "end of the call loop")
}

func (c *callLoop) report(t *testing.T, what string) {
	t.Helper()
	c.finish(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Logf("%s: %d calls, %d failed, longest call %s, answered by %v", what, c.calls, len(c.errs), c.longest.Round(time.Millisecond), c.by)
	require.Empty(t, c.errs, "%s: every call succeeds", what)
	require.Less(t, c.longest, 25*time.Second, what)
}

// restartNode stops n (gracefully, or kills it) and starts it again with the
// same configuration, ports and data.
func restartNode(t *testing.T, nodes []*node.Node, i int, kill bool) {
	t.Helper()
	cfg := nodes[i].Config()
	if kill {
		nodes[i].Kill()
	} else {
		stop(nodes[i])
	}
	nodes[i] = runNode(t, cfg)
	checkClusterFormed(t, nodes...)
}

func TestClientFollowsRollingRestartAndKill(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	var mu sync.Mutex
	var gaps []time.Duration
	var events []string
	moves := -1 // the first connection is no move
	c, err := rosterclient.New(rosterclient.Config{
		// One seed: the client learns the others from membership.
		Seeds:             []string{nodes[0].GRPCAddr()},
		ClientID:          "follow-test",
		ComponentName:     "node-test",
		HeartbeatInterval: 250 * time.Millisecond,
		OnEvent: func(ev rosterclient.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fmt.Sprintf("%s %s", ev.Type, ev.Server.Name))
			if ev.Type == rosterclient.EventConnected {
				moves++
				if ev.Gap > 0 {
					gaps = append(gaps, ev.Gap)
				}
			}
		},
	})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := c.WaitConnected(ctx)
	require.NoError(t, err)
	t.Logf("connected to %s at %s", srv.Name, srv.Address)
	eventually(t, 10*time.Second, "client knows every node", func() bool { return len(c.Nodes()) == 3 })

	cs := rosterpb.NewClusterServiceClient(c)
	calls := startCallLoop(t, func(ctx context.Context) (string, error) {
		r, err := cs.ListNodes(ctx, &rosterpb.ListNodesRequest{})
		return r.GetAnsweredBy(), err
	})
	calls.progress(t, 10)
	for i := range nodes {
		restartNode(t, nodes, i, false)
		calls.progress(t, 10)
	}
	// Kill the node the client uses, twice: failover without any notice.
	for k := 0; k < 2; k++ {
		// It may be moving (a rebalance, or going home after a failover
		// under load): wait for it to be on a node.
		var cur rosterclient.Server
		eventually(t, 10*time.Second, "client on a node", func() bool {
			var ok bool
			cur, ok = c.Server()
			return ok
		})
		for i, n := range nodes {
			if n.Name() == cur.Name {
				restartNode(t, nodes, i, true)
			}
		}
		calls.progress(t, 10)
	}
	// Killed nodes came back faster than failure detection: no join to
	// rebalance on, yet the client goes back where placement puts it.
	home := placementsVia(t, nodes[0], []string{"follow-test"})["follow-test"]
	start := time.Now()
	eventually(t, 45*time.Second, "client back on "+home, func() bool {
		s, ok := c.Server()
		return ok && s.Name == home
	})
	t.Logf("go client back on its node %s after %s", home, time.Since(start).Round(time.Millisecond))
	calls.progress(t, 10)
	calls.report(t, "go client")

	mu.Lock()
	defer mu.Unlock()
	longest := time.Duration(0)
	for _, g := range gaps {
		longest = max(longest, g)
	}
	t.Logf("go client: %d moves, %d of them after losing its node, longest time without a server %s; gaps %v", moves, len(gaps), longest.Round(time.Millisecond), gaps)
	t.Logf("go client events: %v", events)
	require.GreaterOrEqual(t, moves, 3, "the client moved at least once per stopped or killed node it used")
	require.GreaterOrEqual(t, len(gaps), 2, "each kill of its node left the client without a server for a while")
	require.Less(t, longest, 10*time.Second)
}

func TestResolverBalancesOverLiveNodesAndFollowsRestarts(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	target := "roster:///" + nodes[0].GRPCAddr() + "," + nodes[1].GRPCAddr() // n3 is learnt
	dial := func(opts rosterclient.ResolverOptions) rosterpb.ClusterServiceClient {
		conn, err := grpc.NewClient(target,
			grpc.WithResolvers(rosterclient.NewResolverBuilder(opts)),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return rosterpb.NewClusterServiceClient(conn)
	}
	list := func(cs rosterpb.ClusterServiceClient) func(ctx context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			r, err := cs.ListNodes(ctx, &rosterpb.ListNodesRequest{}, grpc.WaitForReady(true))
			return r.GetAnsweredBy(), err
		}
	}
	plain := dial(rosterclient.ResolverOptions{})
	// For kills, calls in flight on the dead node fail: a retry policy
	// sends them to another node.
	retrying := dial(rosterclient.ResolverOptions{ServiceConfig: `{
		"loadBalancingConfig": [{"round_robin": {}}],
		"methodConfig": [{"name": [{"service": "roster.v1.ClusterService"}],
			"retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.05s", "maxBackoff": "1s",
				"backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}`})

	// Round robin over every alive node, the one not named too.
	seen := map[string]bool{}
	eventually(t, 10*time.Second, "every node answers", func() bool {
		who, err := list(plain)(context.Background())
		require.NoError(t, err)
		seen[who] = true
		return len(seen) == 3
	})

	plainCalls, retryingCalls := startCallLoop(t, list(plain)), startCallLoop(t, list(retrying))
	for i := range nodes {
		restartNode(t, nodes, i, false)
		plainCalls.progress(t, 10)
	}
	plainCalls.report(t, "resolver, rolling restart")
	restartNode(t, nodes, 1, true)
	retryingCalls.progress(t, 10)
	retryingCalls.report(t, "resolver with retry policy, rolling restart and kill")
}

// A stopping node's Go clients register on their next node before they let
// go of it, and it waits for them before announcing its leave: by the time
// a peer hears of the leave, every one of them is connected elsewhere.
func TestClientsMoveBeforeTheirNodeLeaves(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	var mine []string
	for id, at := range settledPlacements(t, testClientIDs(40), nodes...) {
		if at == "n2" {
			mine = append(mine, id)
		}
	}
	require.GreaterOrEqual(t, len(mine), 5)

	var mu sync.Mutex
	movedAt := map[string]time.Time{} // when each client connected past n2
	leftN2At := map[string]time.Time{}
	for _, id := range mine {
		c, err := rosterclient.New(rosterclient.Config{
			Seeds:         []string{nodes[0].GRPCAddr()},
			ClientID:      id,
			ComponentName: "test",
			OnEvent: func(ev rosterclient.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ev.Type == rosterclient.EventDisconnected && ev.Server.Name == "n2":
					leftN2At[id] = time.Now()
				case ev.Type == rosterclient.EventConnected && ev.Server.Name != "n2":
					if _, ok := movedAt[id]; !ok {
						movedAt[id] = time.Now()
					}
				}
			},
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		eventually(t, 10*time.Second, id+" connected to n2", func() bool {
			s, ok := c.Server()
			return ok && s.Name == "n2"
		})
	}

	// n1 tells the moment it hears of the leave.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := rosterpb.NewClusterServiceClient(dialClientPort(t, nodes[0])).WatchMembership(ctx, &rosterpb.WatchMembershipRequest{})
	require.NoError(t, err)
	_, err = stream.Recv() // the snapshot
	require.NoError(t, err)
	leftAt := make(chan time.Time, 1)
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			if ev.GetType() == rosterpb.MembershipEvent_TYPE_LEAVE && ev.GetNode().GetName() == "n2" {
				leftAt <- time.Now()
				return
			}
		}
	}()

	start := time.Now()
	stop(nodes[1])
	var left time.Time
	select {
	case left = <-leftAt:
	case <-time.After(10 * time.Second):
		t.Fatal("n1 never heard that n2 left")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range mine {
		at, ok := movedAt[id]
		require.True(t, ok, "%s never connected to another node", id)
		require.True(t, at.Before(left), "%s connected elsewhere %s after n1 heard n2 leave", id, at.Sub(left))
		// Make before break: never without a node.
		require.True(t, at.Before(leftN2At[id]), "%s let go of n2 before it was connected elsewhere", id)
	}
	t.Logf("%d clients moved off n2; n1 heard it leave %s after the stop began", len(mine), left.Sub(start).Round(time.Millisecond))
}

// The resolver follows one node's membership stream. A node that stops
// answering without closing the connection (here a black hole between
// them) must not hold it: keepalive pings end the stream, the resolver
// follows another node and learns of a node that joins afterwards.
func TestResolverLeavesANodeThatStoppedAnswering(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	hole := newBlackhole(t, nodes[0].GRPCAddr())
	conn, err := grpc.NewClient("roster:///"+hole.Addr(),
		grpc.WithResolvers(rosterclient.NewResolverBuilder(rosterclient.ResolverOptions{})),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	cs := rosterpb.NewClusterServiceClient(conn)
	answeredBy := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := cs.ListNodes(ctx, &rosterpb.ListNodesRequest{})
		if err != nil {
			return ""
		}
		return r.GetAnsweredBy()
	}
	seen := map[string]bool{}
	eventually(t, 10*time.Second, "every node answers through the resolver", func() bool {
		seen[answeredBy()] = true
		return seen["n1"] && seen["n2"] && seen["n3"]
	})

	hole.on.Store(true)
	start := time.Now()
	n4 := runNode(t, testConfig(t, "n4", t.TempDir()))
	register(t, n4, nodes[1])
	eventually(t, 45*time.Second, "n4, which joined after the followed node stopped answering, answers", func() bool {
		return answeredBy() == "n4"
	})
	t.Logf("the resolver learnt of n4 %s after its node stopped answering", time.Since(start).Round(time.Millisecond))
}
