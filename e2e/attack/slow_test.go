//go:build linux

package attack

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"
)

// headerTimeout is server.tomcat.connection-timeout's default: how long
// a client may take over its request's headers.
const headerTimeout = 10 * time.Second

// slowEnd is how one slow connection ended, counted from its start: the
// node answered it, or closed it without an answer; neither (zero) if it
// was still open when the test stopped waiting.
type slowEnd struct {
	answered, closed time.Duration
	status           string // of the answer: "408 Request Timeout"
}

// slowConns opens count connections to addr that send first and then a
// byte of drip every interval, never finishing, and waits until each was
// answered or closed, or within passed.
func slowConns(t *testing.T, addr string, count int, first, drip []byte, interval, within time.Duration) []slowEnd {
	t.Helper()
	ends := make([]slowEnd, count)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	// 32 dialers at a time, so that all are open well within the node's
	// timeouts, also on a busy machine.
	conns := make([]net.Conn, count)
	var next atomic.Int64
	var dialers sync.WaitGroup
	for range 32 {
		dialers.Go(func() {
			for i := int(next.Add(1)) - 1; i < count; i = int(next.Add(1)) - 1 {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					continue
				}
				opened := time.Now()
				if _, err := c.Write(first); err != nil {
					t.Errorf("write %d: %v", i, err)
				}
				conns[i] = c
				wg.Go(func() {
					_ = c.SetReadDeadline(opened.Add(within))
					buf := make([]byte, 64)
					n, err := c.Read(buf)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case n > 0:
						ends[i].answered = time.Since(opened)
						line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
						ends[i].status = strings.TrimPrefix(line, "HTTP/1.1 ")
						_ = c.Close() // the answer is all this test wants
					case isClosed(err):
						ends[i].closed = time.Since(opened)
					}
				})
			}
		})
	}
	dialers.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
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
	testkit.Receive(t, dripped, 10*time.Second, "end of the drip")
	return ends
}

// bodyReadTimeout is how long the REST API waits for a request's body
// (huma's default).
const bodyReadTimeout = 5 * time.Second

// TestSlowClients holds a node's HTTP port with clients that send a byte
// every 2 s: 2,500 connections (more than the port's cap of 2,048) that
// never finish their headers, then as many that send a request's headers
// and never finish its body. The node cuts every slow-header connection
// by the header timeout, answers every slow body 408 by the API's body
// timeout (or cuts either sooner, to make room), and health answers every
// probe on a new connection within 1 s meanwhile.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, spec{name: "a"}, spec{name: "b"}, spec{name: "c"})
	a := nodes[0]
	const count = 2500
	exclusive(t)
	watch := watchStatuses(t, []*node{a}, nodes[1:]...)

	probe := probeHealth(a, 100*time.Millisecond, 10*time.Second)
	ends := slowConns(t, a.http, count, []byte("GET /v1/public HTTP/1.1\r\nHost: slow\r\n"), []byte("X-Slow: drip\r\n"), 2*time.Second, headerTimeout+5*time.Second)
	took, fails := probe.end()
	cut := summarize(ends, headerTimeout)
	require.Zero(t, cut.open, "slow-header connections still open %s after they started", headerTimeout+5*time.Second)
	require.Empty(t, fails, "health probes during slow headers")
	require.Less(t, slowest(took), healthBound, "slowest health answer during slow headers")
	res.Add(t, "slow headers",
		fmt.Sprintf("%d connections to the HTTP port sending a request's headers a byte every 2 s (more than the cap of 2,048)", count),
		fmt.Sprintf("all cut (%s): %d after the header timeout (%s), the last after %s; %d sooner, to make room; health on a new connection every 100 ms: %d probes, slowest %s",
			cut.statuses(), cut.late, headerTimeout, ms(cut.latest), cut.early, len(took), ms(slowest(took))))

	probe = probeHealth(a, 100*time.Millisecond, 10*time.Second)
	body := []byte("POST /v1/cluster HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	ends = slowConns(t, a.http, count, body, []byte(" "), 2*time.Second, bodyReadTimeout+5*time.Second)
	took, fails = probe.end()
	cut = summarize(ends, bodyReadTimeout)
	peers := watch.requireNoFalseFailure(t)
	require.Zero(t, cut.open, "slow-body connections neither answered nor cut %s after they started", bodyReadTimeout+5*time.Second)
	require.Empty(t, fails, "health probes during slow bodies")
	require.Less(t, slowest(took), healthBound, "slowest health answer during slow bodies")
	res.Add(t, "slow bodies",
		fmt.Sprintf("%d connections to the HTTP port sending `POST /v1/cluster` headers (Content-Length 100000) and then the body a byte every 2 s (more than the cap of 2,048)", count),
		fmt.Sprintf("all ended: %d after the API's body timeout (%s), the last after %s; %d cut sooner, to make room; answers: %s; health on a new connection every 100 ms: %d probes, slowest %s; %s",
			cut.late, bodyReadTimeout, ms(cut.latest), cut.early, cut.statuses(), len(took), ms(slowest(took)), peers))
}

// slowSummary counts how slow connections ended.
type slowSummary struct {
	early, late, open int
	latest            time.Duration
	status            map[string]int
}

// summarize sorts ends into those ended before timeout (less a second:
// to make room), after it, and not at all.
func summarize(ends []slowEnd, timeout time.Duration) slowSummary {
	s := slowSummary{status: map[string]int{}}
	for _, e := range ends {
		d := max(e.answered, e.closed)
		switch {
		case d == 0:
			s.open++
		case d < timeout-time.Second:
			s.early++
		default:
			s.late++
		}
		if e.status != "" {
			s.status[e.status]++
		}
		s.latest = max(s.latest, d)
	}
	return s
}

func (s slowSummary) statuses() string {
	var out []string
	for st, n := range s.status {
		out = append(out, fmt.Sprintf("%d %s", n, st))
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "closed without an answer"
	}
	return strings.Join(out, ", ")
}
