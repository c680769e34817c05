package client

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rosterhq/roster/internal/testkit"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

func node(name, host string, port int32, st rosterpb.NodeStatus) *rosterpb.Node {
	return &rosterpb.Node{Name: name, HostName: host, GrpcPort: port, Status: st, Since: timestamppb.Now()}
}

func TestMembershipFollowsSnapshotsAndEvents(t *testing.T) {
	alive, failed := rosterpb.NodeStatus_NODE_STATUS_ALIVE, rosterpb.NodeStatus_NODE_STATUS_FAILED
	m := newMembership()
	m.apply(&rosterpb.MembershipEvent{Type: rosterpb.MembershipEvent_TYPE_SNAPSHOT, Nodes: []*rosterpb.Node{
		node("n2", "b.example.com", 8124, alive), node("n1", "a.example.com", 8124, alive), node("n3", "::1", 8125, failed),
	}})
	require.Equal(t, []string{"a.example.com:8124", "b.example.com:8124"}, m.alive())

	joined := m.apply(&rosterpb.MembershipEvent{Type: rosterpb.MembershipEvent_TYPE_JOIN, Node: node("n3", "::1", 8125, alive)})
	require.Equal(t, []string{"n3"}, joined)
	require.Equal(t, []string{"a.example.com:8124", "b.example.com:8124", "[::1]:8125"}, m.alive())
	require.Empty(t, m.apply(&rosterpb.MembershipEvent{Type: rosterpb.MembershipEvent_TYPE_UPDATE, Node: node("n3", "::1", 8125, alive)}), "already alive")

	m.apply(&rosterpb.MembershipEvent{Type: rosterpb.MembershipEvent_TYPE_FAIL, Node: node("n1", "a.example.com", 8124, failed)})
	m.apply(&rosterpb.MembershipEvent{Type: rosterpb.MembershipEvent_TYPE_REMOVE, Node: node("n2", "", 0, 0)})
	require.Equal(t, []string{"[::1]:8125"}, m.alive())
	var names []string
	for _, n := range m.list() {
		names = append(names, n.GetName())
	}
	require.Equal(t, []string{"n1", "n3"}, names)

	// A new snapshot replaces everything.
	m.apply(&rosterpb.MembershipEvent{Type: rosterpb.MembershipEvent_TYPE_SNAPSHOT, Nodes: []*rosterpb.Node{node("n9", "z", 1, alive)}})
	require.Equal(t, []string{"z:1"}, m.alive())
}

func TestSeedAddressAddsTheDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"node1":                 "node1:8124",
		"node1:9000":            "node1:9000",
		"10.0.0.1":              "10.0.0.1:8124",
		"[::1]":                 "[::1]:8124",
		"[::1]:8125":            "[::1]:8125",
		"node1.example.com:443": "node1.example.com:443",
	} {
		require.Equal(t, want, seedAddress(in), in)
	}
}

func TestNewNeedsSeeds(t *testing.T) {
	_, err := New(Config{})
	require.ErrorContains(t, err, "client: at least one seed")
	_, err = New(Config{Seeds: []string{" , "}})
	require.ErrorContains(t, err, "client: at least one seed")
}

func TestClientWithoutReachableNodeReportsAndCloses(t *testing.T) {
	events := make(chan Event, 100)
	c, err := New(Config{Seeds: []string{"127.0.0.1:1"}, OnEvent: func(ev Event) {
		select {
		case events <- ev:
		default:
		}
	}})
	require.NoError(t, err)
	ev, _ := testkit.Receive(t, events, 10*time.Second, "event of the unreachable seed")
	require.Equal(t, EventUnreachable, ev.Type)
	require.ErrorContains(t, ev.Err, "127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.WaitConnected(ctx)
	require.Error(t, err)
	require.NoError(t, c.Close())
	_, err = c.WaitConnected(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, c.Invoke(context.Background(), "/x/y", nil, nil), ErrClosed)
}

func TestResolverRefusesATargetWithoutNodes(t *testing.T) {
	conn, err := grpc.NewClient("roster:///", grpc.WithResolvers(NewResolverBuilder(ResolverOptions{})),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err) // the resolver is built on first use
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = rosterpb.NewClusterServiceClient(conn).ListNodes(ctx, &rosterpb.ListNodesRequest{})
	require.ErrorContains(t, err, "names no node")
}
