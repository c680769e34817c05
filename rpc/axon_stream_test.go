package rpc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rosterhq/roster/rpc/controlpb"
)

// connectorStream is testdata/axon/connector-platform-stream.json: what
// AxonIQ's Java connector sends on the platform stream and how Axon Server
// answers, as read from their public sources (the file names them).
type connectorStream struct {
	ClientIdentification json.RawMessage `json:"clientIdentification"`
	OnRequestReconnect   struct {
		Routing string `json:"routing"`
	} `json:"onRequestReconnect"`
	Steps []struct {
		What      string          `json:"what"`
		Send      json.RawMessage `json:"send"`
		ExpectAck string          `json:"expectAck"`
	} `json:"steps"`
}

func loadConnectorStream(t *testing.T) connectorStream {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "axon", "connector-platform-stream.json"))
	require.NoError(t, err)
	var cs connectorStream
	require.NoError(t, json.Unmarshal(b, &cs))
	require.NotEmpty(t, cs.Steps)
	return cs
}

// nextAnswer is the next message other than a heartbeat or the
// node_notification roster sends after register (which the connector
// ignores: it has no handler for it and it carries no instruction id).
func (s *stream) nextAnswer() *controlpb.PlatformOutboundInstruction {
	s.t.Helper()
	for {
		m := s.recv()
		if m.GetHeartbeat() == nil && m.GetNodeNotification() == nil {
			return m
		}
	}
}

// TestPlatformStreamAnswersTheConnectorAsAxonServerDoes replays the
// connector's messages, in its order, and checks each answer against
// Axon Server's: nothing Axon Framework sends gets an error ack.
func TestPlatformStreamAnswersTheConnectorAsAxonServerDoes(t *testing.T) {
	cs := loadConnectorStream(t)
	f := startPlatform(t, PlatformOptions{}, "n1", "n2")
	s := openStream(t, f)
	for i, step := range cs.Steps {
		var in controlpb.PlatformInboundInstruction
		require.NoError(t, protojson.Unmarshal(step.Send, &in), "step %d (%s)", i, step.What)
		s.send(&in)
		switch step.ExpectAck {
		case "none":
			// Nothing comes back for it: the next answer is a probe's.
			probe := fmt.Sprintf("probe-%d", i)
			s.send(&controlpb.PlatformInboundInstruction{
				Request: &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}}, InstructionId: probe,
			})
			require.Equal(t, probe, s.nextAnswer().GetAck().GetInstructionId(), "step %d (%s) was answered", i, step.What)
		case "success":
			ack := s.nextAnswer().GetAck()
			require.Equal(t, in.GetInstructionId(), ack.GetInstructionId(), "step %d (%s)", i, step.What)
			require.True(t, ack.GetSuccess(), "step %d (%s): %v", i, step.What, ack.GetError())
			require.Nil(t, ack.GetError(), "step %d (%s)", i, step.What)
		case "unsupported":
			ack := s.nextAnswer().GetAck()
			require.Equal(t, in.GetInstructionId(), ack.GetInstructionId(), "step %d (%s)", i, step.What)
			require.False(t, ack.GetSuccess(), "step %d (%s)", i, step.What)
			e := ack.GetError()
			require.Equal(t, CodeUnsupportedInstruction, e.GetErrorCode())
			require.Equal(t, "n1", e.GetLocation())
			require.Equal(t, []string{UnsupportedDetail}, e.GetDetails())
			require.Empty(t, e.GetMessage())
		default:
			t.Fatalf("step %d: unknown expectAck %q", i, step.ExpectAck)
		}
	}
	// The client registered once, with its tags, and is still connected.
	require.Equal(t, 1, f.srv.Clients())
	var id controlpb.ClientIdentification
	require.NoError(t, protojson.Unmarshal(cs.ClientIdentification, &id))
	require.Equal(t, "eu", id.GetTags()["region"])
}
