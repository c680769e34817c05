package node_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/testkit"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

// TestHTTPCutsSlowAndIdleClients holds connections to the HTTP port that
// send their headers a byte at a time, and keep-alive connections that
// never send a second request: the node closes them once the configured
// timeouts pass, refuses oversized headers, and answers others meanwhile.
func TestHTTPCutsSlowAndIdleClients(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Limits.HTTPHeaderTimeout = time.Second
	cfg.Limits.HTTPIdleTimeout = time.Second
	n := runNode(t, cfg)
	addr := n.HTTPAddr()

	// Slow headers: a byte every 200 ms, never finished.
	slow := dialRaw(t, addr)
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for _, b := range []byte("GET /actuator/health HTTP/1.1\r\nHost: slow\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
			if _, err := slow.Write([]byte{b}); err != nil {
				return // closed by the node
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	// Keep-alive: one request answered, then silence.
	idle := dialRaw(t, addr, []byte("GET /actuator/health HTTP/1.1\r\nHost: idle\r\n\r\n")...)
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	start := time.Now()
	requireClosedByPeer(t, idle, 5*time.Second, "idle keep-alive")
	requireClosedByPeer(t, slow, 5*time.Second, "slow headers")
	t.Logf("slow and idle connections closed %s after the first request (timeouts 1s)", time.Since(start).Round(10*time.Millisecond))
	testkit.Receive(t, trickled, 10*time.Second, "end of the trickling client")

	// Headers beyond server.max-http-request-header-size (8KB; net/http
	// allows 4 KB of slack) are refused with 431.
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/actuator/health", nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	me, err := client(n).Me(context.Background())
	require.NoError(t, err)
	require.Equal(t, "n1", me.Name)
}

// TestEventStreamOutlivesWriteTimeout keeps an event stream open well past
// the HTTP write timeout: it still delivers changes, because each event
// gets a deadline of its own.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Limits.HTTPWriteTimeout = time.Second
	n1 := runNode(t, cfg)
	s := streamEvents(t, client(n1))
	select {
	case ev := <-s.events:
		require.Equal(t, api.SSENodes, ev.Name)
	case err := <-s.done:
		t.Fatalf("stream ended: %v", err)
	}
	time.Sleep(2 * cfg.Limits.HTTPWriteTimeout) // the stream is quiet past the write timeout
	n2 := runNode(t, testConfig(t, "n2", t.TempDir()))
	register(t, n2, n1)
	s.waitChange(t, 10*time.Second, api.EventJoin, "n2")
}

// TestGRPCClosesPrefaceOnlyConnections holds connections to the client
// gRPC port that stop after the HTTP/2 preface, or after the preface and
// its settings: the node closes both, after the handshake timeout and the
// idle timeout.
func TestGRPCClosesPrefaceOnlyConnections(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Limits.GRPCConnectionTimeout = time.Second
	cfg.Limits.GRPCMaxConnectionIdle = time.Second
	n := runNode(t, cfg)

	prefaceOnly := dialRaw(t, n.GRPCAddr(), []byte(http2.ClientPreface)...)
	handshaken := dialRaw(t, n.GRPCAddr(), []byte(http2.ClientPreface)...)
	fr := http2.NewFramer(handshaken, handshaken)
	require.NoError(t, fr.WriteSettings())

	start := time.Now()
	requireClosedByPeer(t, prefaceOnly, 5*time.Second, "preface only")
	t.Logf("preface-only connection closed after %s (handshake timeout 1s)", time.Since(start).Round(10*time.Millisecond))
	// Idle: a GOAWAY, a ping the client never answers, and after gRPC's
	// 5 s for the answer, the end.
	requireClosedByPeer(t, handshaken, 15*time.Second, "preface and settings")
	t.Logf("handshaken idle connection closed after %s (idle timeout 1s)", time.Since(start).Round(10*time.Millisecond))

	// Clients are served as before.
	_, err := rosterpb.NewClusterServiceClient(dialClientPort(t, n)).ListNodes(context.Background(), &rosterpb.ListNodesRequest{})
	require.NoError(t, err)
}

// TestGRPCAllowsPingsEverySecond pings the client gRPC port every second
// on a connection without calls, as Axon's Java connector asks for
// (keepAliveTime 1000 ms, keepAliveWithoutCalls): no GOAWAY comes, every
// ping is answered.
func TestGRPCAllowsPingsEverySecond(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	c := dialRaw(t, n.GRPCAddr(), []byte(http2.ClientPreface)...)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())

	const pings = 6
	acks := 0
	for i := 0; i < pings; i++ {
		require.NoError(t, fr.WritePing(false, [8]byte{byte(i)}))
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		for acked := false; !acked; {
			f, err := fr.ReadFrame()
			require.NoError(t, err, "connection ended after %d pings", i)
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v %q after %d pings a second", f.ErrCode, f.DebugData(), i+1)
			case *http2.PingFrame:
				if f.IsAck() && f.Data[0] == byte(i) {
					acked = true
					acks++
				}
			case *http2.SettingsFrame:
				if !f.IsAck() {
					require.NoError(t, fr.WriteSettingsAck())
				}
			}
		}
		time.Sleep(time.Second)
	}
	require.Equal(t, pings, acks)
}

// TestGRPCCallHeadersAreBounded sends the client gRPC port a call whose
// header block grows past the node's bound and never ends (gRPC's own
// default would hold 16 MiB of it per connection): the node ends the
// connection at once. A call with a few KiB of metadata is served; one
// with more than the bound is refused.
func TestGRPCCallHeadersAreBounded(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	c := dialRaw(t, n.GRPCAddr(), []byte(http2.ClientPreface)...)
	fr := http2.NewFramer(c, c)
	require.NoError(t, fr.WriteSettings())
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/grpc.health.v1.Health/Check"},
		{":authority", "n1"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	for i := 0; block.Len() < 1<<20; i++ {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-pad-%d", i), Value: strings.Repeat("p", 4000)}))
	}
	go func() {
		b := block.Bytes()
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:16<<10]})
		for rest := b[16<<10:]; err == nil && len(rest) > 16<<10; rest = rest[16<<10:] {
			err = fr.WriteContinuation(1, false, rest[:16<<10]) // never the last fragment
		}
	}()
	// Well before any timeout of the port (10 s for the handshake, 5 m idle).
	requireClosedByPeer(t, c, 5*time.Second, "endless header block")

	health := healthpb.NewHealthClient(dialClientPort(t, n))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-token", strings.Repeat("t", 4<<10))
	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "4 KiB of metadata")
	ctx = metadata.AppendToOutgoingContext(context.Background(), "x-token", strings.Repeat("t", 32<<10))
	_, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
	require.Error(t, err, "32 KiB of metadata")
	t.Logf("a call with 32 KiB of metadata: %v", err)
}

// TestMembershipStreamsAreCapped opens WatchMembership streams beyond the
// per-connection cap and beyond the node's cap: the excess ones fail with
// RESOURCE_EXHAUSTED naming the property, the others keep streaming, and a
// closed stream frees its place.
func TestMembershipStreamsAreCapped(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Limits.MembershipStreamsPerConnection = 3
	cfg.Limits.MembershipStreams = 5
	n := runNode(t, cfg)

	watch := func(cs rosterpb.ClusterServiceClient) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		stream, err := cs.WatchMembership(ctx, &rosterpb.WatchMembershipRequest{})
		if err == nil {
			_, err = stream.Recv() // the snapshot, or the refusal
		}
		return cancel, err
	}
	requireExhausted := func(err error, property string) {
		t.Helper()
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
		require.Contains(t, status.Convert(err).Message(), property)
	}

	conn1 := rosterpb.NewClusterServiceClient(dialClientPort(t, n))
	var first context.CancelFunc
	for i := 0; i < 3; i++ {
		cancel, err := watch(conn1)
		require.NoError(t, err, "stream %d", i+1)
		if i == 0 {
			first = cancel
		}
	}
	_, err := watch(conn1)
	requireExhausted(err, "axoniq.axonserver.limits.membership-streams-per-connection")

	conn2 := rosterpb.NewClusterServiceClient(dialClientPort(t, n))
	for i := 0; i < 2; i++ {
		_, err := watch(conn2)
		require.NoError(t, err, "stream %d on the second connection", i+1)
	}
	_, err = watch(conn2)
	requireExhausted(err, "axoniq.axonserver.limits.membership-streams")

	// A stream that ends frees its place, on its connection and in all.
	first()
	require.Eventually(t, func() bool {
		_, err := watch(conn1)
		return err == nil
	}, 5*time.Second, 50*time.Millisecond)
}

// TestInternalPortCapKeepsGossip fills the internal port's connection cap
// with silent connections while a node registers through it: the silent
// ones make room, and the cluster forms and stays alive.
func TestInternalPortCapKeepsGossip(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Limits.InternalMaxConnections = 16
	n1, reg := runNodeWithMetrics(t, cfg)
	n2 := runNode(t, testConfig(t, "n2", t.TempDir()))

	var silent []net.Conn
	for i := 0; i < 100; i++ {
		silent = append(silent, dialRaw(t, n1.InternalAddr()))
	}
	register(t, n2, n1)
	checkClusterFormed(t, n1, n2)
	watch := watchStatuses([]*api.Client{client(n1), client(n2)})
	watch.sampleFor(t, 3*time.Second)
	watch.stop(t)

	closed := 0
	for _, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	require.GreaterOrEqual(t, closed, 100-16, "silent connections made room")
	require.Positive(t, listenerMetric(t, reg, "roster_listener_evicted_total", "internal"))
	require.LessOrEqual(t, listenerMetric(t, reg, "roster_listener_connections", "internal"), 16.0)
}

// TestNodeNameMustBeSafe starts nodes named what a URL path or a file
// name would mangle: each is refused with the key, the value and what is
// allowed, and creates nothing.
func TestNodeNameMustBeSafe(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"..", ".", ".hidden", "-dash", "a/b", "a b", "n%2F1", strings.Repeat("n", 64)} {
		dir := t.TempDir()
		cfg := testConfig(t, name, dir)
		_, err := node.Start(context.Background(), cfg, node.Options{})
		require.Error(t, err, name)
		require.Contains(t, err.Error(), `axoniq.axonserver.name: "`+name+`" is not a valid node name`)
		require.Contains(t, err.Error(), "allowed: 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit")
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, entries, "nothing written for %q", name)
	}
	n := runNode(t, testConfig(t, "node-1.eu_west", t.TempDir()))
	require.Equal(t, "node-1.eu_west", n.Name())
}

// listenerMetric reads a connection cap's metric of one listener.
func listenerMetric(t testing.TB, reg *prometheus.Registry, name, listener string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "listener" && l.GetValue() == listener {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
