// Package connlimit caps the connections a listener holds open at once.
//
// At the cap, a new connection takes the place of the connection that has
// waited longest without being used (a keep-alive connection between
// requests, a gRPC connection without calls, a connection that has sent
// nothing yet), as nginx reuses its keep-alive connections; then of one
// that has sent bytes no whole request has come of yet (slow headers, a
// request whose body or gRPC message is still arriving, a gossip stream),
// longest waiting first. A connection idle for less than a grace (just
// accepted, or just served: its request may be on its way, unread) makes
// room only when no such one is left. Connections serving a request are
// never cut: when all are busy the new connection is refused (closed at
// once). A flood of idle or slow connections therefore cannot lock out a
// health probe, and the process keeps file descriptors for everything
// else.
//
// The listener learns what its connections do from the protocol above it:
// HTTPConnState for net/http, StatsHandler for gRPC. It finds a connection
// by its pair of addresses, which wrappers such as TLS keep.
package connlimit

import (
	"container/list"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// State says how much a connection would lose by being closed.
type State int32

const (
	// Idle: nothing asked of the server yet or any more. Evicted first.
	Idle State = iota
	// Pending: bytes arrived on an idle connection and the protocol has not
	// said whether a request came of them, or a request waits for the rest
	// of its body or message. Evicted when no idle one is left.
	Pending
	// Active: a request or call is in progress. Never evicted.
	Active
)

// Options configure a Listener.
type Options struct {
	// Max is the most connections open at once; it must be positive.
	Max int
	// Metrics, when set, counts for this listener (see NewMetrics).
	Metrics *Metrics
	// Name labels the listener's metrics.
	Name string
	// OnRefuse, when set, is called for every connection refused because
	// all Max connections were active. It must not block.
	OnRefuse func()
	// Grace is how long a connection that has just been accepted, or has
	// just been served, may stay idle before it counts as unused while
	// pending ones are held: its request may be on its way (the server
	// has not read it yet). 0 means DefaultGrace.
	Grace time.Duration
}

// DefaultGrace is Options.Grace's default: clients send a request
// within milliseconds of connecting, or of their previous answer.
const DefaultGrace = time.Second

// Listener is a net.Listener that holds at most Max connections.
type Listener struct {
	net.Listener
	max      int
	grace    time.Duration
	onRefuse func()
	m        listenerMetrics

	mu      sync.Mutex
	conns   map[string]*conn // by connKey
	idle    list.List        // of *conn, longest idle first
	pending list.List        // of *conn, longest pending first
}

// New wraps inner.
func New(inner net.Listener, opts Options) *Listener {
	l := &Listener{
		Listener: inner,
		max:      max(opts.Max, 1),
		grace:    opts.Grace,
		onRefuse: opts.OnRefuse,
		m:        opts.Metrics.forListener(opts.Name),
		conns:    make(map[string]*conn),
	}
	if l.grace <= 0 {
		l.grace = DefaultGrace
	}
	l.m.setMax(l.max)
	return l
}

// Max is the cap.
func (l *Listener) Max() int { return l.max }

// Open is the number of connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Accept waits for a connection and returns it once there is room for
// it, closing the longest-unused connection if need be. Connections
// refused because every held one is active are not returned.
func (l *Listener) Accept() (net.Conn, error) {
	backoff := 5 * time.Millisecond
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			if !outOfDescriptors(err) {
				return nil, err
			}
			// The process ran out of file descriptors (other sockets,
			// files): free one of ours that nobody uses, and wait rather
			// than spin on an error that persists.
			if victim := l.evict(); victim != nil {
				_ = victim.Conn.Close()
				l.m.evicted.Inc()
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		l.m.accepted.Inc()
		c := &conn{Conn: raw, l: l, key: connKey(raw.LocalAddr(), raw.RemoteAddr())}

		l.mu.Lock()
		now := time.Now()
		var victim *conn
		if len(l.conns) >= l.max {
			if victim = l.oldestLocked(now); victim != nil {
				l.removeLocked(victim)
			}
		}
		admitted := victim != nil || len(l.conns) < l.max
		if admitted {
			l.conns[c.key] = c
			c.elem, c.since = l.idle.PushBack(c), now
		}
		open := len(l.conns)
		l.mu.Unlock()

		if victim != nil {
			_ = victim.Conn.Close()
			l.m.evicted.Inc()
		}
		if !admitted {
			_ = raw.Close()
			l.m.refused.Inc()
			if l.onRefuse != nil {
				l.onRefuse()
			}
			continue
		}
		l.m.open.Set(float64(open))
		return c, nil
	}
}

// evict takes the longest-unused connection out of the count, or returns
// nil when all are active.
func (l *Listener) evict() *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	victim := l.oldestLocked(time.Now())
	if victim != nil {
		l.removeLocked(victim)
		l.m.open.Set(float64(len(l.conns)))
	}
	return victim
}

// oldestLocked picks the connection to evict: the longest idle one, but
// one idle for less than the grace only when no pending one is left.
func (l *Listener) oldestLocked(now time.Time) *conn {
	if e := l.idle.Front(); e != nil && now.Sub(e.Value.(*conn).since) >= l.grace {
		return e.Value.(*conn)
	}
	if e := l.pending.Front(); e != nil {
		return e.Value.(*conn)
	}
	if e := l.idle.Front(); e != nil {
		return e.Value.(*conn)
	}
	return nil
}

// removeLocked forgets c; its Close then only closes the socket.
func (l *Listener) removeLocked(c *conn) {
	if c.gone {
		return
	}
	c.gone = true
	l.unlinkLocked(c)
	if l.conns[c.key] == c {
		delete(l.conns, c.key)
	}
}

func (l *Listener) unlinkLocked(c *conn) {
	if c.elem == nil {
		return
	}
	switch c.state.Load() {
	case int32(Idle):
		l.idle.Remove(c.elem)
	case int32(Pending):
		l.pending.Remove(c.elem)
	}
	c.elem = nil
}

// setStateLocked moves c to s; a connection moved to Idle or Pending goes
// to the back of its line.
func (l *Listener) setStateLocked(c *conn, s State) {
	if c.gone || State(c.state.Load()) == s {
		return
	}
	l.unlinkLocked(c)
	c.state.Store(int32(s))
	c.since = time.Now()
	switch s {
	case Idle:
		c.elem = l.idle.PushBack(c)
	case Pending:
		c.elem = l.pending.PushBack(c)
	}
}

func (l *Listener) lookupLocked(local, remote net.Addr) *conn {
	if local == nil || remote == nil {
		return nil
	}
	return l.conns[connKey(local, remote)]
}

// SetState tells the listener what the connection between local and
// remote does now; unknown connections are ignored.
func (l *Listener) SetState(local, remote net.Addr, s State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.lookupLocked(local, remote); c != nil {
		l.setStateLocked(c, s)
	}
}

// HTTPConnState is for http.Server.ConnState: a connection is active from
// the moment its request has been read until its response is written.
func (l *Listener) HTTPConnState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateActive, http.StateHijacked:
		l.SetState(c.LocalAddr(), c.RemoteAddr(), Active)
	case http.StateIdle:
		l.SetState(c.LocalAddr(), c.RemoteAddr(), Idle)
	}
}

// connKey names a connection by its addresses, which stay the same through
// TLS and multiplexers.
func connKey(local, remote net.Addr) string { return local.String() + "|" + remote.String() }

// outOfDescriptors tells an Accept error caused by the file descriptor
// limit (of the process or the system).
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// conn is one held connection.
type conn struct {
	net.Conn
	l     *Listener
	key   string
	state atomic.Int32 // a State; written under l.mu
	// Under l.mu: its place in l.idle or l.pending, since when, and
	// whether it no longer counts (closed, or evicted).
	elem  *list.Element
	since time.Time
	gone  bool
}

// Read marks an idle connection pending when bytes arrive.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.state.Load() == int32(Idle) {
		c.l.mu.Lock()
		if c.state.Load() == int32(Idle) {
			c.l.setStateLocked(c, Pending)
		}
		c.l.mu.Unlock()
	}
	return n, err
}

// Close frees the connection's place.
func (c *conn) Close() error {
	c.l.mu.Lock()
	counted := !c.gone
	c.l.removeLocked(c)
	open := len(c.l.conns)
	c.l.mu.Unlock()
	if counted {
		c.l.m.open.Set(float64(open))
	}
	return c.Conn.Close()
}

// CloseWrite ends the sending side (a FIN) as *net.TCPConn does, for
// servers that close gently: they send why, then read what the client
// still sends, so that it gets the reason and not a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// NetConn is the connection underneath, as tls.Conn offers it.
func (c *conn) NetConn() net.Conn { return c.Conn }
