package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/rpc/axonpb"
	"github.com/rosterhq/roster/rpc/controlpb"
)

// CodeUnsupportedInstruction is Axon's error code for an instruction the
// receiver does not handle.
const CodeUnsupportedInstruction = "AXONIQ-1002"

// UnsupportedDetail is what Axon Server puts in the details of the ack of
// an instruction it does not handle (its message stays empty).
const UnsupportedDetail = "Unsupported instruction"

// PlatformOptions configure a node's PlatformService.
type PlatformOptions struct {
	// Self is this node as clients reach it (with the ports actually bound).
	Self Target
	// Placement holds the alive nodes; the node updates it as membership
	// changes.
	Placement *Placement
	// HeartbeatInterval is how often the node sends a heartbeat to a client
	// that sends heartbeats itself (default 5s).
	HeartbeatInterval time.Duration
	// ClientTimeout: a client that has sent heartbeats and then sends
	// nothing for this long is disconnected (default 3 heartbeat intervals).
	// Clients that never send heartbeats are never timed out, as in Axon.
	ClientTimeout time.Duration
	// OnClients is called with the number of registered clients whenever
	// it changes. It runs under a lock: it must be quick and not block.
	OnClients func(int)
	// Registerer receives roster_client_connections; nil registers none.
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
}

// PlatformServer is Axon's PlatformService: it tells clients which node to
// use and keeps an instruction stream with each client connected here.
type PlatformServer struct {
	controlpb.UnimplementedPlatformServiceServer

	opts  PlatformOptions
	self  *controlpb.NodeInfo
	gauge prometheus.Gauge
	// departing: the node stops; GetPlatformServer answers other nodes and
	// nobody is rebalanced. draining: its clients are asked to move.
	departing atomic.Bool
	draining  atomic.Bool

	mu      sync.Mutex
	streams map[*platformStream]struct{}
	clients int           // registered streams
	closed  bool          // after Drain: new streams are told to go and closed
	gone    chan struct{} // closed (and replaced) whenever a stream ends
}

// platformStream is one client's OpenStream call.
type platformStream struct {
	reconnect chan struct{} // capacity 1: a pending request_reconnect
	closing   chan struct{}
	closeOnce sync.Once

	// Guarded by PlatformServer.mu.
	registered bool
	key        string            // placement key
	tags       map[string]string // the client's tags, for placement
	clientID   string
}

func (ps *platformStream) askReconnect() {
	select {
	case ps.reconnect <- struct{}{}:
	default: // one is pending already
	}
}

func (ps *platformStream) close() { ps.closeOnce.Do(func() { close(ps.closing) }) }

// NewPlatformServer prepares the service; Register adds it to a server.
func NewPlatformServer(opts PlatformOptions) (*PlatformServer, error) {
	if opts.Placement == nil || opts.Self.Name == "" {
		return nil, errors.New("rpc: platform service needs a placement and this node's name")
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	if opts.ClientTimeout <= 0 {
		opts.ClientTimeout = 3 * opts.HeartbeatInterval
	}
	s := &PlatformServer{
		opts:    opts,
		self:    opts.Self.nodeInfo(),
		streams: map[*platformStream]struct{}{},
		gone:    make(chan struct{}),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roster_client_connections",
			Help: "Client applications connected to this node's platform stream (registered OpenStream calls).",
		}),
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.gauge); err != nil {
			return nil, fmt.Errorf("rpc: register roster_client_connections: %w", err)
		}
	}
	return s, nil
}

// Register adds the service to g.
func (s *PlatformServer) Register(g *grpc.Server) { controlpb.RegisterPlatformServiceServer(g, s) }

// Clients is the number of clients registered on this node's stream.
func (s *PlatformServer) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients
}

// placementKey is what places a client: its id, else its component name.
func placementKey(ci *controlpb.ClientIdentification) string {
	if id := ci.GetClientId(); id != "" {
		return id
	}
	return ci.GetComponentName()
}

// GetPlatformServer answers the alive node placement picks for the client,
// by its tags and id, skipping the nodes the client says it cannot reach
// and, while this node stops, this node. With no such node left it
// answers itself.
func (s *PlatformServer) GetPlatformServer(_ context.Context, ci *controlpb.ClientIdentification) (*controlpb.PlatformInfo, error) {
	skip := ""
	if s.departing.Load() {
		skip = s.opts.Self.Name
	}
	if p := s.opts.Placement.pick(placementKey(ci), ci.GetTags(), skip, ci.GetTags()[AvoidTag], true); p != nil {
		return &controlpb.PlatformInfo{Primary: p.info, SameConnection: p.name == s.opts.Self.Name}, nil
	}
	return &controlpb.PlatformInfo{Primary: s.self, SameConnection: true}, nil
}

// OpenStream keeps one client's instruction stream: it registers the
// client, acknowledges what carries an instruction_id, exchanges
// heartbeats, and sends request_reconnect when the client should move.
func (s *PlatformServer) OpenStream(stream controlpb.PlatformService_OpenStreamServer) error {
	ps := &platformStream{reconnect: make(chan struct{}, 1), closing: make(chan struct{})}
	s.add(ps)
	defer s.remove(ps)

	ctx := stream.Context()
	inbound := make(chan *controlpb.PlatformInboundInstruction)
	recvErr := make(chan error, 1)
	// Recv blocks, so it runs beside the loop that owns Send.
	go func() {
		for {
			in, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case inbound <- in:
			case <-ctx.Done():
				return
			}
		}
	}()

	tick := time.NewTicker(s.opts.HeartbeatInterval)
	defer tick.Stop()
	beats, last := false, time.Now()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case in := <-inbound:
			last = time.Now()
			if in.GetHeartbeat() != nil {
				beats = true
			}
			if err := s.handle(stream, ps, in); err != nil {
				return err
			}
		case <-ps.reconnect:
			if err := sendReconnect(stream); err != nil {
				return err
			}
		case <-ps.closing:
			// A request_reconnect still pending goes first.
			select {
			case <-ps.reconnect:
				_ = sendReconnect(stream)
			default:
			}
			return status.Error(codes.Unavailable, "the node is shutting down: call GetPlatformServer for another node")
		case now := <-tick.C:
			if !beats {
				continue
			}
			if silent := now.Sub(last); silent > s.opts.ClientTimeout {
				s.opts.Logger.Info().Str("client", s.clientID(ps)).Dur("silent", silent).Msg("rpc: client stopped sending heartbeats; closing its stream")
				return status.Errorf(codes.DeadlineExceeded, "no message from the client for %s", silent.Round(time.Millisecond))
			}
			if err := stream.Send(&controlpb.PlatformOutboundInstruction{
				Request: &controlpb.PlatformOutboundInstruction_Heartbeat{Heartbeat: &controlpb.Heartbeat{}},
			}); err != nil {
				return err
			}
		}
	}
}

func sendReconnect(stream controlpb.PlatformService_OpenStreamServer) error {
	return stream.Send(&controlpb.PlatformOutboundInstruction{
		Request: &controlpb.PlatformOutboundInstruction_RequestReconnect{RequestReconnect: &controlpb.RequestReconnect{}},
	})
}

// handle answers one inbound instruction as Axon Server does: what it
// handles is acknowledged with success when it carries an instruction_id
// (an ack too), the rest with AXONIQ-1002 and "Unsupported instruction"
// in the details. Only a failed Send ends the stream: whatever the client
// sends, the stream survives it.
func (s *PlatformServer) handle(stream controlpb.PlatformService_OpenStreamServer, ps *platformStream, in *controlpb.PlatformInboundInstruction) error {
	id := in.GetInstructionId()
	switch r := in.GetRequest().(type) {
	case *controlpb.PlatformInboundInstruction_Register:
		if s.register(ps, r.Register) {
			if err := stream.Send(&controlpb.PlatformOutboundInstruction{
				Request: &controlpb.PlatformOutboundInstruction_NodeNotification{NodeNotification: s.self},
			}); err != nil {
				return err
			}
		}
		return s.ack(stream, id, nil)
	case *controlpb.PlatformInboundInstruction_Heartbeat:
		return s.ack(stream, id, nil)
	case *controlpb.PlatformInboundInstruction_Ack:
		if !r.Ack.GetSuccess() {
			s.opts.Logger.Debug().Str("client", s.clientID(ps)).Str("instruction", r.Ack.GetInstructionId()).
				Str("code", r.Ack.GetError().GetErrorCode()).Str("error", r.Ack.GetError().GetMessage()).
				Msg("rpc: client refused an instruction")
		}
		return s.ack(stream, id, nil)
	case *controlpb.PlatformInboundInstruction_EventProcessorInfo, *controlpb.PlatformInboundInstruction_Result:
		// Axon Framework reports its event processors periodically, and the
		// results of instructions; roster has no use for them, but they
		// are not errors.
		return s.ack(stream, id, nil)
	default:
		// Topology change subscriptions, or a request this version does
		// not know.
		return s.ack(stream, id, &axonpb.ErrorMessage{
			Location:  s.opts.Self.Name,
			Details:   []string{UnsupportedDetail},
			ErrorCode: CodeUnsupportedInstruction,
		})
	}
}

// ack acknowledges instruction id, if the client asked for it; a nil
// failure means success.
func (s *PlatformServer) ack(stream controlpb.PlatformService_OpenStreamServer, id string, failure *axonpb.ErrorMessage) error {
	if id == "" {
		return nil
	}
	return stream.Send(&controlpb.PlatformOutboundInstruction{
		Request: &controlpb.PlatformOutboundInstruction_Ack{Ack: &axonpb.InstructionAck{
			InstructionId: id,
			Success:       failure == nil,
			Error:         failure,
		}},
	})
}

// register records who the client is; true the first time on this stream.
func (s *PlatformServer) register(ps *platformStream, ci *controlpb.ClientIdentification) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps.key, ps.clientID, ps.tags = placementKey(ci), ci.GetClientId(), ci.GetTags()
	if ps.registered {
		return false
	}
	ps.registered = true
	s.setClientsLocked(s.clients + 1)
	s.opts.Logger.Debug().Str("client", ci.GetClientId()).Str("component", ci.GetComponentName()).Msg("rpc: client connected")
	return true
}

func (s *PlatformServer) clientID(ps *platformStream) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ps.clientID
}

func (s *PlatformServer) setClientsLocked(n int) {
	s.clients = n
	s.gauge.Set(float64(n))
	if s.opts.OnClients != nil {
		s.opts.OnClients(n)
	}
}

func (s *PlatformServer) add(ps *platformStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[ps] = struct{}{}
	// Other nodes may still send clients here until they hear this node
	// leave: send them on at once.
	if s.draining.Load() {
		ps.askReconnect()
	}
	if s.closed {
		ps.close()
	}
}

func (s *PlatformServer) remove(ps *platformStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, ps)
	if ps.registered {
		s.setClientsLocked(s.clients - 1)
		s.opts.Logger.Debug().Str("client", ps.clientID).Msg("rpc: client disconnected")
	}
	close(s.gone)
	s.gone = make(chan struct{})
}

// Rebalance sends request_reconnect to the clients here that placement now
// puts on joined, a node that just became alive: its fair share of the
// clients whose best tag match includes it comes from every node, and no
// other client moves. Loads are left out: they would send it all of them.
// It returns how many were asked.
func (s *PlatformServer) Rebalance(joined string) int { return s.rebalance(joined, true) }

// WouldRebalance is how many clients Rebalance would ask now.
func (s *PlatformServer) WouldRebalance(joined string) int { return s.rebalance(joined, false) }

// Sweep sends request_reconnect to the clients here that placement puts
// on target, leaving out those that registered avoiding a node (they come
// back by themselves once it answers). It is the periodic check that
// catches what a rebalance missed: a client placed while a peer had a
// stale view of the cluster. It returns how many were asked.
func (s *PlatformServer) Sweep(target string) int { return s.rebalanceWith(target, true, true) }

// WouldSweep is how many clients Sweep would ask now.
func (s *PlatformServer) WouldSweep(target string) int { return s.rebalanceWith(target, false, true) }

func (s *PlatformServer) rebalance(joined string, ask bool) int {
	return s.rebalanceWith(joined, ask, false)
}

func (s *PlatformServer) rebalanceWith(joined string, ask, skipAvoiding bool) int {
	if joined == s.opts.Self.Name || s.departing.Load() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ps := range s.streams {
		if !ps.registered || (skipAvoiding && ps.tags[AvoidTag] != "") {
			continue
		}
		if p := s.opts.Placement.pick(ps.key, ps.tags, "", "", false); p != nil && p.name == joined {
			if ask {
				ps.askReconnect()
			}
			n++
		}
	}
	return n
}

// Depart begins a shutdown: from now on GetPlatformServer answers other
// nodes and no client is rebalanced, while the clients here stay until
// Drain. The node tells its peers in between, so that none of them sends a
// client back here.
func (s *PlatformServer) Depart() { s.departing.Store(true) }

// Drain asks the clients to go (it departs first, if not yet done): every
// client here is sent request_reconnect, and Drain waits up to wait (or
// ctx) for their streams to end; it does not wait when no other node is
// alive. Streams still open then, and any opened later, are closed. It
// returns how many streams ended by themselves and how many were closed.
func (s *PlatformServer) Drain(ctx context.Context, wait time.Duration) (left, closed int) {
	s.departing.Store(true)
	s.draining.Store(true)
	if s.opts.Placement.pick("", nil, s.opts.Self.Name, "", false) == nil {
		wait = 0 // no other node to go to: clients would only come back
	}
	s.mu.Lock()
	before := len(s.streams)
	for ps := range s.streams {
		ps.askReconnect()
	}
	s.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	for waiting := true; waiting; {
		s.mu.Lock()
		n, gone := len(s.streams), s.gone
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-gone:
		case <-timer.C:
			waiting = false
		case <-ctx.Done():
			waiting = false
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ps := range s.streams {
		ps.close()
	}
	closed = len(s.streams)
	return max(before-closed, 0), closed
}
