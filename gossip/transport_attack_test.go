//go:build unix

package gossip

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"
)

// These tests attack a node's internal port the way a stranger on the
// network can, against real memberlist instances on loopback.

// logLines collects a node's log, a JSON object a line.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logLines) Write(p []byte) (int, error) {
	var e map[string]any
	if err := json.Unmarshal(p, &e); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.lines = append(l.lines, e)
	l.mu.Unlock()
	return len(p), nil
}

// count is the lines at warn or above since mark that match, and the
// first few.
func (l *logLines) count(mark int, match func(map[string]any) bool) (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, sample := 0, []string(nil)
	for _, e := range l.lines[mark:] {
		if (e["level"] == "warn" || e["level"] == "error") && match(e) {
			n++
			if len(sample) < 5 {
				b, _ := json.Marshal(e)
				sample = append(sample, string(b))
			}
		}
	}
	return n, sample
}

func (l *logLines) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func capturing(l *logLines) func(*Config) {
	return func(c *Config) { c.Logger = zerolog.New(l).Level(zerolog.DebugLevel) }
}

func keyed(key []byte) func(*Config) {
	return func(c *Config) { c.Keys = [][]byte{key} }
}

// flood has conns connections at a time send payload to addr and wait
// for the node to hang up, for d; it returns how many it made.
func flood(t *testing.T, addr string, conns int, d time.Duration, payload []byte) int {
	t.Helper()
	var made atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					continue
				}
				made.Add(1)
				_, _ = c.Write(payload)
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	return int(made.Load())
}

// requireAlive waits until every node sees every other alive: a node
// under attack, on a busy machine, may be suspected for a moment.
func requireAlive(t *testing.T, nodes ...*simNode) {
	t.Helper()
	eventually(t, 10*time.Second, "every node sees every other alive", func() bool {
		for _, nd := range nodes {
			for _, other := range nodes {
				if m, ok := nd.c.Member(other.c.cfg.Name); !ok || m.Status != StatusAlive {
					return false
				}
			}
		}
		return true
	})
}

// TestPushPullHeaderBombIsRefused sends the 42-byte push/pull header that
// claims a million nodes, over 8 connections at a time for 3 s: memberlist
// allocates 112 MB for each before reading any node. The node refuses it
// as oversized (in clear) or undecryptable (with a key), counts it, and
// its heap stays small.
func TestPushPullHeaderBombIsRefused(t *testing.T) {
	for _, withKey := range []bool{false, true} {
		name, reason := "keyless", reasonOversized
		var opts []func(*Config)
		if withKey {
			name, reason = "keyed", reasonDecrypt
			opts = append(opts, keyed(testKey(t)))
		}
		t.Run(name, func(t *testing.T) {
			_, a, b := newSimPair(t, opts...)
			bomb := labelled("sim", bombHeader(1<<20))
			watch := watchHeap()
			made := flood(t, a.addr, 8, 3*time.Second, bomb)
			growth := watch.growth()
			refused := droppedCounts(t, a.c.metrics)[reason+"/tcp"]
			t.Logf("%s: %d connections sent the %d-byte bomb in 3 s, 8 at a time; peak heap growth %.1f MB; %v counted as %s",
				name, made, len(bomb), float64(growth)/(1<<20), refused, reason)
			require.Less(t, growth, uint64(50<<20), "peak heap growth")
			require.GreaterOrEqual(t, refused, float64(made), "every bomb counted")
			requireAlive(t, a, b)
		})
	}
}

// TestEncryptedLengthClaimHoldsNothing sends a keyed node encrypted
// stream headers that claim megabytes and then nothing: the node holds
// only what arrived, and hangs up when the message is overdue.
func TestEncryptedLengthClaimHoldsNothing(t *testing.T) {
	_, a, b := newSimPair(t, keyed(testKey(t)))
	claim := labelled("sim", []byte{msgEncrypt, 0, 0x40, 0, 0}) // 4 MiB
	watch := watchHeap()
	made := flood(t, a.addr, 8, 3*time.Second, claim)
	growth := watch.growth()
	counts := droppedCounts(t, a.c.metrics)
	t.Logf("%d connections claimed 4 MiB encrypted messages; peak heap growth %.1f MB; timeout %v", made, float64(growth)/(1<<20), counts["timeout/tcp"])
	require.Less(t, growth, uint64(16<<20))
	require.GreaterOrEqual(t, counts["timeout/tcp"], float64(made))
	requireAlive(t, a, b)
}

// TestAnswerBombIsRefused points a node at a stranger that answers its
// push/pull with the million-node header: a join or register-node can
// name any address.
func TestAnswerBombIsRefused(t *testing.T) {
	_, a, _ := newSimPair(t)
	addr := testkit.Serve(t, testkit.Listen(t), func(c net.Conn) {
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = c.Read(buf) // the node's state
		_, _ = c.Write(bombHeader(1 << 20))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c)
	})
	s, err := a.c.current()
	require.NoError(t, err)
	watch := watchHeap()
	var wg sync.WaitGroup
	var errs atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Memberlist().Join([]string{addr}); err != nil {
				errs.Add(1)
			}
		}()
	}
	wg.Wait()
	growth := watch.growth()
	refused := droppedCounts(t, a.c.metrics)["oversized/tcp"]
	t.Logf("8 joins answered by the bomb: peak heap growth %.1f MB; %v counted as oversized", float64(growth)/(1<<20), refused)
	require.Equal(t, int64(8), errs.Load(), "every join fails")
	require.Less(t, growth, uint64(50<<20))
	require.GreaterOrEqual(t, refused, 8.0)
}

// TestGuardedClusterGossips checks that the guard passes everything
// memberlist and serf send, in clear, compressed and encrypted: a
// cluster forms, push/pulls every 200 ms go through in both directions
// and nothing is dropped or complained about.
func TestGuardedClusterGossips(t *testing.T) {
	for _, tc := range []struct {
		name     string
		compress bool
		key      bool
	}{{"clear", false, false}, {"compressed", true, false}, {"encrypted", false, true}, {"encrypted and compressed", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := localProfile()
			p.Compression = tc.compress
			p.PushPullInterval = 200 * time.Millisecond
			var logs logLines
			opts := []func(*Config){capturing(&logs)}
			if tc.key {
				opts = append(opts, keyed(testKey(t)))
			}
			s := newSimWith(t, 3, p, opts...)
			t.Cleanup(s.close)
			for _, nd := range s.nodes[1:] {
				_, err := nd.c.JoinVia(t.Context(), s.nodes[0].addr, JoinOptions{Mode: JoinRegister})
				require.NoError(t, err)
			}
			received := func() uint64 {
				total := uint64(0)
				for _, nd := range s.nodes {
					total += nd.c.metrics.bytes.n[bytesReceived][bytesTCP].Load()
				}
				return total
			}
			before := received()
			eventually(t, 10*time.Second, "push/pulls after the joins", func() bool { return received() > before+4<<10 })
			requireAlive(t, s.nodes...)
			for _, nd := range s.nodes {
				require.Zero(t, droppedTotal(t, nd.c.metrics, ""), "%s dropped %v", nd.c.cfg.Name, droppedCounts(t, nd.c.metrics))
			}
			// Lines about refused input, and failed push/pulls.
			n, sample := logs.count(0, func(e map[string]any) bool {
				msg, _ := e["message"].(string)
				_, limited := e["suppressed"]
				return limited || strings.Contains(msg, "Push/Pull") || strings.Contains(msg, "gossip: ")
			})
			require.Zero(t, n, "%v", sample)
		})
	}
}

// TestGarbagePacketsAreCountedAndLoggedSparingly sends 20,000 packets
// with the cluster's label and random content, as a stranger who knows
// the cluster name can: each is counted, and the log gets a line per
// source per interval instead of a line per packet.
func TestGarbagePacketsAreCountedAndLoggedSparingly(t *testing.T) {
	var logs logLines
	// One interval for the whole test, however slow the machine.
	_, a, b := newSimPair(t, capturing(&logs), func(c *Config) { c.Limits.BadInputLogInterval = time.Minute })
	mark := logs.mark()
	udp, err := net.Dial("udp", a.addr)
	require.NoError(t, err)
	defer udp.Close()
	const packets, batch = 20000, 100
	buf := make([]byte, 512)
	sent := 0
	for sent < packets {
		before := a.c.metrics.bytes.n[bytesReceived][bytesUDP].Load()
		size := 0
		for range batch {
			_, _ = rand.Read(buf)
			p := labelled("sim", buf[:1+int(buf[0])+int(buf[1])])
			n, err := udp.Write(p)
			require.NoError(t, err)
			size += n
			sent++
		}
		// A batch at a time, so the socket's buffer never overflows.
		eventually(t, 5*time.Second, "the batch read", func() bool {
			return a.c.metrics.bytes.n[bytesReceived][bytesUDP].Load() >= before+uint64(size)
		})
	}
	var dropped float64
	eventually(t, 5*time.Second, "drops counted", func() bool {
		dropped = droppedTotal(t, a.c.metrics, "udp")
		return dropped >= 0.95*packets
	})
	// All warnings and errors but those about members, which a busy
	// machine may cause.
	lines, sample := logs.count(mark, func(e map[string]any) bool {
		msg, _ := e["message"].(string)
		return !strings.HasPrefix(msg, "gossip: member ") && !strings.HasPrefix(msg, "Refuting")
	})
	t.Logf("%d garbage packets: %v counted dropped %v; %d log lines at warn or above: %v", packets, dropped, droppedCounts(t, a.c.metrics), lines, sample)
	require.LessOrEqual(t, lines, 5, "log lines about the garbage")
	requireAlive(t, a, b)
}

// TestLZWBombPacketIsDropped sends packets whose compressed content
// expands to 40 MB: memberlist would decompress all of it.
func TestLZWBombPacketIsDropped(t *testing.T) {
	_, a, b := newSimPair(t)
	bomb := labelled("sim", lzwBomb(40<<20))
	udp, err := net.Dial("udp", a.addr)
	require.NoError(t, err)
	defer udp.Close()
	watch := watchHeap()
	for i := range 10 {
		_, err := udp.Write(bomb)
		require.NoError(t, err)
		// One at a time: the socket's buffer holds only a few.
		eventually(t, 5*time.Second, "the bomb counted", func() bool { return droppedCounts(t, a.c.metrics)["oversized/udp"] >= float64(i+1) })
	}
	growth := watch.growth()
	t.Logf("10 packets of %d bytes expanding to 40 MB each: peak heap growth %.1f MB", len(bomb), float64(growth)/(1<<20))
	require.Less(t, growth, uint64(16<<20))
	requireAlive(t, a, b)
}

// TestStreamsBeyondTheLimitAreClosedAtOnce holds the node's inbound
// streams with connections that send a label and stall: one more is
// closed at once and counted, and the stalled ones when their message is
// overdue.
func TestStreamsBeyondTheLimitAreClosedAtOnce(t *testing.T) {
	const limit = 4
	_, a, _ := newSimPair(t, func(c *Config) { c.Limits.MaxStreams = limit })
	var stalled []net.Conn
	for range limit {
		c, err := net.Dial("tcp", a.addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Write(labelled("sim", nil))
		require.NoError(t, err)
		stalled = append(stalled, c)
	}
	// The node's own peer may hold a place for a moment with a push/pull.
	eventually(t, 5*time.Second, "one more stream closed at once", func() bool {
		c, err := net.Dial("tcp", a.addr)
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write(labelled("sim", nil))
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	})
	require.Positive(t, droppedCounts(t, a.c.metrics)["too_many_streams/tcp"])
	for _, c := range stalled {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(3*a.c.cfg.Profile.TCPTimeout)))
		_, err := c.Read(make([]byte, 1))
		require.Error(t, err)
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a stalled stream is still open")
	}
	require.GreaterOrEqual(t, droppedCounts(t, a.c.metrics)["timeout/tcp"], float64(limit))
}
