package client

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/rpc/axonpb"
	"github.com/rosterhq/roster/rpc/controlpb"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

// session is the client's time on one node: a connection, the platform
// stream registered on it, heartbeats and the membership stream.
type session struct {
	c      *Client
	conn   *grpc.ClientConn
	server Server

	ctx    context.Context // the streams'; cancelled by closeStream
	cancel context.CancelFunc
	stream controlpb.PlatformService_OpenStreamClient
	sendMu sync.Mutex // gRPC streams allow one sender at a time
	// displaced: the client came here avoiding a node it could not reach;
	// once it avoids none, it checks whether it should go back.
	displaced atomic.Bool
	probing   atomic.Bool
	lastProbe time.Time // heartbeat goroutine only
	seq       atomic.Uint64
	last      atomic.Int64 // unix nanoseconds of the last message from the node

	endOnce sync.Once
	ended   chan struct{}
	end     endReason

	mu       sync.Mutex
	inflight int
	retired  bool
	idle     chan struct{} // closed once retired with no call running
}

// endReason is why a session ended.
type endReason struct {
	reconnect bool // the node sent request_reconnect
	err       error
}

// startSession opens the platform stream on conn, registers, and waits for
// the node's first word (node_notification, the ack, or request_reconnect).
func startSession(c *Client, conn *grpc.ClientConn, srv Server) (*session, error) {
	ctx, cancel := context.WithCancel(c.ctx)
	s := &session{c: c, conn: conn, server: srv, ctx: ctx, cancel: cancel,
		ended: make(chan struct{}), idle: make(chan struct{})}
	timedOut := atomic.Bool{}
	timer := time.AfterFunc(c.cfg.CallTimeout, func() { timedOut.Store(true); cancel() })
	first, err := s.register()
	timer.Stop()
	if err != nil {
		cancel()
		if timedOut.Load() {
			err = fmt.Errorf("no answer within %s: %w", c.cfg.CallTimeout, err)
		}
		return nil, fmt.Errorf("client: register on %s: %w", srv.Address, err)
	}
	if n := first.GetNodeNotification(); n != nil && n.GetNodeName() != "" {
		s.server.Name, s.server.HTTPPort = n.GetNodeName(), int(n.GetHttpPort())
	}
	s.displaced.Store(c.avoidedNames() != "")
	s.handle(first)
	go s.receive()
	go s.heartbeats()
	go s.watch()
	return s, nil
}

func (s *session) register() (*controlpb.PlatformOutboundInstruction, error) {
	stream, err := controlpb.NewPlatformServiceClient(s.conn).OpenStream(s.ctx)
	if err != nil {
		return nil, err
	}
	s.stream = stream
	if err := s.send(&controlpb.PlatformInboundInstruction{
		Request:       &controlpb.PlatformInboundInstruction_Register{Register: s.c.identification()},
		InstructionId: "register",
	}); err != nil {
		return nil, err
	}
	m, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	s.last.Store(time.Now().UnixNano())
	return m, nil
}

func (s *session) send(m *controlpb.PlatformInboundInstruction) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(m)
}

func (s *session) finish(r endReason) {
	s.endOnce.Do(func() {
		s.end = r
		close(s.ended)
	})
}

// wait blocks until the session ends or ctx does.
func (s *session) wait(ctx context.Context) endReason {
	select {
	case <-s.ended:
		return s.end
	case <-ctx.Done():
		s.finish(endReason{err: ctx.Err()})
		return s.end
	}
}

func (s *session) receive() {
	for {
		m, err := s.stream.Recv()
		if err != nil {
			s.finish(endReason{err: fmt.Errorf("client: stream from %s (%s) ended: %w", s.server.Name, s.server.Address, err)})
			return
		}
		s.last.Store(time.Now().UnixNano())
		s.handle(m)
	}
}

// handle answers one instruction from the node.
func (s *session) handle(m *controlpb.PlatformOutboundInstruction) {
	id := m.GetInstructionId()
	switch m.GetRequest().(type) {
	case *controlpb.PlatformOutboundInstruction_RequestReconnect:
		s.finish(endReason{reconnect: true})
		s.ack(id, nil)
	case *controlpb.PlatformOutboundInstruction_NodeNotification, *controlpb.PlatformOutboundInstruction_Heartbeat:
		s.ack(id, nil)
	case *controlpb.PlatformOutboundInstruction_Ack:
	default:
		s.ack(id, &axonpb.ErrorMessage{Message: "unsupported instruction", Location: s.c.cfg.ClientID, ErrorCode: "AXONIQ-1002"})
	}
}

func (s *session) ack(id string, failure *axonpb.ErrorMessage) {
	if id == "" {
		return
	}
	_ = s.send(&controlpb.PlatformInboundInstruction{Request: &controlpb.PlatformInboundInstruction_Ack{
		Ack: &axonpb.InstructionAck{InstructionId: id, Success: failure == nil, Error: failure},
	}})
}

// heartbeats sends one every interval, each asking for an ack, and ends
// the session when the node has been silent too long.
func (s *session) heartbeats() {
	t := time.NewTicker(s.c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.ended:
			return
		case now := <-t.C:
			if silent := now.Sub(time.Unix(0, s.last.Load())); silent > s.c.cfg.HeartbeatTimeout {
				s.finish(endReason{err: fmt.Errorf("client: nothing from %s (%s) for %s", s.server.Name, s.server.Address, silent.Round(time.Millisecond))})
				return
			}
			err := s.send(&controlpb.PlatformInboundInstruction{
				Request:       &controlpb.PlatformInboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}},
				InstructionId: "heartbeat-" + strconv.FormatUint(s.seq.Add(1), 10),
			})
			if err != nil {
				s.finish(endReason{err: fmt.Errorf("client: heartbeat to %s (%s): %w", s.server.Name, s.server.Address, err)})
				return
			}
			s.checkHome()
		}
	}
}

// checkHome moves a displaced client back where placement wants it, as if
// its node had sent request_reconnect: a node that restarts faster than
// failure detection gives the cluster no join to rebalance on. It asks
// once it avoids no node any more, and whenever a probe of the nodes it
// avoids (now and then, beside the heartbeat goroutine it runs on) finds
// one answering again: placement, which still skips those it avoids, may
// want it there now although another is still down.
func (s *session) checkHome() {
	if !s.displaced.Load() {
		return
	}
	if s.c.avoidedNames() != "" {
		if time.Since(s.lastProbe) >= 2*s.c.cfg.HeartbeatInterval && s.probing.CompareAndSwap(false, true) {
			s.lastProbe = time.Now()
			go func() {
				defer s.probing.Store(false)
				if s.c.probeAvoided(s.ctx) > 0 {
					s.goHomeIfElsewhere()
				}
			}()
		}
		return
	}
	s.displaced.Store(false)
	s.goHomeIfElsewhere()
}

// goHomeIfElsewhere ends the session as request_reconnect would when the
// node says the client belongs elsewhere.
func (s *session) goHomeIfElsewhere() {
	if info := s.askPlatform(s.ctx, s.c.identification()); info != nil && !info.GetSameConnection() {
		s.finish(endReason{reconnect: true})
	}
}

// watch follows the node's membership stream, which keeps the client's
// list of nodes to fail over to. A node without it (Axon Server) is fine.
func (s *session) watch() {
	for s.ctx.Err() == nil {
		err := s.watchOnce()
		if status.Code(err) == codes.Unimplemented {
			return
		}
		t := time.NewTimer(time.Second)
		select {
		case <-s.ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *session) watchOnce() error {
	stream, err := rosterpb.NewClusterServiceClient(s.conn).WatchMembership(s.ctx, &rosterpb.WatchMembershipRequest{})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		if joined := s.c.nodes.apply(ev); len(joined) > 0 {
			s.c.forget(joined)
		}
	}
}

// askPlatform asks the session's node where the client should go now.
func (s *session) askPlatform(ctx context.Context, id *controlpb.ClientIdentification) *controlpb.PlatformInfo {
	ctx, cancel := context.WithTimeout(ctx, s.c.cfg.CallTimeout)
	defer cancel()
	info, err := controlpb.NewPlatformServiceClient(s.conn).GetPlatformServer(ctx, id)
	if err != nil {
		return nil
	}
	return info
}

// closeStream ends the platform and membership streams: the node sees the
// client go.
func (s *session) closeStream() { s.cancel() }

// acquire counts a call on the session's connection; false once retired.
func (s *session) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		return false
	}
	s.inflight++
	return true
}

func (s *session) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.retired && s.inflight == 0 {
		close(s.idle)
	}
}

// retire closes the connection once the calls running on it are done,
// after grace, or as soon as gRPC tries to connect again: then the node is
// gone, and a call waiting for that connection was never sent. Closing
// fails it at once, so that it goes to the next node instead of waiting
// (as long as its deadline) on a node that may never answer again: a
// stopped container's address swallows connection attempts.
func (s *session) retire(grace time.Duration) {
	s.mu.Lock()
	s.retired = true
	busy := s.inflight > 0
	s.mu.Unlock()
	if !busy {
		_ = s.conn.Close()
		return
	}
	go func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		broken := make(chan struct{})
		go func() {
			// Ready, or Idle after the node's GOAWAY: calls sent run to
			// their end on the node, which drains them.
			st := s.conn.GetState()
			for st == connectivity.Ready || st == connectivity.Idle {
				if !s.conn.WaitForStateChange(ctx, st) {
					return
				}
				st = s.conn.GetState()
			}
			close(broken)
		}()
		select {
		case <-s.idle:
		case <-t.C:
		case <-broken:
		}
		_ = s.conn.Close()
	}()
}
