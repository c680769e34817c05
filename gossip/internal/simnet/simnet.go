// Package simnet is an in-memory network for simulating many gossip
// nodes in one process: each node gets a packet connection, a stream
// listener and a dialer, as a node's internal port has over the
// operating system's sockets, without the kernel's loopback stack.
//
// It behaves as sockets do where gossip depends on it: a packet goes into
// the receiver's queue, which holds a bounded number of packets (a socket
// buffer) and drops what does not fit, so a slow receiver never blocks
// its senders; streams are in-memory connections with deadlines. It can
// lose packets at random, delay them, and pause a node (docker pause: the
// node neither sends, receives nor accepts until it resumes).
package simnet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Network; zero fields take the defaults.
type Options struct {
	// QueueLen is the packets a node's queue holds before it drops
	// (default 512, about a Linux UDP socket's default buffer of
	// memberlist-sized packets).
	QueueLen int
	// Backlog is the streams waiting to be accepted before a dial blocks
	// (default 64).
	Backlog int
}

// Network connects the nodes made by Node.
type Network struct {
	opts    Options
	mu      sync.RWMutex
	nodes   map[string]*Node
	loss    atomic.Uint64 // float64 bits: probability a packet is lost
	latency atomic.Int64  // one-way delay of packets and dials
	dropped atomic.Uint64 // packets lost or dropped by a full queue
}

// New returns an empty network.
func New(opts Options) *Network {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 512
	}
	if opts.Backlog <= 0 {
		opts.Backlog = 64
	}
	return &Network{opts: opts, nodes: map[string]*Node{}}
}

// SetLoss makes each packet lost with probability p (0 to 1).
func (n *Network) SetLoss(p float64) { n.loss.Store(math.Float64bits(p)) }

// SetLatency delays each packet and each dial by d.
func (n *Network) SetLatency(d time.Duration) { n.latency.Store(int64(d)) }

// Dropped is the packets lost or dropped by a full queue so far.
func (n *Network) Dropped() uint64 { return n.dropped.Load() }

// Node adds a node at ip:port. The address is free again once the
// node's packet connection and listener are both closed.
func (n *Network) Node(ip net.IP, port int) (*Node, error) {
	key := net.JoinHostPort(ip.String(), fmt.Sprint(port))
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.nodes[key]; ok && !old.gone() {
		return nil, fmt.Errorf("simnet: address %s in use", key)
	}
	nd := &Node{
		net:        n,
		key:        key,
		udp:        &net.UDPAddr{IP: ip, Port: port},
		tcp:        &net.TCPAddr{IP: ip, Port: port},
		queue:      make(chan packet, n.opts.QueueLen),
		accept:     make(chan net.Conn, n.opts.Backlog),
		packetDone: make(chan struct{}),
		streamDone: make(chan struct{}),
	}
	run := closedChan()
	nd.running.Store(&run)
	n.nodes[key] = nd
	return nd, nil
}

func (n *Network) lookup(key string) *Node {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nodes[key]
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

type packet struct {
	b    []byte
	from net.Addr
	at   time.Time // when it arrives
}

// Node is one simulated host:port.
type Node struct {
	net        *Network
	key        string
	udp        *net.UDPAddr
	tcp        *net.TCPAddr
	queue      chan packet
	accept     chan net.Conn
	packetDone chan struct{}
	streamDone chan struct{}
	packetOnce sync.Once
	streamOnce sync.Once
	// running is closed while the node runs and open while it is paused.
	running atomic.Pointer[chan struct{}]
	pauseMu sync.Mutex
}

// Addr is the node's address, host:port.
func (nd *Node) Addr() string { return nd.key }

func (nd *Node) gone() bool {
	select {
	case <-nd.packetDone:
	default:
		return false
	}
	select {
	case <-nd.streamDone:
		return true
	default:
		return false
	}
}

// Pause freezes the node: its reads, writes, accepts and dials wait until
// Resume, and packets sent to it queue up and then drop.
func (nd *Node) Pause() {
	nd.pauseMu.Lock()
	defer nd.pauseMu.Unlock()
	if isClosed(*nd.running.Load()) {
		c := make(chan struct{})
		nd.running.Store(&c)
	}
}

// Resume ends a Pause.
func (nd *Node) Resume() {
	nd.pauseMu.Lock()
	defer nd.pauseMu.Unlock()
	if c := *nd.running.Load(); !isClosed(c) {
		close(c)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// await waits while the node is paused, until done closes or deadline
// (zero: none) passes.
func (nd *Node) await(done <-chan struct{}, deadline time.Time) error {
	run := *nd.running.Load()
	if isClosed(run) {
		return nil
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-run:
		return nil
	case <-done:
		return net.ErrClosed
	case <-timeout:
		return os.ErrDeadlineExceeded
	}
}

// PacketConn is the node's UDP socket.
func (nd *Node) PacketConn() net.PacketConn { return &packetConn{nd: nd} }

// Listener is the node's stream listener.
func (nd *Node) Listener() net.Listener { return &listener{nd: nd} }

// Dial opens a stream to the node at address (host:port).
func (nd *Node) Dial(ctx context.Context, address string) (net.Conn, error) {
	if err := nd.await(ctx.Done(), time.Time{}); err != nil {
		return nil, fmt.Errorf("simnet: dial %s: %w", address, ctx.Err())
	}
	if d := time.Duration(nd.net.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("simnet: dial %s: %w", address, ctx.Err())
		}
	}
	to := nd.net.lookup(address)
	if to == nil || isClosed(to.streamDone) {
		return nil, fmt.Errorf("simnet: dial %s: %w", address, errRefused)
	}
	a, b := net.Pipe()
	local := &conn{Conn: a, nd: nd, local: &net.TCPAddr{IP: nd.tcp.IP, Port: 0}, remote: to.tcp}
	remote := &conn{Conn: b, nd: to, local: to.tcp, remote: local.local}
	select {
	case to.accept <- remote:
		return local, nil
	case <-to.streamDone:
		_ = a.Close()
		return nil, fmt.Errorf("simnet: dial %s: %w", address, errRefused)
	case <-ctx.Done():
		_ = a.Close()
		return nil, fmt.Errorf("simnet: dial %s: %w", address, ctx.Err())
	}
}

var errRefused = errors.New("connection refused")

// send puts a packet in the queue of the node at to, or drops it.
func (nd *Node) send(b []byte, to net.Addr) {
	n := nd.net
	dst := n.lookup(to.String())
	if dst == nil || isClosed(dst.packetDone) {
		return // as UDP: nobody there, nobody told
	}
	if p := math.Float64frombits(n.loss.Load()); p > 0 && rand.Float64() < p {
		n.dropped.Add(1)
		return
	}
	pk := packet{b: append([]byte(nil), b...), from: nd.udp}
	if d := time.Duration(n.latency.Load()); d > 0 {
		pk.at = time.Now().Add(d)
	}
	select {
	case dst.queue <- pk:
	default:
		n.dropped.Add(1)
	}
}

type packetConn struct {
	nd       *Node
	deadline atomic.Int64 // read deadline, Unix nanoseconds; 0: none
}

func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	nd := c.nd
	var timeout <-chan time.Time
	deadline := time.Time{}
	if d := c.deadline.Load(); d != 0 {
		deadline = time.Unix(0, d)
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	// A paused node takes nothing from its queue, which fills and drops.
	if err := nd.await(nd.packetDone, deadline); err != nil {
		return 0, nil, err
	}
	select {
	case pk := <-nd.queue:
		if !pk.at.IsZero() {
			if wait := time.Until(pk.at); wait > 0 {
				time.Sleep(wait)
			}
		}
		return copy(p, pk.b), pk.from, nil
	case <-nd.packetDone:
		return 0, nil, net.ErrClosed
	case <-timeout:
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (c *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if err := c.nd.await(c.nd.packetDone, time.Time{}); err != nil {
		return 0, err
	}
	if isClosed(c.nd.packetDone) {
		return 0, net.ErrClosed
	}
	c.nd.send(p, addr)
	return len(p), nil
}

func (c *packetConn) Close() error {
	c.nd.packetOnce.Do(func() { close(c.nd.packetDone) })
	return nil
}

func (c *packetConn) LocalAddr() net.Addr { return c.nd.udp }

func (c *packetConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *packetConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
	} else {
		c.deadline.Store(t.UnixNano())
	}
	return nil
}

// SetWriteDeadline has nothing to do: a write never blocks but on a
// pause.
func (c *packetConn) SetWriteDeadline(time.Time) error { return nil }

type listener struct{ nd *Node }

func (l *listener) Accept() (net.Conn, error) {
	nd := l.nd
	if err := nd.await(nd.streamDone, time.Time{}); err != nil {
		return nil, err
	}
	select {
	case c := <-nd.accept:
		return c, nil
	case <-nd.streamDone:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.nd.streamOnce.Do(func() {
		close(l.nd.streamDone)
		// Streams dialled but not accepted are refused.
		for {
			select {
			case c := <-l.nd.accept:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return nil
}

func (l *listener) Addr() net.Addr { return l.nd.tcp }

// conn is one end of a stream, owned by node nd: it waits while nd is
// paused.
type conn struct {
	net.Conn
	nd            *Node
	local, remote net.Addr
}

func (c *conn) Read(p []byte) (int, error) {
	if err := c.nd.await(c.nd.streamDone, time.Time{}); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *conn) Write(p []byte) (int, error) {
	if err := c.nd.await(c.nd.streamDone, time.Time{}); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }
