package gossip

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func newFakeClock() *fakeClock                  { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func srcKey(ip string) badKey                   { return badKey{src: netip.MustParseAddr(ip)} }
func allowed(l *badInputLog, k badKey) bool     { ok, _, _ := l.allow(k); return ok }
func suppressedOf(l *badInputLog, k badKey) int { _, n, _ := l.allow(k); return n }

func TestBadInputLogOneLinePerSourcePerInterval(t *testing.T) {
	clock := newFakeClock()
	l := newBadInputLog(10*time.Second, clock.now)
	a, b := srcKey("10.0.0.1"), srcKey("10.0.0.2")
	require.True(t, allowed(l, a))
	for range 99 {
		require.False(t, allowed(l, a))
	}
	require.True(t, allowed(l, b), "another source has its own line")
	clock.add(9 * time.Second)
	require.False(t, allowed(l, a))
	clock.add(time.Second)
	ok, suppressed, others := l.allow(a)
	require.True(t, ok, "a line again after the interval")
	require.Equal(t, 100, suppressed, "with the count of the lines not logged")
	require.False(t, others)
	require.False(t, allowed(l, a))
}

func TestBadInputLogIsBoundedUnderSpoofedSources(t *testing.T) {
	clock := newFakeClock()
	l := newBadInputLog(10*time.Second, clock.now)
	next := 0
	flood := func(n int) (lines, shared, sharedSuppressed int) {
		for range n {
			next++
			ip := netip.AddrFrom4([4]byte{10, byte(next >> 16), byte(next >> 8), byte(next)})
			if ok, suppressed, others := l.allow(badKey{src: ip}); ok {
				lines++
				if others {
					shared++
					sharedSuppressed = suppressed
				}
			}
		}
		return lines, shared, sharedSuppressed
	}
	// 100,000 sources in one interval: the first few get their line, the
	// rest share one.
	lines, shared, _ := flood(100000)
	require.Equal(t, badInputLinesPerInterval+1, lines)
	require.Equal(t, 1, shared)
	clock.add(10 * time.Second)
	lines, shared, suppressed := flood(100000)
	require.Equal(t, badInputLinesPerInterval+1, lines)
	require.Equal(t, 1, shared)
	require.Equal(t, 100000-badInputLinesPerInterval-1, suppressed, "the shared line tells what the last interval's others did not log")
	// New sources interval after interval: the table stays bounded.
	for range 100 {
		clock.add(10 * time.Second)
		flood(badInputLinesPerInterval)
		require.LessOrEqual(t, len(l.sources), badInputSources, "sources tracked")
	}
}

func TestSourceOf(t *testing.T) {
	require.Equal(t, netip.MustParseAddr("10.0.0.9"), sourceOf(&net.UDPAddr{IP: net.ParseIP("10.0.0.9"), Port: 1}))
	require.Equal(t, netip.MustParseAddr("10.0.0.9"), sourceOf(&net.TCPAddr{IP: net.IPv4(10, 0, 0, 9).To16(), Port: 1}))
	require.Equal(t, netip.MustParseAddr("fd00::1"), sourceOfString("[fd00::1]:8224"))
	require.Equal(t, netip.MustParseAddr("10.0.0.9"), sourceOfString("10.0.0.9"))
	require.False(t, sourceOfString("<unknown address>").IsValid())
	require.False(t, sourceOf(nil).IsValid())
}

// TestLogAdapterRateLimitsMemberlistsBadInputLines feeds the adapter the
// lines memberlist writes for bad input from two sources: each source
// gets a line per interval, every line is counted.
func TestLogAdapterRateLimitsMemberlistsBadInputLines(t *testing.T) {
	var out bytes.Buffer
	m, err := newMetrics(prometheus.NewRegistry(), func() map[Status]int { return nil })
	require.NoError(t, err)
	clock := newFakeClock()
	l := newStdLogger(zerolog.New(&out), m, newBadInputLog(10*time.Second, clock.now))
	bad := []string{
		"[ERR] memberlist: failed to receive: msgpack decode error from=10.0.0.9:41000",
		"[ERR] memberlist: Failed to decode ping request: EOF from=10.0.0.9:8224",
		"[ERR] memberlist: msg type (77) not supported from=10.0.0.9:8224",
		"[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=10.0.0.9:8224",
		"[ERR] memberlist: Failed to read remote state: EOF from=10.0.0.7:40000",
		"[WARN] serf: Received message of unknown type: 72",
		"[ERR] serf: Error decoding user event message: EOF",
		// Counted by the guard when it refused the answer.
		"[ERR] memberlist: Push/Pull with n2 failed: gossip: no installed keys could decrypt the message",
	}
	for range 1000 {
		for _, line := range bad {
			l.Print(line)
		}
	}
	l.Print("[WARN] memberlist: Refuting a suspect message (from: node2)")
	clock.add(10 * time.Second)
	l.Print(bad[0])
	var got []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(raw), &e), raw)
		got = append(got, e)
	}
	var messages []string
	for _, e := range got {
		messages = append(messages, e["message"].(string))
	}
	require.Equal(t, []string{
		"failed to receive: msgpack decode error from=10.0.0.9:41000",
		"Failed to read remote state: EOF from=10.0.0.7:40000",
		"Received message of unknown type: 72",
		"Push/Pull with n2 failed: gossip: no installed keys could decrypt the message",
		"Refuting a suspect message (from: node2)",
		"failed to receive: msgpack decode error from=10.0.0.9:41000",
	}, messages, "a line per source (serf's lines have none: per component) per interval, and lines about other things as they come")
	require.EqualValues(t, 4*1000-1, got[5]["suppressed"], "the next line from 10.0.0.9 tells how many were not logged")
	counts := droppedCounts(t, m)
	require.Equal(t, 2001.0, counts["malformed/tcp"], "stream failures counted: failed to receive, remote state")
	require.Equal(t, 1000.0, counts["decrypt/udp"])
	require.Zero(t, counts["decrypt/tcp"], "the guard's refusal, reported by memberlist, is not counted twice")
	require.Equal(t, 2000.0, counts["bad_type/udp"], "bad types counted: memberlist's and serf's")
	require.Equal(t, 2000.0, counts["malformed/udp"], "decode failures counted: memberlist's and serf's")
}
