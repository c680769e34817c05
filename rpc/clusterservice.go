package rpc

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/rpc/rosterpb"
)

// ErrWatchLagged ends a ClusterBackend.Watch whose subscriber fell behind:
// the service starts over with a fresh snapshot.
var ErrWatchLagged = errors.New("rpc: membership watch fell behind")

// ClusterBackend is what roster's ClusterService needs from the node.
type ClusterBackend interface {
	// Nodes lists every registered node, sorted by name.
	Nodes() []*rosterpb.Node
	// Watch subscribes to membership changes, calls subscribed once the
	// subscription is in place (so that a snapshot taken then misses
	// nothing), then each for every change until ctx ends or a callback
	// fails. It returns ErrWatchLagged when the subscription fell behind.
	Watch(ctx context.Context, subscribed func() error, each func(*rosterpb.MembershipEvent) error) error
}

// WatchLimits bound the WatchMembership streams a node serves at once: each
// holds a subscription and a goroutine, so a client must not open them
// without end. Zero means no bound.
type WatchLimits struct {
	// Total bounds all streams.
	Total int
	// PerConnection bounds the streams of one client connection.
	PerConnection int
	// TotalSetting and PerConnectionSetting name the settings the bounds
	// came from, for the refusal; either may be empty.
	TotalSetting, PerConnectionSetting string
}

// setting is name in parentheses, or nothing without one.
func setting(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

// ClusterServer is roster's ClusterService on the client port.
type ClusterServer struct {
	rosterpb.UnimplementedClusterServiceServer

	self    string
	backend ClusterBackend
	limits  WatchLimits
	stop    context.Context
	cancel  context.CancelFunc
	once    sync.Once

	mu      sync.Mutex
	watches int            // open streams
	perConn map[string]int // open streams by connection (peerKey)
}

// NewClusterServer serves backend's membership as node self.
func NewClusterServer(self string, backend ClusterBackend, limits WatchLimits) *ClusterServer {
	stop, cancel := context.WithCancel(context.Background())
	return &ClusterServer{self: self, backend: backend, limits: limits, stop: stop, cancel: cancel, perConn: map[string]int{}}
}

// Register adds the service to g.
func (s *ClusterServer) Register(g *grpc.Server) { rosterpb.RegisterClusterServiceServer(g, s) }

// Close ends every membership stream, so that a graceful stop of the gRPC
// server does not wait for them.
func (s *ClusterServer) Close() { s.once.Do(s.cancel) }

func (s *ClusterServer) ListNodes(context.Context, *rosterpb.ListNodesRequest) (*rosterpb.ListNodesResponse, error) {
	return &rosterpb.ListNodesResponse{Nodes: s.backend.Nodes(), AnsweredBy: s.self}, nil
}

func (s *ClusterServer) WatchMembership(_ *rosterpb.WatchMembershipRequest, stream rosterpb.ClusterService_WatchMembershipServer) error {
	release, err := s.admitWatch(stream.Context())
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(s.stop, cancel)()
	snapshot := func() error {
		return stream.Send(&rosterpb.MembershipEvent{
			Type:       rosterpb.MembershipEvent_TYPE_SNAPSHOT,
			Nodes:      s.backend.Nodes(),
			AnsweredBy: s.self,
		})
	}
	each := func(ev *rosterpb.MembershipEvent) error {
		ev.AnsweredBy = s.self
		return stream.Send(ev)
	}
	for {
		err := s.backend.Watch(ctx, snapshot, each)
		switch {
		case s.stop.Err() != nil:
			return status.Error(codes.Unavailable, "the node is shutting down: watch another node")
		case ctx.Err() != nil:
			return status.FromContextError(ctx.Err()).Err()
		case errors.Is(err, ErrWatchLagged):
			continue // start over with a new snapshot
		default:
			return err
		}
	}
}

// admitWatch counts a new stream in, or refuses it with RESOURCE_EXHAUSTED
// naming the limit it would pass.
func (s *ClusterServer) admitWatch(ctx context.Context) (release func(), err error) {
	conn := peerKey(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.limits.PerConnection; n > 0 && s.perConn[conn] >= n {
		return nil, status.Errorf(codes.ResourceExhausted,
			"this connection already has %d membership streams open, the most allowed%s: close one first", n, setting(s.limits.PerConnectionSetting))
	}
	if n := s.limits.Total; n > 0 && s.watches >= n {
		return nil, status.Errorf(codes.ResourceExhausted,
			"node %s already serves %d membership streams, the most allowed%s: watch another node or retry later", s.self, n, setting(s.limits.TotalSetting))
	}
	s.watches++
	s.perConn[conn]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.watches--
		if s.perConn[conn]--; s.perConn[conn] <= 0 {
			delete(s.perConn, conn)
		}
	}, nil
}

// peerKey names the client connection of a call by its two addresses.
func peerKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	local := ""
	if p.LocalAddr != nil {
		local = p.LocalAddr.String()
	}
	return local + "|" + p.Addr.String()
}
