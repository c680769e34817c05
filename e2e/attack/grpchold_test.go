//go:build linux

package attack

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcHealth checks gRPC health on a new connection to addr and returns
// how long the answer took.
func grpcHealth(t *testing.T, addr string, timeout time.Duration) (time.Duration, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer func() { _ = cc.Close() }()
	c, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	resp, err := healthpb.NewHealthClient(cc).Check(c, &healthpb.HealthCheckRequest{})
	if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		err = fmt.Errorf("status %s", resp.GetStatus())
	}
	return time.Since(start), err
}

// requireGRPCHealthFast probes gRPC health on a new connection every
// 100 ms, probes times; each must answer SERVING within healthBound.
func requireGRPCHealthFast(t *testing.T, addr string, probes int) []time.Duration {
	t.Helper()
	var took []time.Duration
	for i := range probes {
		d, err := grpcHealth(t, addr, 10*time.Second)
		require.NoError(t, err, "gRPC health probe %d", i+1)
		require.Less(t, d, healthBound, "gRPC health probe %d", i+1)
		took = append(took, d)
		time.Sleep(100 * time.Millisecond)
	}
	return took
}

// TestGRPCCallsThatHoldConnections attacks the gRPC ports of a node with
// access control with what a stranger can send before any token is
// checked (the token of a unary call is checked once its message
// arrived):
//   - more connections than the client port's cap, each with a call whose
//     message never comes: gRPC health still answers every probe on a
//     new connection within 1 s;
//   - as many on the internal port: a new node still registers through
//     it, and its peers see it alive.
func TestGRPCCallsThatHoldConnections(t *testing.T) {
	t.Parallel()
	token, key := newToken(t), newKey(t)
	nodes := startCluster(t, spec{name: "a", token: token, key: key}, spec{name: "b", token: token, key: key}, spec{name: "c", token: token, key: key})
	a := nodes[0]
	exclusive(t)
	watch := watchStatuses(t, []*node{a}, nodes[1:]...)
	m := a.scrape(t)
	grpcCap := int(sum(m, "roster_listener_max_connections", map[string]string{"listener": "grpc"}))
	internalCap := int(sum(m, "roster_listener_max_connections", map[string]string{"listener": "internal"}))
	require.Positive(t, grpcCap)
	require.Positive(t, internalCap)

	// The client port.
	stuck := grpcCap + max(grpcCap/16, 100)
	start := time.Now()
	opened := 0
	for _, count := range helpersFor(t, stuck) {
		opened += startHelper(t, stuckGRPC, a.grpc, count).opened(t)
	}
	require.GreaterOrEqual(t, opened, stuck*95/100, "the flood must reach the node")
	waitFor(t, time.Minute, "the node accepted the flood", func() bool {
		return sum(a.scrape(t), "roster_listener_accepted_total", map[string]string{"listener": "grpc"}) >= float64(opened)
	})
	openTook := time.Since(start)
	took := requireGRPCHealthFast(t, a.grpc, 20)
	_, peakClient := a.memory(t)
	res.Add(t, "stuck gRPC calls",
		fmt.Sprintf("%d connections to the client gRPC port (cap %d) of a node with access control, each with a GetPlatformServer call whose message never comes (so its token is never checked), opened in %s", opened, grpcCap, ms(openTook)),
		fmt.Sprintf("gRPC health on a new connection every 100 ms: %d probes, median %s, slowest %s (bound %s); the node's peak RSS %s", len(took), ms(median(took)), ms(slowest(took)), healthBound, mb(peakClient)))

	// The internal port: a node registers through it meanwhile.
	stuck = internalCap + max(internalCap/16, 100)
	opened = startHelper(t, stuckGRPC, a.internal, stuck).opened(t)
	require.GreaterOrEqual(t, opened, stuck*95/100, "the flood must reach the node")
	d := startNode(t, spec{name: "d", token: token, key: key})
	regStart := time.Now()
	d.register(t, a)
	waitAllAlive(t, 30*time.Second, append(nodes, d)...)
	regTook := time.Since(regStart)
	peers := watch.requireNoFalseFailure(t)
	_, peakBoth := a.memory(t)
	res.Add(t, "stuck gRPC calls",
		fmt.Sprintf("%d connections to the internal port (cap %d), each with a call whose message never comes; meanwhile a new node registers through it", opened, internalCap),
		fmt.Sprintf("registered and listed alive everywhere after %s; %s; the node's peak RSS with both ports full %s", ms(regTook), peers, mb(peakBoth)))
}

// TestEndlessGRPCHeaderBlocks opens 50 connections to a node's client
// gRPC port, each sending a call whose header block grows to 15 MiB and
// never ends (gRPC Go holds 16 MiB of headers by default): the node ends
// every connection, its peak RSS stays under 200 MB, and gRPC health
// answers within 1 s.
func TestEndlessGRPCHeaderBlocks(t *testing.T) {
	t.Parallel()
	a := startNode(t, spec{name: "a", token: newToken(t), key: newKey(t)})
	rssBefore, _ := a.memory(t)
	const conns, size = 50, 15 << 20
	block := grpcCallHeader("/grpc.health.v1.Health/Check", size, true)
	var held []net.Conn
	for range conns {
		c, err := net.DialTimeout("tcp", a.grpc, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		held = append(held, c)
		go func() { _, _ = c.Write(block) }()
	}
	closed := 0
	var latest time.Duration
	for _, c := range held {
		if d, err := endOf(c, 10*time.Second); err == nil {
			closed++
			latest = max(latest, d)
		}
	}
	_, peak := a.memory(t)
	require.Equal(t, conns, closed, "the node ends every connection")
	require.Less(t, peak, int64(peakRSSBound), "peak RSS (VmHWM)")
	took := requireGRPCHealthFast(t, a.grpc, 5)
	res.Add(t, "endless gRPC header blocks",
		fmt.Sprintf("%d connections to the client gRPC port, each sending a call whose header block grows to %d MiB and never ends", conns, size>>20),
		fmt.Sprintf("every connection ended by the node, the last %s after the test read from it; peak RSS %s (bound %s; %s before); gRPC health answers in %s at most",
			ms(latest), mb(peak), mb(peakRSSBound), mb(rssBefore), ms(slowest(took))))
}
