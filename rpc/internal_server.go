package rpc

import (
	"context"
	"crypto/subtle"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/rpc/internalpb"
)

// InternalTokenHeader carries the internal token between nodes (Axon's
// name; gRPC metadata keys are lower case on the wire).
const InternalTokenHeader = "axoniq-internaltoken"

// InternalBackend is what the internal service needs from the node.
type InternalBackend interface {
	Introduce(ctx context.Context, req *internalpb.IntroduceRequest) (*internalpb.IntroduceResponse, error)
	Leave(ctx context.Context, req *internalpb.LeaveRequest) error
}

type internalServer struct {
	internalpb.UnimplementedInternalServer
	backend InternalBackend
}

// RegisterInternal adds the internal service to s.
func RegisterInternal(s *grpc.Server, b InternalBackend) {
	internalpb.RegisterInternalServer(s, &internalServer{backend: b})
}

func (s *internalServer) Introduce(ctx context.Context, req *internalpb.IntroduceRequest) (*internalpb.IntroduceResponse, error) {
	if req.GetNode().GetName() == "" || req.GetNode().GetInfo().GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "introduce: node name and id are required")
	}
	return s.backend.Introduce(ctx, req)
}

func (s *internalServer) Leave(ctx context.Context, req *internalpb.LeaveRequest) (*internalpb.LeaveResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "leave: node name is required")
	}
	if err := s.backend.Leave(ctx, req); err != nil {
		return nil, err
	}
	return &internalpb.LeaveResponse{}, nil
}

// InternalTokenInterceptor refuses internal calls without the right
// AxonIQ-InternalToken. An empty token lets every call through.
func InternalTokenInterceptor(token string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if token == "" {
			return handler(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		got := md.Get(InternalTokenHeader)
		if len(got) == 0 || got[0] == "" {
			return nil, AxonError(codes.PermissionDenied, "AXONIQ-1000", "internal token missing: nodes must send AxonIQ-InternalToken (axoniq.axonserver.accesscontrol.internal-token)")
		}
		if subtle.ConstantTimeCompare([]byte(got[0]), []byte(token)) != 1 {
			return nil, AxonError(codes.PermissionDenied, "AXONIQ-1001", "invalid internal token: the nodes have different axoniq.axonserver.accesscontrol.internal-token values")
		}
		return handler(ctx, req)
	}
}
