package node_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rosterhq/roster/internal/testkit"
	"github.com/rosterhq/roster/rpc/controlpb"
)

// axonClient behaves on the platform stream as AxonIQ's Java connector
// does (testdata/axon/connector-platform-stream.json says so and names
// its sources): it asks one of its configured servers, picked at random,
// where to go, connects there and registers; on request_reconnect it drops
// the connection and does the same again, asking a random server rather
// than the node that sent it away. It records every registration and
// every answer it got, by node name.
type axonClient struct {
	id      string
	servers []string
	tags    map[string]string

	mu         sync.Mutex
	registered []string // nodes that took its registration, in order
	answers    []string // nodes GetPlatformServer named, in order
	current    string
	done       chan struct{}
}

// checkConnectorRouting fails the test unless the connector's behaviour
// written down in testdata is the one axonClient emulates.
func checkConnectorRouting(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "axon", "connector-platform-stream.json"))
	require.NoError(t, err)
	var f struct {
		OnRequestReconnect struct {
			Routing string `json:"routing"`
		} `json:"onRequestReconnect"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	require.Equal(t, "random", f.OnRequestReconnect.Routing, "axonClient asks a random configured server after request_reconnect")
}

func startAxonClient(t *testing.T, id string, servers []string, tags map[string]string) *axonClient {
	t.Helper()
	c := &axonClient{id: id, servers: servers, tags: tags, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go c.run(ctx)
	t.Cleanup(func() {
		cancel()
		testkit.Receive(t, c.done, 10*time.Second, "end of the axon client "+id)
	})
	return c
}

func (c *axonClient) identification() *controlpb.ClientIdentification {
	return &controlpb.ClientIdentification{ClientId: c.id, ComponentName: "axon-app", Tags: c.tags, Version: "4.9.0"}
}

// Registered is where the client registered, in order, and where it is now.
func (c *axonClient) Registered() ([]string, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.registered...), c.current
}

// Answers are the nodes GetPlatformServer named for it, in order.
func (c *axonClient) Answers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.answers...)
}

func (c *axonClient) run(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		conn, err := c.connect(ctx)
		if err != nil {
			// The connector retries after a pause of its own.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		c.stream(ctx, conn)
		_ = conn.Close()
	}
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// connect asks the configured servers, in random order, until one answers
// GetPlatformServer, and connects where it says.
func (c *axonClient) connect(ctx context.Context) (*grpc.ClientConn, error) {
	order := append([]string(nil), c.servers...)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var last error
	for _, addr := range order {
		conn, err := dial(addr)
		if err != nil {
			last = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := controlpb.NewPlatformServiceClient(conn).GetPlatformServer(cctx, c.identification())
		cancel()
		if err != nil {
			_ = conn.Close()
			last = err
			continue
		}
		c.mu.Lock()
		c.answers = append(c.answers, info.GetPrimary().GetNodeName())
		c.mu.Unlock()
		if info.GetSameConnection() {
			return conn, nil
		}
		_ = conn.Close()
		p := info.GetPrimary()
		return dial(net.JoinHostPort(p.GetHostName(), strconv.Itoa(int(p.GetGrpcPort()))))
	}
	return nil, last
}

// stream opens the platform stream, registers and reads until the node
// asks it to reconnect or the stream ends.
func (c *axonClient) stream(ctx context.Context, conn *grpc.ClientConn) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := controlpb.NewPlatformServiceClient(conn).OpenStream(sctx)
	if err != nil {
		return
	}
	if err := s.Send(&controlpb.PlatformInboundInstruction{
		Request: &controlpb.PlatformInboundInstruction_Register{Register: c.identification()},
	}); err != nil {
		return
	}
	defer func() {
		c.mu.Lock()
		c.current = ""
		c.mu.Unlock()
	}()
	for {
		m, err := s.Recv()
		if err != nil {
			return
		}
		switch {
		case m.GetNodeNotification() != nil:
			// roster's answer to register: the node took it.
			c.mu.Lock()
			c.registered = append(c.registered, m.GetNodeNotification().GetNodeName())
			c.current = m.GetNodeNotification().GetNodeName()
			c.mu.Unlock()
		case m.GetRequestReconnect() != nil:
			return
		}
	}
}
