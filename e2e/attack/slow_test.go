//go:build linux

package attack

import (
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// headerTimeout is server.tomcat.connection-timeout's default: how long
// a client may take over its request's headers.
const headerTimeout = 10 * time.Second

// slowConns opens count connections to addr that send first and then a
// byte of drip every interval, never finishing; it returns how long each
// lasted until the node closed it (0: still open after within).
func slowConns(t *testing.T, addr string, count int, first, drip []byte, interval, within time.Duration) []time.Duration {
	t.Helper()
	lasted := make([]time.Duration, count)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	for i := range count {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		opened := time.Now()
		_, err = c.Write(first)
		require.NoError(t, err)
		conns = append(conns, c)
		wg.Go(func() {
			_ = c.SetReadDeadline(opened.Add(within))
			_, err := io.Copy(io.Discard, c)
			if err == nil || isClosed(err) {
				mu.Lock()
				lasted[i] = time.Since(opened)
				mu.Unlock()
			}
		})
	}
	stop := make(chan struct{})
	dripped := make(chan struct{})
	go func() {
		defer close(dripped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				_, _ = c.Write(drip[k%len(drip) : k%len(drip)+1])
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-dripped
	return lasted
}

// TestSlowClients holds a node's HTTP port with clients that send a byte
// every 2 s: 2,500 connections (more than the port's cap of 2,048) that
// never finish their headers, then as many that send a request's headers
// and never finish its body. The node cuts every slow-header connection
// by the header timeout (or sooner, to make room), and health answers
// every probe on a new connection within 1 s meanwhile.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, spec{name: "a"}, spec{name: "b"})
	a, b := nodes[0], nodes[1]
	const count = 2500
	watch := watchStatuses(t, []*node{a}, b)

	probe := probeHealth(a, 100*time.Millisecond, 10*time.Second)
	lasted := slowConns(t, a.http, count, []byte("GET /v1/public HTTP/1.1\r\nHost: slow\r\n"), []byte("X-Slow: drip\r\n"), 2*time.Second, headerTimeout+5*time.Second)
	took, fails := probe.end()
	evicted, timedOut, open := 0, 0, 0
	var latest time.Duration
	for _, d := range lasted {
		switch {
		case d == 0:
			open++
		case d < headerTimeout-time.Second:
			evicted++
		default:
			timedOut++
		}
		latest = max(latest, d)
	}
	require.Zero(t, open, "slow-header connections still open %s after they started", headerTimeout+5*time.Second)
	require.Empty(t, fails, "health probes during slow headers")
	require.Less(t, slowest(took), healthBound, "slowest health answer during slow headers")
	res.Add(t, "slow headers",
		fmt.Sprintf("%d connections to the HTTP port sending a request's headers a byte every 2 s (more than the cap of 2,048)", count),
		fmt.Sprintf("all cut: %d after the header timeout (%s), the last after %s; %d sooner, to make room; health on a new connection every 100 ms: %d probes, slowest %s",
			timedOut, headerTimeout, ms(latest), evicted, len(took), ms(slowest(took))))

	probe = probeHealth(a, 100*time.Millisecond, 10*time.Second)
	body := []byte("POST /v1/cluster HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	lasted = slowConns(t, a.http, count, body, []byte(" "), 2*time.Second, 20*time.Second)
	took, fails = probe.end()
	slices.Sort(lasted)
	t.Logf("slow bodies: lasted %v ... %v; probes %d, slowest %s, failures %v", lasted[0], lasted[len(lasted)-1], len(took), ms(slowest(took)), fails)
	peers := watch.requireNoFalseFailure(t)
	t.Log(peers)
}
