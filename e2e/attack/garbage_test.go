//go:build linux

package attack

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGarbageOnTheInternalPort sends a node 50,000 UDP packets of random
// bytes, half of them behind the cluster's label (as a stranger who knows
// the cluster name can), from 8 sockets, and then 2,000 TCP connections
// of random bytes (half after a gossip label, half not, which go to the
// internal gRPC server). The node counts the dropped packets, writes a
// few log lines where it wrote one a packet, hangs up on every
// connection, and its peers see it alive all along.
func TestGarbageOnTheInternalPort(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, spec{name: "a"}, spec{name: "b"}, spec{name: "c"})
	a := nodes[0]
	exclusive(t)
	watch := watchStatuses(t, []*node{a}, nodes[1:]...)
	udpDone, udpSeen := garbageUDP(t, a)
	tcpDone, tcpSeen := garbageTCP(t, a)
	peers := watch.requireNoFalseFailure(t)
	res.Add(t, "garbage UDP", udpDone, udpSeen+"; "+peers)
	res.Add(t, "garbage TCP", tcpDone, tcpSeen+"; "+peers)
}

func garbageUDP(t *testing.T, a *node) (done, seen string) {
	t.Helper()
	before := sum(a.scrape(t), "roster_gossip_dropped_total", map[string]string{"transport": "udp"})
	mark := a.logMark()
	const packets, sockets, batch = 50000, 8, 250
	var socks []net.Conn
	for range sockets {
		c, err := net.Dial("udp", a.internal)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		socks = append(socks, c)
	}
	buf := make([]byte, 600)
	start := time.Now()
	for sent := 0; sent < packets; {
		received := a.udpBytesReceived(t)
		size := 0
		for range batch {
			_, _ = rand.Read(buf)
			p := buf[:1+int(buf[0])+int(buf[1])] // 1 to 511 random bytes
			if sent%2 == 0 {
				p = labelled(clusterLabel, p)
			}
			n, err := socks[sent%sockets].Write(p)
			require.NoError(t, err)
			size += n
			sent++
		}
		// A batch at a time, so that the node's socket buffer never
		// overflows and every packet reaches it.
		waitFor(t, 10*time.Second, "the batch read", func() bool { return a.udpBytesReceived(t) >= received+float64(size) })
	}
	took := time.Since(start)
	var dropped float64
	waitFor(t, 10*time.Second, "the packets counted", func() bool {
		dropped = sum(a.scrape(t), "roster_gossip_dropped_total", map[string]string{"transport": "udp"}) - before
		return dropped >= 0.95*packets
	})
	lines := a.logSince(mark)
	require.LessOrEqual(t, len(lines), maxAttackLogLines, "log lines about the garbage: %v", sampleOf(lines))
	return fmt.Sprintf("%d packets of 1-511 random bytes, half behind the cluster's label, from %d sockets, in %s", packets, sockets, ms(took)),
		fmt.Sprintf("%.0f counted in roster_gossip_dropped_total{transport=\"udp\"} (%s); %s", dropped, reasons(a.dropped(t), "udp"), logLines(lines))
}

func garbageTCP(t *testing.T, a *node) (done, seen string) {
	t.Helper()
	before := a.dropped(t)
	mark := a.logMark()
	const conns, parallel = 2000, 32
	var (
		mu      sync.Mutex
		failed  []string
		longest time.Duration
		wg      sync.WaitGroup
		next    atomic.Int64
	)
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < conns; i = int(next.Add(1)) - 1 {
				junk := make([]byte, 1+i*7%4096)
				_, _ = rand.Read(junk)
				if i%2 == 0 {
					junk = labelled(clusterLabel, junk)
				} else if junk[0] == msgHasLabel {
					junk[0] = 0
				}
				t0 := time.Now()
				c, err := net.DialTimeout("tcp", a.internal, 5*time.Second)
				if err == nil {
					_, _ = c.Write(junk)
					_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
					_, err = io.Copy(io.Discard, c)
					_ = c.Close()
				}
				mu.Lock()
				longest = max(longest, time.Since(t0))
				if err != nil && !isClosed(err) {
					failed = append(failed, fmt.Sprintf("connection %d: %v", i, err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Empty(t, failed, "the node hangs up on every connection")
	took := time.Since(start)
	lines := a.logSince(mark)
	after := a.dropped(t)
	counted := 0.0
	for k, v := range after {
		if strings.HasSuffix(k, "/tcp") {
			counted += v - before[k]
		}
	}
	require.LessOrEqual(t, len(lines), maxAttackLogLines, "log lines about the garbage: %v", sampleOf(lines))
	return fmt.Sprintf("%d connections to the internal port, %d at a time, each sending 1-4096 random bytes (half behind a gossip label, half to the internal gRPC server), in %s", conns, parallel, ms(took)),
		fmt.Sprintf("the node hung up on every one, at the latest after %s; %.0f gossip streams counted in roster_gossip_dropped_total{transport=\"tcp\"} (%s); %s", ms(longest), counted, reasons(after, "tcp"), logLines(lines))
}

// udpBytesReceived is roster_gossip_bytes_total{direction="received",transport="udp"}.
func (n *node) udpBytesReceived(t *testing.T) float64 {
	return sum(n.scrape(t), "roster_gossip_bytes_total", map[string]string{"direction": "received", "transport": "udp"})
}

// reasons lists the non-zero drop counts of a transport: "malformed 24000, ...".
func reasons(dropped map[string]float64, transport string) string {
	var out []string
	for k, v := range dropped {
		if reason, tr, _ := strings.Cut(k, "/"); tr == transport && v > 0 {
			out = append(out, fmt.Sprintf("%s %.0f", reason, v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// sampleOf is the first few of lines.
func sampleOf(lines []string) []string { return lines[:min(len(lines), 5)] }

// logLines says how many lines a node logged: "1 log line", "5 log lines".
func logLines(lines []string) string {
	if len(lines) == 1 {
		return "1 log line"
	}
	return fmt.Sprintf("%d log lines", len(lines))
}
