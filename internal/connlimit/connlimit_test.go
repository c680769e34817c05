package connlimit_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/internal/connlimit"
	"github.com/rosterhq/roster/internal/testkit"
)

// newLimited listens on loopback with a cap of max and metrics in a new
// registry.
func newLimited(t *testing.T, max int, onRefuse func()) (*connlimit.Listener, *prometheus.Registry) {
	t.Helper()
	return newLimitedWith(t, connlimit.Options{Max: max, OnRefuse: onRefuse})
}

// newLimitedWith is newLimited with more options.
func newLimitedWith(t *testing.T, opts connlimit.Options) (*connlimit.Listener, *prometheus.Registry) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	m, err := connlimit.NewMetrics(reg)
	require.NoError(t, err)
	opts.Metrics, opts.Name = m, "test"
	l := connlimit.New(inner, opts)
	t.Cleanup(func() { _ = l.Close() })
	return l, reg
}

// metric reads the test listener's series of a metric.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == "test" {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// readAll serves l like a protocol that reads whatever comes: a
// connection that sends bytes becomes pending.
func readAll(t *testing.T, l net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
}

func dial(t *testing.T, l net.Listener, first string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	if first != "" {
		_, err = io.WriteString(c, first)
		require.NoError(t, err)
	}
	return c
}

// closedByServer tells whether the server closed c (EOF or reset) within
// the wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func eventuallyOpen(t *testing.T, l *connlimit.Listener, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return l.Open() == want }, 5*time.Second, 5*time.Millisecond, "open connections: want %d", want)
}

// TestEvictsLongestIdleFirst fills the cap with connections that sent
// nothing and one that sent bytes, and checks who makes room for new
// ones: the idle ones, oldest first, and only then the pending one. (The
// grace that spares just accepted connections is left out here:
// TestFreshConnectionOutlivesSlowHeaders checks it.)
func TestEvictsLongestIdleFirst(t *testing.T) {
	l, reg := newLimitedWith(t, connlimit.Options{Max: 3, Grace: time.Nanosecond})
	readAll(t, l)
	pending := dial(t, l, "GET / HT") // oldest, but has sent bytes
	eventuallyOpen(t, l, 1)
	idle1 := dial(t, l, "")
	eventuallyOpen(t, l, 2)
	idle2 := dial(t, l, "")
	eventuallyOpen(t, l, 3)

	dial(t, l, "")
	require.True(t, closedByServer(idle1, 5*time.Second), "the longest idle connection makes room")
	dial(t, l, "")
	require.True(t, closedByServer(idle2, 5*time.Second), "then the next idle one")
	require.False(t, closedByServer(pending, 200*time.Millisecond), "a pending connection outlives idle ones")
	require.Equal(t, 2.0, metric(t, reg, "roster_listener_evicted_total"))
	require.Equal(t, 3.0, metric(t, reg, "roster_listener_max_connections"))
	eventuallyOpen(t, l, 3)
}

// TestNeverCutsActiveConnections fills the cap with active connections:
// the next one is refused, counted, and the active ones stay.
func TestNeverCutsActiveConnections(t *testing.T) {
	var refusals int
	var mu sync.Mutex
	l2, reg := newLimited(t, 2, func() {
		mu.Lock()
		refusals++
		mu.Unlock()
	})
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l2.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var held []net.Conn
	var clients []net.Conn
	for i := 0; i < 2; i++ {
		clients = append(clients, dial(t, l2, ""))
		c, _ := testkit.Receive(t, accepted, 5*time.Second, "accepted connection")
		t.Cleanup(func() { _ = c.Close() })
		l2.SetState(c.LocalAddr(), c.RemoteAddr(), connlimit.Active)
		held = append(held, c)
	}
	refused := dial(t, l2, "")
	require.True(t, closedByServer(refused, 5*time.Second), "refused at once")
	require.Eventually(t, func() bool { return metric(t, reg, "roster_listener_refused_total") == 1 }, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	require.Equal(t, 1, refusals)
	mu.Unlock()
	for _, c := range clients {
		require.False(t, closedByServer(c, 100*time.Millisecond), "an active connection was cut")
	}

	// Once one goes idle, a new connection takes its place.
	l2.SetState(held[0].LocalAddr(), held[0].RemoteAddr(), connlimit.Idle)
	dial(t, l2, "")
	testkit.Receive(t, accepted, 5*time.Second, "accepted connection")
	require.True(t, closedByServer(clients[0], 5*time.Second))
	require.False(t, closedByServer(clients[1], 100*time.Millisecond))

	// Closing a connection frees its place without evicting anyone.
	require.NoError(t, held[1].Close())
	require.Equal(t, 1, l2.Open())
}

// TestHTTPKeepAliveFloodLeavesRoom fills an HTTP server's cap with
// keep-alive connections between requests and with connections that sent
// nothing, while one request is in progress: new requests are served and
// the one in progress finishes.
func TestHTTPKeepAliveFloodLeavesRoom(t *testing.T) {
	const max = 20
	l, reg := newLimited(t, max, nil)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "slow done")
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "UP") })
	srv := &http.Server{Handler: mux, ConnState: l.HTTPConnState, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + l.Addr().String()

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	eventuallyOpen(t, l, 1)

	// Keep-alive connections: each made a request and waits for the next.
	for i := 0; i < max; i++ {
		c := dial(t, l, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 256))
		require.NoError(t, err)
	}
	// Connections that sent nothing.
	for i := 0; i < max; i++ {
		dial(t, l, "")
	}
	eventuallyOpen(t, l, max)

	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	for i := 0; i < 5; i++ {
		resp, err := hc.Get(url + "/health")
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	close(release)
	body, _ := testkit.Receive(t, slow, 10*time.Second, "answer to the request in progress")
	require.Equal(t, "slow done", body, "the request in progress was cut")
	require.Zero(t, metric(t, reg, "roster_listener_refused_total"))
	require.GreaterOrEqual(t, metric(t, reg, "roster_listener_evicted_total"), float64(max+2)) // 2*max+1 held and one probe at a time
}

// TestGRPCConnectionsWithCallsStay checks the gRPC stats handler: a
// connection with a call in progress is never evicted, connections
// without calls are.
func TestGRPCConnectionsWithCallsStay(t *testing.T) {
	const max = 3
	l, _ := newLimited(t, max, nil)
	srv := grpc.NewServer(grpc.StatsHandler(l.StatsHandler()))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	dialGRPC := func() *grpc.ClientConn {
		cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = cc.Close() })
		return cc
	}
	// A connection with a stream open all along.
	busy := dialGRPC()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := healthpb.NewHealthClient(busy).Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = watch.Recv()
	require.NoError(t, err)

	// Many more connections, each making one call and then idle.
	for i := 0; i < 3*max; i++ {
		cc := dialGRPC()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := healthpb.NewHealthClient(cc).Check(cctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		ccancel()
		require.NoError(t, err, "call %d", i)
		require.LessOrEqual(t, l.Open(), max)
	}
	// The stream is still open: an update reaches it.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, resp.GetStatus())
}

// TestCloseWriteReachesTheSocket ends the sending side of a held
// connection: the client reads what was sent and then the end.
func TestCloseWriteReachesTheSocket(t *testing.T) {
	l, _ := newLimited(t, 1, nil)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client := dial(t, l, "")
	c, _ := testkit.Receive(t, accepted, 5*time.Second, "accepted connection")
	defer c.Close()
	_, err := io.WriteString(c, "bye")
	require.NoError(t, err)
	cw, ok := c.(interface{ CloseWrite() error })
	require.True(t, ok)
	require.NoError(t, cw.CloseWrite())
	require.NoError(t, client.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(client)
	require.NoError(t, err)
	require.Equal(t, "bye", string(got))
}
