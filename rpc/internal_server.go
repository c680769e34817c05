package rpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
	Lists(ctx context.Context, req *internalpb.ListsRequest) (*internalpb.ListsResponse, error)
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

func (s *internalServer) Lists(ctx context.Context, req *internalpb.ListsRequest) (*internalpb.ListsResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "lists: node name is required")
	}
	return s.backend.Lists(ctx, req)
}
