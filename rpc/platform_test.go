package rpc

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/rosterhq/roster/internal/testkit"
	"github.com/rosterhq/roster/rpc/controlpb"
)

type platformFixture struct {
	srv       *PlatformServer
	placement *Placement
	reg       *prometheus.Registry
	cli       controlpb.PlatformServiceClient
	counts    chan int
}

func startPlatform(t *testing.T, opts PlatformOptions, alive ...string) *platformFixture {
	t.Helper()
	f := &platformFixture{placement: NewPlacement(), reg: prometheus.NewRegistry(), counts: make(chan int, 1000)}
	f.placement.Update(targets(alive...))
	opts.Self = targets("n1")[0]
	opts.Placement = f.placement
	opts.Registerer = f.reg
	opts.OnClients = func(n int) { f.counts <- n }
	var err error
	f.srv, err = NewPlatformServer(opts)
	require.NoError(t, err)
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	f.srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	f.cli = controlpb.NewPlatformServiceClient(conn)
	return f
}

// idOn finds a client id that placement puts on node.
func idOn(t *testing.T, p *Placement, node string, skip int) string {
	t.Helper()
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("client-%d", i)
		if n, _ := p.Pick(id); n == node {
			if skip == 0 {
				return id
			}
			skip--
		}
	}
	t.Fatalf("no client id lands on %s", node)
	return ""
}

func TestGetPlatformServerAnswersPlacement(t *testing.T) {
	f := startPlatform(t, PlatformOptions{}, "n1", "n2", "n3")
	ctx := context.Background()

	mine := idOn(t, f.placement, "n1", 0)
	info, err := f.cli.GetPlatformServer(ctx, &controlpb.ClientIdentification{ClientId: mine})
	require.NoError(t, err)
	require.True(t, info.GetSameConnection())
	require.Equal(t, "n1", info.GetPrimary().GetNodeName())

	theirs := idOn(t, f.placement, "n2", 0)
	info, err = f.cli.GetPlatformServer(ctx, &controlpb.ClientIdentification{ClientId: theirs})
	require.NoError(t, err)
	require.False(t, info.GetSameConnection())
	p := info.GetPrimary()
	require.Equal(t, "n2", p.GetNodeName())
	require.Equal(t, "n2.example.com", p.GetHostName())
	require.EqualValues(t, 8124, p.GetGrpcPort())
	require.EqualValues(t, 8024, p.GetHttpPort())
	require.EqualValues(t, 100, p.GetVersion())

	// A client that cannot reach n2 goes where everyone will send it once
	// n2 is declared dead.
	info, err = f.cli.GetPlatformServer(ctx, &controlpb.ClientIdentification{ClientId: theirs, Tags: map[string]string{AvoidTag: "n2"}})
	require.NoError(t, err)
	want := placementOf("n1", "n3").pick(theirs, nil, "", "", true).name
	require.Equal(t, want, info.GetPrimary().GetNodeName())

	// Without a client id, the component name places the client.
	byComponent, err := f.cli.GetPlatformServer(ctx, &controlpb.ClientIdentification{ComponentName: theirs})
	require.NoError(t, err)
	require.Equal(t, "n2", byComponent.GetPrimary().GetNodeName())

	// Nothing left to answer: the node asked serves.
	f.placement.Update(nil)
	info, err = f.cli.GetPlatformServer(ctx, &controlpb.ClientIdentification{ClientId: theirs})
	require.NoError(t, err)
	require.True(t, info.GetSameConnection())
	require.Equal(t, "n1", info.GetPrimary().GetNodeName())
}

// stream is a test client's platform stream.
type stream struct {
	t *testing.T
	controlpb.PlatformService_OpenStreamClient
	cancel context.CancelFunc
}

func openStream(t *testing.T, f *platformFixture) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := f.cli.OpenStream(ctx)
	require.NoError(t, err)
	return &stream{t: t, PlatformService_OpenStreamClient: s, cancel: cancel}
}

func (s *stream) send(m *controlpb.PlatformInboundInstruction) {
	s.t.Helper()
	require.NoError(s.t, s.Send(m))
}

func (s *stream) recv() *controlpb.PlatformOutboundInstruction {
	s.t.Helper()
	m, err := s.Recv()
	require.NoError(s.t, err)
	return m
}

func (s *stream) register(id string) {
	s.t.Helper()
	s.send(&controlpb.PlatformInboundInstruction{
		Request:       &controlpb.PlatformInboundInstruction_Register{Register: &controlpb.ClientIdentification{ClientId: id, ComponentName: "test"}},
		InstructionId: "reg-" + id,
	})
	require.Equal(s.t, "n1", s.recv().GetNodeNotification().GetNodeName())
	ack := s.recv().GetAck()
	require.Equal(s.t, "reg-"+id, ack.GetInstructionId())
	require.True(s.t, ack.GetSuccess())
}

func waitCount(t *testing.T, f *platformFixture, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return f.srv.Clients() == want }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, float64(want), gaugeValue(t, f.reg, "roster_client_connections"))
}

// gaugeValue reads a gauge from what reg exposes.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range families {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s is not registered", name)
	return 0
}

func TestOpenStreamRegistersAcksAndSurvivesUnsupported(t *testing.T) {
	f := startPlatform(t, PlatformOptions{}, "n1", "n2")
	s := openStream(t, f)
	s.register("c1")
	waitCount(t, f, 1)
	count, _ := testkit.Receive(t, f.counts, 5*time.Second, "client count")
	require.Equal(t, 1, count)

	s.send(&controlpb.PlatformInboundInstruction{
		Request:       &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}},
		InstructionId: "hb-1",
	})
	ack := s.recv().GetAck()
	require.Equal(t, "hb-1", ack.GetInstructionId())
	require.True(t, ack.GetSuccess())

	// A request roster does not know (here: none at all) is refused, not fatal.
	s.send(&controlpb.PlatformInboundInstruction{InstructionId: "what"})
	ack = s.recv().GetAck()
	require.Equal(t, "what", ack.GetInstructionId())
	require.False(t, ack.GetSuccess())
	require.Equal(t, CodeUnsupportedInstruction, ack.GetError().GetErrorCode())
	require.Equal(t, "n1", ack.GetError().GetLocation())
	require.Equal(t, []string{UnsupportedDetail}, ack.GetError().GetDetails())
	require.Empty(t, ack.GetError().GetMessage(), "Axon Server leaves the message empty")

	// Without an instruction id nothing is acknowledged; the stream lives on.
	s.send(&controlpb.PlatformInboundInstruction{})
	s.send(&controlpb.PlatformInboundInstruction{
		Request:       &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}},
		InstructionId: "hb-2",
	})
	require.Equal(t, "hb-2", s.recv().GetAck().GetInstructionId())

	// Registering again (a new identity) does not count twice.
	s.send(&controlpb.PlatformInboundInstruction{
		Request: &controlpb.PlatformInboundInstruction_Register{Register: &controlpb.ClientIdentification{ClientId: "c1b"}},
	})
	s.send(&controlpb.PlatformInboundInstruction{
		Request:       &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}},
		InstructionId: "hb-3",
	})
	require.Equal(t, "hb-3", s.recv().GetAck().GetInstructionId())
	require.Equal(t, 1, f.srv.Clients())

	require.NoError(t, s.CloseSend())
	waitCount(t, f, 0)
	count, _ = testkit.Receive(t, f.counts, 5*time.Second, "client count")
	require.Equal(t, 0, count)
}

func TestOpenStreamHeartbeatsBothWaysAndTimesOutSilentClients(t *testing.T) {
	f := startPlatform(t, PlatformOptions{HeartbeatInterval: 20 * time.Millisecond, ClientTimeout: 150 * time.Millisecond}, "n1")
	s := openStream(t, f)
	s.register("c1")
	s.send(&controlpb.PlatformInboundInstruction{Request: &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}}})
	// The node now sends heartbeats of its own...
	require.NotNil(t, s.recv().GetHeartbeat())
	require.NotNil(t, s.recv().GetHeartbeat())
	// ...and, as the client says nothing more, ends the stream.
	var err error
	for err == nil {
		_, err = s.Recv()
	}
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	waitCount(t, f, 0)
}

func TestRebalanceAsksOnlyTheClientsOfTheJoinedNode(t *testing.T) {
	f := startPlatform(t, PlatformOptions{}, "n1", "n2")
	var streams []*stream
	var ids []string
	for i := 0; i < 40; i++ {
		id := idOn(t, f.placement, "n1", i)
		s := openStream(t, f)
		s.register(id)
		streams, ids = append(streams, s), append(ids, id)
	}
	waitCount(t, f, 40)

	f.placement.Update(targets("n1", "n2", "n3"))
	require.Zero(t, f.srv.Rebalance("n1"), "this node joining moves nobody")
	asked := f.srv.Rebalance("n3")
	want := 0
	for i, s := range streams {
		if n, _ := f.placement.Pick(ids[i]); n == "n3" {
			want++
			require.NotNil(t, s.recv().GetRequestReconnect(), ids[i])
		}
	}
	require.Equal(t, want, asked)
	require.Greater(t, asked, 5, "n3's share of 40 clients")
	require.Less(t, asked, 25)
	// The others were not asked: a heartbeat's ack is the next thing they get.
	for i, s := range streams {
		if n, _ := f.placement.Pick(ids[i]); n != "n3" {
			s.send(&controlpb.PlatformInboundInstruction{Request: &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}}, InstructionId: "hb"})
			require.NotNil(t, s.recv().GetAck(), ids[i])
		}
	}
}

func TestDrainSendsReconnectWaitsThenCloses(t *testing.T) {
	f := startPlatform(t, PlatformOptions{}, "n1", "n2")
	polite, stubborn := openStream(t, f), openStream(t, f)
	polite.register("polite")
	stubborn.register("stubborn")
	waitCount(t, f, 2)

	go func() {
		if m, err := polite.Recv(); err == nil && m.GetRequestReconnect() != nil {
			polite.cancel() // as a client does: close and go
		}
	}()
	type result struct{ left, closed int }
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		l, c := f.srv.Drain(context.Background(), 300*time.Millisecond)
		done <- result{l, c}
	}()
	require.NotNil(t, stubborn.recv().GetRequestReconnect())

	// While draining, the node sends clients elsewhere.
	require.Eventually(t, func() bool { return f.srv.draining.Load() }, time.Second, time.Millisecond)
	info, err := f.cli.GetPlatformServer(context.Background(), &controlpb.ClientIdentification{ClientId: idOn(t, f.placement, "n1", 0)})
	require.NoError(t, err)
	require.Equal(t, "n2", info.GetPrimary().GetNodeName())
	require.False(t, info.GetSameConnection())

	r, _ := testkit.Receive(t, done, 10*time.Second, "end of the drain")
	require.Equal(t, result{left: 1, closed: 1}, r)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "waited for the stubborn client")
	_, err = stubborn.Recv()
	require.Equal(t, codes.Unavailable, status.Code(err))
	waitCount(t, f, 0)

	// A client arriving now is told to go and let go.
	late := openStream(t, f)
	// The node may end the stream before the registration is sent: gRPC
	// then fails Send with io.EOF and the stream's messages and status
	// are still there to read.
	if err := late.Send(&controlpb.PlatformInboundInstruction{Request: &controlpb.PlatformInboundInstruction_Register{Register: &controlpb.ClientIdentification{ClientId: "late"}}}); err != nil {
		require.ErrorIs(t, err, io.EOF)
	}
	require.NotNil(t, late.recv().GetRequestReconnect())
	for err = nil; err == nil; _, err = late.Recv() {
	}
	require.Equal(t, codes.Unavailable, status.Code(err))
}

func TestNewPlatformServerNeedsPlacementAndName(t *testing.T) {
	_, err := NewPlatformServer(PlatformOptions{})
	require.ErrorContains(t, err, "rpc: ")
	reg := prometheus.NewRegistry()
	opts := PlatformOptions{Self: Target{Name: "n1"}, Placement: NewPlacement(), Registerer: reg}
	_, err = NewPlatformServer(opts)
	require.NoError(t, err)
	_, err = NewPlatformServer(opts)
	require.ErrorContains(t, err, "roster_client_connections", "registered twice")
}

func BenchmarkGetPlatformServer(b *testing.B) {
	p := NewPlacement()
	p.Update(targets("n1", "n2", "n3", "n4", "n5"))
	s, err := NewPlatformServer(PlatformOptions{Self: targets("n1")[0], Placement: p})
	require.NoError(b, err)
	ci := &controlpb.ClientIdentification{ClientId: "12345@app-host.example.com", ComponentName: "billing", Tags: map[string]string{"region": "eu"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetPlatformServer(ctx, ci); err != nil {
			b.Fatal(err)
		}
	}
}

// The periodic sweep asks the clients here that placement puts on another
// node, except those that registered avoiding a node: they come back by
// themselves once it answers.
func TestSweepSkipsClientsThatAvoidANode(t *testing.T) {
	f := startPlatform(t, PlatformOptions{}, "n1", "n2")
	// Placed on n2, yet registered here (n2 was suspected for a moment).
	plain, avoiding := openStream(t, f), openStream(t, f)
	plainID, avoidingID := idOn(t, f.placement, "n2", 0), idOn(t, f.placement, "n2", 1)
	plain.register(plainID)
	avoiding.send(&controlpb.PlatformInboundInstruction{
		Request: &controlpb.PlatformInboundInstruction_Register{Register: &controlpb.ClientIdentification{
			ClientId: avoidingID, ComponentName: "test", Tags: map[string]string{AvoidTag: "n2"}}},
		InstructionId: "reg",
	})
	require.Equal(t, "n1", avoiding.recv().GetNodeNotification().GetNodeName())
	require.True(t, avoiding.recv().GetAck().GetSuccess())
	waitCount(t, f, 2)

	require.Equal(t, 1, f.srv.WouldSweep("n2"))
	require.Equal(t, 1, f.srv.Sweep("n2"))
	require.NotNil(t, plain.recv().GetRequestReconnect(), "the misplaced client is asked to move")
	avoiding.send(&controlpb.PlatformInboundInstruction{Request: &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}}, InstructionId: "hb"})
	require.NotNil(t, avoiding.recv().GetAck(), "the avoiding client is left alone")
	require.Zero(t, f.srv.Sweep("n1"), "none is asked to move to this node")
}
