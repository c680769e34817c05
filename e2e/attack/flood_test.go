//go:build linux

package attack

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Sizes of the connection flood.
const (
	floodHTTP = 20000
	floodGRPC = 3000
	// healthBound is how fast health must answer a probe on a new
	// connection while the flood is held.
	healthBound = time.Second
)

// TestIdleConnectionFlood opens 20,000 idle connections to a node's HTTP
// port (three in four keep-alive connections after one request, the rest
// silent) and 3,000 to its client gRPC port (half idle HTTP/2
// connections, half silent), from helper processes. While they are held,
// health answers every probe on a new connection within 1 s, and the
// node's peers list it alive throughout.
func TestIdleConnectionFlood(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, spec{name: "n1"}, spec{name: "n2"}, spec{name: "n3"})
	n1 := nodes[0]
	rssBefore, _ := n1.memory(t)
	exclusive(t)
	watch := watchStatuses(t, []*node{n1}, nodes[1:]...)
	during := probeHealth(n1, 100*time.Millisecond, 10*time.Second)

	start := time.Now()
	var helpers []*helper
	var isGRPC []bool
	for _, count := range helpersFor(t, floodHTTP) {
		helpers, isGRPC = append(helpers, startHelper(t, idleHTTP, n1.http, count)), append(isGRPC, false)
	}
	for _, count := range helpersFor(t, floodGRPC) {
		helpers, isGRPC = append(helpers, startHelper(t, idleGRPC, n1.grpc, count)), append(isGRPC, true)
	}
	opened := make([]int, len(helpers))
	errs := make([]error, len(helpers))
	var wg sync.WaitGroup
	for i, h := range helpers {
		wg.Go(func() { opened[i], _, errs[i] = h.wait() })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	openedHTTP, openedGRPC := 0, 0
	for i, o := range opened {
		if isGRPC[i] {
			openedGRPC += o
		} else {
			openedHTTP += o
		}
	}
	openTook := time.Since(start)
	require.GreaterOrEqual(t, openedHTTP, floodHTTP*95/100, "the flood must reach the node")
	require.GreaterOrEqual(t, openedGRPC, floodGRPC*95/100, "the flood must reach the node")
	// Connections the helpers count as open may still wait in the
	// kernel's accept queue: the node takes them all before the probes
	// that count.
	waitFor(t, time.Minute, "the node accepted the flood", func() bool {
		m := n1.scrape(t)
		return sum(m, "roster_listener_accepted_total", map[string]string{"listener": "http"}) >= float64(openedHTTP) &&
			sum(m, "roster_listener_accepted_total", map[string]string{"listener": "grpc"}) >= float64(openedGRPC)
	})
	accepted := time.Since(start)
	opening, openingFails := during.end()

	// Held: probes as a load balancer makes them, a new connection each.
	held := probeHealth(n1, 100*time.Millisecond, 10*time.Second)
	time.Sleep(5 * time.Second) // the flood stays held while the prober probes
	took, fails := held.end()
	_, peak := n1.memory(t)
	m := n1.scrape(t)
	for _, h := range helpers {
		h.end()
	}
	peers := watch.requireNoFalseFailure(t)

	require.Empty(t, fails, "health probes while the flood was held")
	require.Less(t, slowest(took), healthBound, "slowest health answer while the flood was held")
	listener := func(name, l string) float64 { return sum(m, name, map[string]string{"listener": l}) }
	require.LessOrEqual(t, listener("roster_listener_connections", "http"), listener("roster_listener_max_connections", "http"))

	res.Add(t, "20,000 idle connections",
		fmt.Sprintf("%d connections to the HTTP port (3 in 4 keep-alive after a request, the rest silent) and %d to the client gRPC port (half idle HTTP/2, half silent) from %d helper processes, opened in %s, all accepted by the node after %s, then held",
			openedHTTP, openedGRPC, len(helpers), ms(openTook), ms(accepted)),
		fmt.Sprintf("health on a new connection every 100 ms while held: %d probes, median %s, slowest %s (bound %s); while the flood arrived: %d probes, slowest %s, %d failed%s; "+
			"the node held %.0f HTTP connections (cap %.0f, %.0f evicted) and %.0f gRPC (cap %.0f); peak RSS %s (%s before); %s",
			len(took), ms(median(took)), ms(slowest(took)), healthBound, len(opening), ms(slowest(opening)), len(openingFails), firstOf(openingFails),
			listener("roster_listener_connections", "http"), listener("roster_listener_max_connections", "http"), listener("roster_listener_evicted_total", "http"),
			listener("roster_listener_connections", "grpc"), listener("roster_listener_max_connections", "grpc"),
			mb(peak), mb(rssBefore), peers))
}

// firstOf is " (the first: ...)" for a list of failures, or nothing.
func firstOf(fails []string) string {
	if len(fails) == 0 {
		return ""
	}
	return " (the first " + fails[0] + ")"
}
