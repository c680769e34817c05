package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rosterhq/roster/node"
)

// These tests speak PlatformService by field number, without the
// generated code: a renumbered field in the .proto fails them.

const platformService = "/io.axoniq.axonserver.grpc.control.PlatformService/"

// rawCodec passes bytes through, under gRPC's "proto" content subtype.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// wire is one decoded protobuf message: field number to values, each a
// []byte (length-delimited) or a uint64 (varint).
type wire map[protowire.Number][]any

func decodeWire(t *testing.T, b []byte) wire {
	t.Helper()
	w := wire{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		require.GreaterOrEqual(t, n, 0, "tag")
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			require.GreaterOrEqual(t, m, 0, "field %d", num)
			w[num] = append(w[num], v)
			b = b[m:]
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			require.GreaterOrEqual(t, m, 0, "field %d", num)
			w[num] = append(w[num], v)
			b = b[m:]
		default:
			t.Fatalf("field %d has unexpected wire type %d", num, typ)
		}
	}
	return w
}

func (w wire) msg(t *testing.T, num protowire.Number) wire {
	t.Helper()
	require.Len(t, w[num], 1, "field %d", num)
	b, ok := w[num][0].([]byte)
	require.True(t, ok, "field %d is not length-delimited", num)
	return decodeWire(t, b)
}

func (w wire) str(t *testing.T, num protowire.Number) string {
	t.Helper()
	if len(w[num]) == 0 {
		return "" // proto3 default
	}
	b, ok := w[num][0].([]byte)
	require.True(t, ok, "field %d is not a string", num)
	return string(b)
}

func (w wire) varint(t *testing.T, num protowire.Number) uint64 {
	t.Helper()
	if len(w[num]) == 0 {
		return 0 // proto3 default
	}
	v, ok := w[num][0].(uint64)
	require.True(t, ok, "field %d is not a varint", num)
	return v
}

func wireString(b []byte, num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func wireMessage(b []byte, num protowire.Number, m []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), m)
}

// wireClientIdentification: client_id = 1, component_name = 2,
// tags = 3 (map entries: key = 1, value = 2), version = 4.
func wireClientIdentification(id string, tags map[string]string) []byte {
	b := wireString(nil, 1, id)
	b = wireString(b, 2, "wire-test")
	for k, v := range tags {
		b = wireMessage(b, 3, wireString(wireString(nil, 1, k), 2, v))
	}
	return wireString(b, 4, "4.9.0")
}

func rawClientConn(t *testing.T, n *node.Node) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+n.GRPCAddr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// checkWireNodeInfo reads NodeInfo: host_name = 1, grpc_port = 2,
// http_port = 3, version = 4, node_name = 5.
func checkWireNodeInfo(t *testing.T, info wire, n *node.Node) {
	t.Helper()
	require.Equal(t, "127.0.0.1", info.str(t, 1))
	require.EqualValues(t, n.Config().Port, info.varint(t, 2))
	require.EqualValues(t, n.Config().HTTPPort, info.varint(t, 3))
	require.EqualValues(t, 100, info.varint(t, 4), "version 0.1.0")
	require.Equal(t, n.Name(), info.str(t, 5))
}

func TestPlatformWireGetPlatformServer(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	conn := rawClientConn(t, n)
	req := wireClientIdentification("wire-client", map[string]string{"region": "eu", "roster.avoid": "nobody"})
	var resp []byte
	require.NoError(t, conn.Invoke(context.Background(), platformService+"GetPlatformServer", &req, &resp))
	// PlatformInfo: primary = 1, same_connection = 2.
	info := decodeWire(t, resp)
	checkWireNodeInfo(t, info.msg(t, 1), n)
	require.EqualValues(t, 1, info.varint(t, 2), "same_connection")
}

// readOutbound reads PlatformOutboundInstruction: node_notification = 1,
// request_reconnect = 3, heartbeat = 10, ack = 11, instruction_id = 12.
func readOutbound(t *testing.T, s grpc.ClientStream) wire {
	t.Helper()
	var b []byte
	require.NoError(t, s.RecvMsg(&b))
	return decodeWire(t, b)
}

// checkWireAck reads InstructionAck: instruction_id = 1, success = 2,
// error = 3 (ErrorMessage: message = 1, location = 2, details = 3,
// error_code = 4).
func checkWireAck(t *testing.T, m wire, id string, success bool, code string) {
	t.Helper()
	ack := m.msg(t, 11)
	require.Equal(t, id, ack.str(t, 1))
	require.Equal(t, success, ack.varint(t, 2) == 1)
	if code == "" {
		require.Empty(t, ack[3])
		return
	}
	// As from Axon Server: the message empty, "Unsupported instruction" in
	// the details.
	e := ack.msg(t, 3)
	require.Equal(t, code, e.str(t, 4))
	require.Empty(t, e.str(t, 1))
	require.Equal(t, "n1", e.str(t, 2))
	require.Equal(t, "Unsupported instruction", e.str(t, 3))
}

func TestPlatformWireOpenStream(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	conn := rawClientConn(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, platformService+"OpenStream")
	require.NoError(t, err)
	// PlatformInboundInstruction: register = 1, heartbeat = 3, ack = 4,
	// instruction_id = 5.
	send := func(b []byte) { require.NoError(t, s.SendMsg(&b)) }

	send(wireString(wireMessage(nil, 1, wireClientIdentification("wire-client", nil)), 5, "reg-1"))
	m := readOutbound(t, s)
	checkWireNodeInfo(t, m.msg(t, 1), n)
	checkWireAck(t, readOutbound(t, s), "reg-1", true, "")

	send(wireString(wireMessage(nil, 3, nil), 5, "hb-1"))
	checkWireAck(t, readOutbound(t, s), "hb-1", true, "")

	// event_processor_info = 2 (EventProcessorInfo: processor_name = 1)
	// and result = 6 (InstructionResult: instruction_id = 1) are
	// acknowledged with success, as Axon Server does.
	send(wireString(wireMessage(nil, 2, wireString(nil, 1, "my-processor")), 5, "epi-1"))
	checkWireAck(t, readOutbound(t, s), "epi-1", true, "")
	send(wireString(wireMessage(nil, 6, wireString(nil, 1, "out-1")), 5, "res-1"))
	checkWireAck(t, readOutbound(t, s), "res-1", true, "")

	// subscribe_topology_changes = 7 is not supported.
	send(wireString(wireMessage(nil, 7, nil), 5, "sub-1"))
	checkWireAck(t, readOutbound(t, s), "sub-1", false, "AXONIQ-1002")

	// An ack from the client (of an instruction roster never sent) is
	// taken silently without an instruction id, and acknowledged with one.
	send(wireMessage(nil, 4, wireString(wireString(nil, 1, "unknown"), 2, "")))
	send(wireString(wireMessage(nil, 4, wireString(nil, 1, "unknown")), 5, "ack-1"))
	checkWireAck(t, readOutbound(t, s), "ack-1", true, "")
	send(wireString(wireMessage(nil, 3, nil), 5, "hb-2"))
	checkWireAck(t, readOutbound(t, s), "hb-2", true, "")

	// Stopping, the node sends request_reconnect before the stream ends.
	stopped := make(chan struct{})
	go func() { stop(n); close(stopped) }()
	for {
		m = readOutbound(t, s)
		if len(m[10]) == 0 { // heartbeats may come first
			break
		}
	}
	require.Len(t, m[3], 1, "request_reconnect")
	require.Empty(t, m.msg(t, 3), "RequestReconnect is empty")
	require.NoError(t, s.CloseSend())
	cancel()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("node did not stop")
	}
}
