package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Dialer opens a stream connection to another node's internal port; the
// node passes one that speaks TLS when TLS is on.
type Dialer func(ctx context.Context, address string) (net.Conn, error)

// transport is memberlist's network layer over sockets the node owns: a
// UDP socket and a listener that receives the TCP connections the node's
// port multiplexer recognised as gossip streams. It outlives memberlist
// instances (a node that is unregistered starts a fresh one on the same
// port), so memberlist is handed a shim whose Shutdown leaves it open.
//
// It checks the cluster label itself, instead of memberlist, so that
// traffic from another cluster is counted before it is dropped.
type transport struct {
	packets  net.PacketConn
	streams  net.Listener
	dial     Dialer
	label    string
	timeout  time.Duration
	log      zerolog.Logger
	metrics  *metrics
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	closing  atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
}

func newTransport(packets net.PacketConn, streams net.Listener, dial Dialer, label string, timeout time.Duration, log zerolog.Logger, m *metrics) *transport {
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	t := &transport{
		packets:  packets,
		streams:  streams,
		dial:     dial,
		label:    label,
		timeout:  timeout,
		log:      log,
		metrics:  m,
		packetCh: make(chan *memberlist.Packet, 1024),
		streamCh: make(chan net.Conn, 64),
		done:     make(chan struct{}),
	}
	t.wg.Add(2)
	go t.readPackets()
	go t.acceptStreams()
	return t
}

func (t *transport) readPackets() {
	defer t.wg.Done()
	// 64 KiB: the largest UDP payload, as memberlist's own transport reads.
	buf := make([]byte, 65536)
	for {
		n, from, err := t.packets.ReadFrom(buf)
		ts := time.Now()
		if err != nil {
			if t.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn().Err(err).Msg("gossip: read udp packet")
			continue
		}
		t.metrics.bytes.add(bytesReceived, bytesUDP, n)
		if n < 1 {
			t.metrics.dropped.WithLabelValues("malformed", "udp").Inc()
			continue
		}
		msg, label, err := memberlist.RemoveLabelHeaderFromPacket(buf[:n])
		if err != nil {
			t.metrics.dropped.WithLabelValues("malformed", "udp").Inc()
			continue
		}
		if label != t.label {
			t.metrics.dropped.WithLabelValues("cluster_label", "udp").Inc()
			t.log.Debug().Str("from", from.String()).Str("label", label).Msg("gossip: dropped packet from another cluster")
			continue
		}
		select {
		case t.packetCh <- &memberlist.Packet{Buf: append([]byte(nil), msg...), From: from, Timestamp: ts}:
		case <-t.done:
			return
		}
	}
}

func (t *transport) acceptStreams() {
	defer t.wg.Done()
	for {
		conn, err := t.streams.Accept()
		if err != nil {
			if t.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// cmux reports its own shutdown with its own error type.
			t.log.Debug().Err(err).Msg("gossip: stream listener closed")
			return
		}
		go t.checkStream(&countedConn{Conn: conn, bytes: t.metrics.bytes})
	}
}

// checkStream reads the label header with a deadline, so a stranger who
// connects and sends nothing holds only its own goroutine.
func (t *transport) checkStream(conn net.Conn) {
	_ = conn.SetReadDeadline(time.Now().Add(t.timeout))
	wrapped, label, err := memberlist.RemoveLabelHeaderFromStream(conn)
	if err != nil {
		t.metrics.dropped.WithLabelValues("malformed", "tcp").Inc()
		_ = conn.Close()
		return
	}
	if label != t.label {
		t.metrics.dropped.WithLabelValues("cluster_label", "tcp").Inc()
		t.log.Debug().Str("from", conn.RemoteAddr().String()).Str("label", label).Msg("gossip: dropped stream from another cluster")
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	select {
	case t.streamCh <- wrapped:
	case <-t.done:
		_ = conn.Close()
	}
}

// close stops the reader goroutines; the node closes the sockets.
func (t *transport) close() {
	if t.closing.CompareAndSwap(false, true) {
		close(t.done)
	}
}

// shim is the memberlist.NodeAwareTransport given to one memberlist
// instance.
type shim struct {
	t             *transport
	advertiseIP   net.IP
	advertisePort int
}

var _ memberlist.NodeAwareTransport = (*shim)(nil)

func (s *shim) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return s.advertiseIP, s.advertisePort, nil
}

func (s *shim) WriteTo(b []byte, addr string) (time.Time, error) {
	return s.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (s *shim) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	udp, err := net.ResolveUDPAddr("udp", addr.Addr)
	if err != nil {
		return time.Time{}, fmt.Errorf("gossip: resolve %s: %w", addr.Addr, err)
	}
	n, err := s.t.packets.WriteTo(b, udp)
	s.t.metrics.bytes.add(bytesSent, bytesUDP, n)
	return time.Now(), err
}

func (s *shim) PacketCh() <-chan *memberlist.Packet { return s.t.packetCh }

func (s *shim) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return s.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (s *shim) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := s.t.dial(ctx, addr.Addr)
	if err != nil {
		return nil, err
	}
	counted := &countedConn{Conn: conn, bytes: s.t.metrics.bytes}
	if isFanoutDial(addr.Name) {
		return &fanoutConn{Conn: counted}, nil
	}
	return counted, nil
}

func (s *shim) StreamCh() <-chan net.Conn { return s.t.streamCh }

// Shutdown leaves the shared sockets open for the next memberlist.
func (s *shim) Shutdown() error { return nil }

// Directions and transports of roster_gossip_bytes_total.
const (
	bytesSent = iota
	bytesReceived
)

const (
	bytesUDP = iota
	bytesTCP
)

// byteCounts counts the gossip bytes that pass the node's sockets: UDP
// packets as sent and received (another cluster's included), and stream
// bytes as memberlist writes and reads them (inside TLS, when the node's
// dialer and listener speak it). Atomics rather than a CounterVec: they
// are bumped for every packet, and tests read them directly.
type byteCounts struct {
	desc *prometheus.Desc
	n    [2][2]atomic.Uint64 // [direction][transport]
}

func newByteCounts() *byteCounts {
	return &byteCounts{desc: prometheus.NewDesc("roster_gossip_bytes_total",
		"Gossip bytes through this node's internal port, by direction (sent, received) and transport (udp packets, tcp streams).",
		[]string{"direction", "transport"}, nil)}
}

func (b *byteCounts) add(direction, transport, n int) {
	if n > 0 {
		b.n[direction][transport].Add(uint64(n))
	}
}

// total is the bytes counted in one direction, both transports.
func (b *byteCounts) total(direction int) uint64 {
	return b.n[direction][bytesUDP].Load() + b.n[direction][bytesTCP].Load()
}

func (b *byteCounts) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *byteCounts) Collect(ch chan<- prometheus.Metric) {
	for d, dir := range []string{"sent", "received"} {
		for t, tr := range []string{"udp", "tcp"} {
			ch <- prometheus.MustNewConstMetric(b.desc, prometheus.CounterValue, float64(b.n[d][t].Load()), dir, tr)
		}
	}
}

// countedConn counts a gossip stream's bytes.
type countedConn struct {
	net.Conn
	bytes *byteCounts
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.bytes.add(bytesReceived, bytesTCP, n)
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.bytes.add(bytesSent, bytesTCP, n)
	return n, err
}
