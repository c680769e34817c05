package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/rpc/controlpb"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("client: closed")

// avoidTag lists the nodes a client could not reach (rpc.AvoidTag; this
// package does not import the server side).
const avoidTag = "roster.avoid"

// Config configures a Client.
type Config struct {
	// Seeds are client addresses (host:port; port 8124 when omitted) of
	// some nodes of the cluster. At least one is required.
	Seeds []string
	// ClientID identifies this instance; placement is by this id.
	// Default: host name, process id and a random suffix.
	ClientID string
	// ComponentName names the application. Default: the program's name.
	ComponentName string
	// Tags are sent with the client's identification.
	Tags map[string]string
	// Credentials secure the connections; nil means plain TCP.
	Credentials credentials.TransportCredentials
	// AccessToken, when set, is sent as AxonIQ-Access-Token with every
	// call (axoniq.axonserver.accesscontrol.token on the nodes).
	AccessToken string
	// DialOptions are added to every connection: interceptors, keepalive.
	DialOptions []grpc.DialOption
	// HeartbeatInterval is how often the client sends a heartbeat on its
	// stream (default 2s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout: the node counts as gone when nothing arrives on the
	// stream for this long (default 3 heartbeat intervals). A crashed node
	// is noticed at once (its connection is reset); this catches networks
	// that drop everything silently.
	HeartbeatTimeout time.Duration
	// CallTimeout bounds each call the client makes for itself:
	// GetPlatformServer, registering (default 2s).
	CallTimeout time.Duration
	// RetireGrace bounds how long calls still running on a node the client
	// left may take before that connection is closed (default 10s).
	RetireGrace time.Duration
	// OnEvent, when set, is told of every connection change. It runs on the
	// client's goroutine: keep it quick.
	OnEvent func(Event)
}

// Server is the node a client is connected to.
type Server struct {
	Name     string
	Address  string // host:port of its client gRPC port
	HTTPPort int
}

// EventType says what happened to a client's connection.
type EventType int

const (
	// EventConnected: the client registered on Server's stream.
	EventConnected EventType = iota + 1
	// EventDisconnected: the client left Server; Err is nil when the node
	// asked it to reconnect, else it says what failed.
	EventDisconnected
	// EventUnreachable: no node answered; the client keeps trying, with
	// backoff. Err is the last failure.
	EventUnreachable
)

func (t EventType) String() string {
	switch t {
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	case EventUnreachable:
		return "unreachable"
	}
	return "unknown"
}

// Event is one change of a client's connection.
type Event struct {
	Type   EventType
	Server Server
	Err    error
	// Gap, on EventConnected, is how long the client was without a server:
	// zero the first time, and when it moved at a node's request (it
	// registers on the new node before it leaves the old one, so that
	// EventConnected comes before the old node's EventDisconnected).
	Gap time.Duration
}

// Client keeps a program connected to a roster cluster. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	seeds  []string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	nodes  *membership

	mu      sync.Mutex
	cur     *session
	changed chan struct{} // closed and replaced when cur changes
	avoid   map[string]avoided
	closed  bool
}

// avoided is a node the client could not reach, by name and address.
type avoided struct {
	addr  string
	until time.Time
}

// avoidFor is how long an unreachable node is avoided unless membership
// says it is back sooner.
const avoidFor = 30 * time.Second

// New starts a client: it connects in the background; WaitConnected waits
// for the first connection, and calls wait for one by themselves.
func New(cfg Config) (*Client, error) {
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("client: at least one seed address is required")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = defaultClientID()
	}
	if cfg.ComponentName == "" {
		cfg.ComponentName = filepath.Base(os.Args[0])
	}
	if cfg.Credentials == nil {
		cfg.Credentials = insecure.NewCredentials()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 3 * cfg.HeartbeatInterval
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 2 * time.Second
	}
	if cfg.RetireGrace <= 0 {
		cfg.RetireGrace = 10 * time.Second
	}
	c := &Client{
		cfg:     cfg,
		done:    make(chan struct{}),
		nodes:   newMembership(),
		changed: make(chan struct{}),
		avoid:   map[string]avoided{},
	}
	for _, s := range cfg.Seeds {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.seeds = append(c.seeds, seedAddress(a))
			}
		}
	}
	if len(c.seeds) == 0 {
		return nil, errors.New("client: at least one seed address is required")
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c, nil
}

func defaultClientID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d@%s-%s", os.Getpid(), host, hex.EncodeToString(b))
}

// ID is the client id placement uses.
func (c *Client) ID() string { return c.cfg.ClientID }

// Server is the node the client is connected to, if any.
func (c *Client) Server() (Server, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return Server{}, false
	}
	return c.cur.server, true
}

// Nodes is the cluster as the client last heard it from its node's
// membership stream, sorted by name (empty until then).
func (c *Client) Nodes() []*rosterpb.Node { return c.nodes.list() }

// WaitConnected waits until the client is connected to a node.
func (c *Client) WaitConnected(ctx context.Context) (Server, error) {
	s, err := c.session(ctx)
	if err != nil {
		return Server{}, err
	}
	s.release()
	return s.server, nil
}

// Close disconnects and stops the client.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.cancel()
	<-c.done
	return nil
}

// session returns the current session, acquired for one call, waiting for
// one while the client moves.
func (c *Client) session(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, changed, closed := c.cur, c.changed, c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if s != nil && s.acquire() {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (c *Client) setCurrent(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = s
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) emit(ev Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(ev)
	}
}

// run connects, stays connected while the session lasts, and moves.
func (c *Client) run() {
	defer close(c.done)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	var next *controlpb.PlatformInfo // an answer already in hand
	var lost time.Time               // when the client last lost its server
	bounces := 0
	for c.ctx.Err() == nil {
		s, err := c.connect(next)
		next = nil
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.emit(Event{Type: EventUnreachable, Err: err})
			if !c.sleep(backoff) {
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		ev := Event{Type: EventConnected, Server: s.server}
		if !lost.IsZero() {
			ev.Gap = time.Since(lost)
		}
		c.setCurrent(s)
		c.emit(ev)

		var end endReason
		for {
			end = s.wait(c.ctx)
			lost = time.Now()
			if c.ctx.Err() != nil || !end.reconnect {
				break
			}
			// Ask the node that sent us away where to go, while it still
			// serves (a stopping node waits for its streams to end).
			next = s.askPlatform(c.ctx, c.identification())
			ns, tried := c.handOver(s, next)
			if ns == nil {
				if tried {
					next = nil // unreachable: ask the others
				}
				break
			}
			s, next = ns, nil
		}
		c.setCurrent(nil)
		switch {
		case c.ctx.Err() != nil:
			end.err = ErrClosed
		case end.reconnect:
		default:
			c.avoidNode(s.server.Name, s.server.Address)
		}
		s.closeStream()
		c.emit(Event{Type: EventDisconnected, Server: s.server, Err: end.err})
		s.retire(c.cfg.RetireGrace)
		// A node that sends the client away and then back to itself (it is
		// stopping and no other node is left) must not make it spin.
		if next.GetPrimary().GetNodeName() != s.server.Name {
			bounces = 0
		} else if bounces++; !c.sleep(min(minBackoff<<min(bounces, 6), maxBackoff)) {
			return
		}
	}
}

// handOver moves the client to the node next names while old still holds
// its stream, make before break: a stopping node waits for its streams to
// end before it announces its leave, so its clients are registered
// elsewhere by the time its peers see it go, and calls go on over old
// until the new session is current. It returns nil when next names no
// other node, and tried when that node could not be reached (it is then
// avoided); the caller moves the slow way.
func (c *Client) handOver(old *session, next *controlpb.PlatformInfo) (ns *session, tried bool) {
	p := next.GetPrimary()
	if p == nil || p.GetNodeName() == old.server.Name {
		return nil, false
	}
	ns, err := c.open(nil, p)
	if err != nil {
		c.avoidNode(p.GetNodeName(), address(p.GetHostName(), p.GetGrpcPort()))
		return nil, true
	}
	c.setCurrent(ns)
	c.emit(Event{Type: EventConnected, Server: ns.server})
	old.closeStream()
	c.emit(Event{Type: EventDisconnected, Server: old.server})
	old.retire(c.cfg.RetireGrace)
	return ns, false
}

func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// identification is the client's ClientIdentification, with the nodes it
// currently avoids.
func (c *Client) identification() *controlpb.ClientIdentification {
	tags := make(map[string]string, len(c.cfg.Tags)+1)
	for k, v := range c.cfg.Tags {
		tags[k] = v
	}
	if names := c.avoidedNames(); names != "" {
		tags[avoidTag] = names
	}
	return &controlpb.ClientIdentification{
		ClientId:      c.cfg.ClientID,
		ComponentName: c.cfg.ComponentName,
		Tags:          tags,
		Version:       "roster-go-client",
	}
}

func (c *Client) avoidNode(name, addr string) {
	if name == "" {
		name = addr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.avoid[name] = avoided{addr: addr, until: time.Now().Add(avoidFor)}
}

// forget stops avoiding nodes that membership says are alive again.
func (c *Client) forget(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		delete(c.avoid, n)
	}
}

func (c *Client) avoidedNames() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for n, a := range c.avoid {
		if time.Now().After(a.until) {
			delete(c.avoid, n)
			continue
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// probeAvoided stops avoiding the nodes that answer GetPlatformServer
// again, and says how many did.
func (c *Client) probeAvoided(ctx context.Context) int {
	c.mu.Lock()
	probe := make(map[string]string, len(c.avoid))
	for name, a := range c.avoid {
		probe[name] = a.addr
	}
	c.mu.Unlock()
	back := 0
	for name, addr := range probe {
		conn, err := c.dial(addr)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		_, err = controlpb.NewPlatformServiceClient(conn).GetPlatformServer(ctx, c.identification())
		cancel()
		_ = conn.Close()
		if err == nil {
			c.forget([]string{name})
			back++
		}
	}
	return back
}

func (c *Client) avoidedAddr(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.avoid {
		if a.addr == addr && time.Now().Before(a.until) {
			return true
		}
	}
	return false
}

// candidates are the addresses to ask, in order: alive nodes from
// membership, then the seeds; avoided ones last.
func (c *Client) candidates() []string {
	seen := map[string]bool{}
	var first, last []string
	for _, a := range append(c.nodes.alive(), c.seeds...) {
		if seen[a] {
			continue
		}
		seen[a] = true
		if c.avoidedAddr(a) {
			last = append(last, a)
		} else {
			first = append(first, a)
		}
	}
	return append(first, last...)
}

// connect finds the node to use and registers on its stream: the answer in
// hand first, else whatever the candidates answer.
func (c *Client) connect(next *controlpb.PlatformInfo) (*session, error) {
	if p := next.GetPrimary(); p != nil {
		if s, err := c.open(nil, p); err == nil {
			return s, nil
		}
		c.avoidNode(p.GetNodeName(), address(p.GetHostName(), p.GetGrpcPort()))
	}
	var errs []error
	for _, addr := range c.candidates() {
		if c.ctx.Err() != nil {
			return nil, c.ctx.Err()
		}
		s, err := c.via(addr)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("client: no node answered: %w", errors.Join(errs...))
}

// via asks the node at addr where to go, and goes there. When the answer
// cannot be reached it asks again, avoiding it; when nothing else works it
// stays on the node it asked, which is alive and serves any client.
func (c *Client) via(addr string) (*session, error) {
	conn, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
		info, err := controlpb.NewPlatformServiceClient(conn).GetPlatformServer(ctx, c.identification())
		cancel()
		if err != nil {
			_ = conn.Close()
			c.avoidNode("", addr)
			return nil, fmt.Errorf("client: GetPlatformServer on %s: %w", addr, err)
		}
		if info.GetSameConnection() {
			return c.open(conn, info.GetPrimary())
		}
		s, err := c.open(nil, info.GetPrimary())
		if err == nil {
			_ = conn.Close()
			return s, nil
		}
		c.avoidNode(info.GetPrimary().GetNodeName(), address(info.GetPrimary().GetHostName(), info.GetPrimary().GetGrpcPort()))
	}
	return c.open(conn, nil)
}

func (c *Client) dial(addr string) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(c.cfg.Credentials)}, tokenOption(c.cfg.AccessToken)...)
	conn, err := grpc.NewClient("passthrough:///"+addr, append(opts, c.cfg.DialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	return conn, nil
}

// open registers on the stream of the node described by info, over conn
// or a new connection to it. With conn and no info, the node is whichever
// answers on conn.
func (c *Client) open(conn *grpc.ClientConn, info *controlpb.NodeInfo) (*session, error) {
	srv := Server{Name: info.GetNodeName(), HTTPPort: int(info.GetHttpPort())}
	if info != nil {
		srv.Address = address(info.GetHostName(), info.GetGrpcPort())
	}
	if conn == nil {
		var err error
		if conn, err = c.dial(srv.Address); err != nil {
			return nil, err
		}
	} else if srv.Address == "" {
		srv.Address = strings.TrimPrefix(conn.Target(), "passthrough:///")
	}
	s, err := startSession(c, conn, srv)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}
