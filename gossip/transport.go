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
// traffic from another cluster is counted before it is dropped, and it
// guards memberlist from input it would hold too much for (guard.go,
// guardpacket.go): every stream and packet from the network is checked
// first, at most Limits.MaxStreams inbound streams are handled at once,
// and what it refuses is counted and logged at a bounded rate.
type transport struct {
	packets  net.PacketConn
	streams  net.Listener
	dial     Dialer
	label    string
	timeout  time.Duration
	compress bool
	limits   Limits
	known    func() int
	log      zerolog.Logger
	metrics  *metrics
	badLog   *badInputLog
	keys     keyView
	members  atomic.Pointer[memberlist.Memberlist]
	nodes    atomic.Pointer[nodesAt] // the push/pull bound, recomputed now and then
	active   atomic.Int64            // inbound streams being handled
	// deaf drops all gossip with the cluster's label: set while this node
	// runs standalone after it was unregistered, until it joins again.
	// Peers that have not heard of the unregistration yet would otherwise
	// learn its new identity from its answers (memberlist piggybacks its
	// alive message on every ack and push/pull) and take it back in.
	deaf     atomic.Bool
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	started  sync.Once
	closing  atomic.Bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// transportConfig is what newTransport needs.
type transportConfig struct {
	packets net.PacketConn
	streams net.Listener
	dial    Dialer
	label   string
	timeout time.Duration // for a stream's message to arrive
	// compress is whether memberlist compresses what it sends, and so
	// the transport its answers to streams it refuses.
	compress bool
	limits   Limits
	// known is the number of nodes this node knows of, which bounds the
	// push/pulls it takes; nil counts memberlist's members only.
	known   func() int
	log     zerolog.Logger
	metrics *metrics
}

func newTransport(cfg transportConfig) *transport {
	dial := cfg.dial
	if dial == nil {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	limits := cfg.limits.withDefaults()
	return &transport{
		packets:  cfg.packets,
		streams:  cfg.streams,
		dial:     dial,
		label:    cfg.label,
		timeout:  cfg.timeout,
		compress: cfg.compress,
		limits:   limits,
		known:    cfg.known,
		log:      cfg.log,
		metrics:  cfg.metrics,
		badLog:   newBadInputLog(limits.BadInputLogInterval, nil),
		packetCh: make(chan *memberlist.Packet, 1024),
		streamCh: make(chan net.Conn, 64),
		done:     make(chan struct{}),
	}
}

// serve makes keyring (nil: gossip in clear) the one the guard opens
// encrypted gossip with, and starts reading the sockets the first time:
// the keyring must be known before the first packet is judged.
func (t *transport) serve(keyring *memberlist.Keyring) {
	t.keys.set(keyring)
	t.started.Do(func() {
		t.wg.Add(2)
		go t.readPackets()
		go t.acceptStreams()
	})
}

// useMemberlist tells the transport the memberlist it serves, whose
// member count bounds the push/pulls it takes.
func (t *transport) useMemberlist(m *memberlist.Memberlist) { t.members.Store(m) }

// nodesAt is the node count a push/pull may claim, as computed at a time.
type nodesAt struct {
	n  int
	at time.Time
}

// inboundLimits bounds a message on a stream another node opened, by
// what this node knows of its cluster (recounted at most once a second).
func (t *transport) inboundLimits() streamLimits {
	now := time.Now()
	if c := t.nodes.Load(); c != nil && now.Sub(c.at) < time.Second {
		return t.limits.stream(c.n)
	}
	known := 0
	if t.known != nil {
		known = t.known()
	} else if m := t.members.Load(); m != nil {
		known = m.NumMembers()
	}
	n := t.limits.nodesFor(known)
	t.nodes.Store(&nodesAt{n: n, at: now})
	return t.limits.stream(n)
}

// replyLimits bounds an answer on a stream this node opened: a joining
// node knows nobody yet, so only the hard cap applies.
func (t *transport) replyLimits() streamLimits { return t.limits.stream(t.limits.MaxNodes) }

func (t *transport) readPackets() {
	defer t.wg.Done()
	// 64 KiB: the largest UDP payload, as memberlist's own transport reads.
	buf := make([]byte, 65536)
	guard := newPacketGuard(&t.keys, t.label, t.limits.MaxPacketExpansion)
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
			t.refused(from, "udp", refuse(reasonMalformed, "an empty packet"))
			continue
		}
		msg, label, err := memberlist.RemoveLabelHeaderFromPacket(buf[:n])
		if err != nil {
			t.refused(from, "udp", refuse(reasonMalformed, "%w", err))
			continue
		}
		if label != t.label {
			t.refused(from, "udp", refuse(reasonClusterLabel, "a packet labelled %q", label))
			continue
		}
		if t.deaf.Load() {
			t.refused(from, "udp", refuse(reasonExiled, "a packet from the cluster this node was unregistered from"))
			continue
		}
		if err := guard.check(msg); err != nil {
			t.refused(from, "udp", err)
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
		if t.active.Add(1) > int64(t.limits.MaxStreams) {
			t.active.Add(-1)
			_ = conn.Close()
			t.refused(conn.RemoteAddr(), "tcp", refuse(reasonTooManyStreams, "%d gossip streams are open already", t.limits.MaxStreams))
			continue
		}
		slot := &slotConn{Conn: &countedConn{Conn: conn, bytes: t.metrics.bytes}, release: func() { t.active.Add(-1) }}
		go t.checkStream(slot)
	}
}

// checkStream reads the label header and the message of a stream with a
// deadline, so that a stranger who connects and sends little holds only
// its own goroutine and buffer, and hands memberlist the stream when the
// guard passes it. The deadline stays until memberlist sets its own.
func (t *transport) checkStream(conn net.Conn) {
	if t.deaf.Load() {
		t.refused(conn.RemoteAddr(), "tcp", refuse(reasonExiled, "a stream while this node is unregistered from its cluster"))
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Now().Add(t.timeout))
	check := streamCheck{lim: t.inboundLimits(), types: inboundTypes, aeads: t.keys.current(), label: t.label}
	msg, err := check.read(conn, true)
	if err != nil {
		t.refused(conn.RemoteAddr(), "tcp", err)
		if answered(reasonOf(err)) {
			_, _ = conn.Write(errorReply(err.Error(), t.compress, check.aeads, t.label))
		}
		_ = conn.Close()
		return
	}
	select {
	case t.streamCh <- &replayConn{Conn: conn, data: msg}:
	case <-t.done:
		_ = conn.Close()
	}
}

// checkReply reads and checks the answer on a stream this node opened.
func (t *transport) checkReply(conn net.Conn) ([]byte, error) {
	check := streamCheck{lim: t.replyLimits(), types: replyTypes, aeads: t.keys.current(), label: t.label}
	msg, err := check.read(conn, false)
	if err != nil {
		t.refused(conn.RemoteAddr(), "tcp", err)
		return nil, err
	}
	return msg, nil
}

// refused counts input the transport drops and logs it, at most a line
// per source per interval (badInputLog). Another cluster's traffic is a
// debug line: it is not an attack, and the metric tells it.
func (t *transport) refused(from net.Addr, transport string, err error) {
	reason := reasonOf(err)
	t.metrics.dropped.WithLabelValues(reason, transport).Inc()
	level := zerolog.WarnLevel
	if reason == reasonClusterLabel || reason == reasonExiled {
		level = zerolog.DebugLevel
	}
	if !logEnabled(t.log, level) {
		return
	}
	ok, suppressed, others := t.badLog.allow(badKey{src: sourceOf(from)})
	if !ok {
		return
	}
	ev := t.log.WithLevel(level).Str("transport", transport).Str("reason", reason).Err(err).Int("suppressed", suppressed)
	if others {
		ev.Msg("gossip: dropped bad input from many sources; this line stands for all beyond the first few in each interval")
		return
	}
	ev.Str("from", addrString(from)).Msg("gossip: dropped bad input")
}

func addrString(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	return a.String()
}

// logEnabled tells whether l writes lines of level.
func logEnabled(l zerolog.Logger, level zerolog.Level) bool {
	return level >= l.GetLevel() && level >= zerolog.GlobalLevel()
}

// close stops the reader goroutines; the node closes the sockets.
func (t *transport) close() {
	if t.closing.CompareAndSwap(false, true) {
		close(t.done)
	}
}

// slotConn is an inbound stream that holds one of the transport's
// Limits.MaxStreams places until it is closed.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
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
		// It reads one byte of the answer and discards the rest unread.
		return &fanoutConn{Conn: counted}, nil
	}
	return &replyConn{Conn: counted, check: s.t.checkReply}, nil
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
