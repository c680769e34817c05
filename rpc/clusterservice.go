package rpc

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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

// ClusterServer is roster's ClusterService on the client port.
type ClusterServer struct {
	rosterpb.UnimplementedClusterServiceServer

	self    string
	backend ClusterBackend
	stop    context.Context
	cancel  context.CancelFunc
	once    sync.Once
}

// NewClusterServer serves backend's membership as node self.
func NewClusterServer(self string, backend ClusterBackend) *ClusterServer {
	stop, cancel := context.WithCancel(context.Background())
	return &ClusterServer{self: self, backend: backend, stop: stop, cancel: cancel}
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
