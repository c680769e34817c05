package node

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/internalpb"
)

// internalBackend answers other nodes on the internal gRPC service.
type internalBackend struct{ n *Node }

func (b internalBackend) Introduce(_ context.Context, req *internalpb.IntroduceRequest) (*internalpb.IntroduceResponse, error) {
	n := b.n
	caller := memberFromPB(req.GetNode())
	if req.GetClusterName() != n.cfg.Cluster.Name {
		return nil, rpc.AxonError(codes.FailedPrecondition, api.CodeCannotJoin,
			"node %s belongs to cluster %q, node %s to cluster %q (axoniq.axonserver.cluster.name)", caller.Name, req.GetClusterName(), n.cfg.Name, n.cfg.Cluster.Name)
	}
	if self := n.cluster.Local(); caller.Info.ID == self.Info.ID {
		// The caller dialed its own internal port, through an address
		// that did not look like its own (a NAT, a Service, an alias).
		return nil, rpc.AxonError(codes.InvalidArgument, api.CodeSameNodeName,
			"that address leads to node %s itself: give the internal address of another node of the cluster", self.Name)
	}
	if err := n.cluster.Admit(caller, req.GetReturning()); err != nil {
		switch {
		case errors.Is(err, gossip.ErrUnregistered):
			return nil, rpc.AxonError(codes.FailedPrecondition, api.CodeNotAMember, "%s", errMsg(err))
		case errors.Is(err, gossip.ErrNotRegistered):
			return nil, rpc.AxonError(codes.NotFound, api.CodeNoSuchNode, "%s", errMsg(err))
		case errors.Is(err, gossip.ErrNameTaken):
			msg := errMsg(err)
			if taken := (*gossip.NameTakenError)(nil); errors.As(err, &taken) {
				msg += "; give the new node another " + keyName
			}
			return nil, rpc.AxonError(codes.AlreadyExists, api.CodeSameNodeName, "%s", msg)
		}
		return nil, rpc.AxonError(codes.InvalidArgument, api.CodeCannotJoin, "%s", errMsg(err))
	}
	self := n.cluster.Local()
	resp := &internalpb.IntroduceResponse{Name: self.Name, NodeId: self.Info.ID}
	for _, m := range n.cluster.Members() {
		resp.Members = append(resp.Members, memberToPB(m))
	}
	for _, t := range n.cluster.Tombstones() {
		resp.Unregistered = append(resp.Unregistered, &internalpb.Tombstone{Name: t.Name, Id: t.ID, At: timestamppb.New(t.At)})
	}
	return resp, nil
}

func (b internalBackend) Leave(_ context.Context, req *internalpb.LeaveRequest) error {
	n := b.n
	self := n.cluster.Local()
	if req.GetName() != self.Name {
		return rpc.AxonError(codes.FailedPrecondition, api.CodeNoSuchNode, "this is node %s (id %s), not %s (id %s)", self.Name, self.Info.ID, req.GetName(), req.GetNodeId())
	}
	n.log.Warn().Str("by", req.GetRequestedBy()).Msg("node: unregistered from the cluster; leaving and running standalone")
	if err := n.cluster.LeaveForUnregister(req.GetNodeId()); err != nil {
		if errors.Is(err, gossip.ErrNoSuchMember) {
			return rpc.AxonError(codes.FailedPrecondition, api.CodeNoSuchNode, "%s", errMsg(err))
		}
		return rpc.AxonError(codes.Internal, api.CodeInternal, "leave: %v", err)
	}
	return nil
}

// Lists tells whether this node lists the node asked about (with that id,
// when given), and with what status.
func (b internalBackend) Lists(_ context.Context, req *internalpb.ListsRequest) (*internalpb.ListsResponse, error) {
	n := b.n
	resp := &internalpb.ListsResponse{AnsweredBy: n.cfg.Name}
	if m, ok := n.cluster.Member(req.GetName()); ok && (req.GetNodeId() == "" || m.Info.ID == req.GetNodeId()) {
		resp.Listed, resp.Status = true, string(m.Status)
	}
	return resp, nil
}

// errJoinedSelf is a join through an address that led to this node itself.
var errJoinedSelf = errors.New("node: that address leads to this node itself")

// introducer is gossip's Introducer over the internal gRPC service.
type introducer struct{ n *Node }

func (i introducer) Introduce(ctx context.Context, address string, self gossip.Member, returning bool) (gossip.Introduction, error) {
	resp, err := i.n.internal.Introduce(ctx, address, &internalpb.IntroduceRequest{
		ClusterName: i.n.cfg.Cluster.Name,
		Node:        memberToPB(self),
		Returning:   returning,
	})
	if err != nil {
		if code, msg, ok := rpc.AxonCode(err); ok {
			switch {
			case code == api.CodeSameNodeName && status.Code(err) == codes.InvalidArgument:
				return gossip.Introduction{}, fmt.Errorf("%w: %w: %s", gossip.ErrNameTaken, errJoinedSelf, msg)
			}
			switch code {
			case api.CodeNotAMember:
				return gossip.Introduction{}, fmt.Errorf("%w: %s", gossip.ErrUnregistered, msg)
			case api.CodeSameNodeName:
				return gossip.Introduction{}, fmt.Errorf("%w: %s", gossip.ErrNameTaken, msg)
			case api.CodeNoSuchNode:
				return gossip.Introduction{}, fmt.Errorf("%w: %s", gossip.ErrNotRegistered, msg)
			}
			return gossip.Introduction{}, api.Errorf(code, "%s", msg)
		}
		return gossip.Introduction{}, fmt.Errorf("node: introduce to %s: %w", address, err)
	}
	intro := gossip.Introduction{Name: resp.GetName(), NodeID: resp.GetNodeId()}
	for _, m := range resp.GetMembers() {
		intro.Members = append(intro.Members, memberFromPB(m))
	}
	for _, t := range resp.GetUnregistered() {
		intro.Tombstones = append(intro.Tombstones, gossip.Tombstone{Name: t.GetName(), ID: t.GetId(), At: t.GetAt().AsTime()})
	}
	return intro, nil
}

func memberToPB(m gossip.Member) *internalpb.Member {
	return &internalpb.Member{
		Name: m.Name,
		Info: &internalpb.NodeInfo{
			Id: m.Info.ID, ClientHost: m.Info.ClientHost, GrpcPort: int32(m.Info.GRPCPort), HttpPort: int32(m.Info.HTTPPort),
			InternalHost: m.Info.InternalHost, InternalPort: int32(m.Info.InternalPort), Version: m.Info.Version, Clients: int32(m.Info.Clients),
		},
		Addr:   m.Addr,
		Status: string(m.Status),
		Since:  timestamppb.New(m.Since),
	}
}

func memberFromPB(p *internalpb.Member) gossip.Member {
	i := p.GetInfo()
	st := gossip.Status(p.GetStatus())
	switch st {
	case gossip.StatusAlive, gossip.StatusSuspect, gossip.StatusFailed, gossip.StatusLeft:
	default:
		st = gossip.StatusFailed
	}
	return gossip.Member{
		Name: p.GetName(),
		Info: gossip.NodeInfo{
			ID: i.GetId(), ClientHost: i.GetClientHost(), GRPCPort: int(i.GetGrpcPort()), HTTPPort: int(i.GetHttpPort()),
			InternalHost: i.GetInternalHost(), InternalPort: int(i.GetInternalPort()), Version: i.GetVersion(), Clients: int(i.GetClients()),
		},
		Addr:   p.GetAddr(),
		Status: st,
		Since:  p.GetSince().AsTime(),
	}
}
