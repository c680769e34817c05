package rpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/rosterhq/roster/rpc/internalpb"
)

// InternalClient calls other nodes' internal service. Each call dials
// anew: these calls are rare (joins, unregistering) and go to changing
// addresses.
type InternalClient struct {
	// Creds secures the connection; nil means plain TCP.
	Creds credentials.TransportCredentials
	// Token is sent as AxonIQ-InternalToken when set.
	Token string
}

func (c *InternalClient) call(ctx context.Context, address string, f func(context.Context, internalpb.InternalClient) error) error {
	creds := c.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("rpc: dial %s: %w", address, err)
	}
	defer conn.Close()
	if c.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, InternalTokenHeader, c.Token)
	}
	return f(ctx, internalpb.NewInternalClient(conn))
}

// Introduce asks the node at address whether the caller may join.
func (c *InternalClient) Introduce(ctx context.Context, address string, req *internalpb.IntroduceRequest) (*internalpb.IntroduceResponse, error) {
	var resp *internalpb.IntroduceResponse
	err := c.call(ctx, address, func(ctx context.Context, cl internalpb.InternalClient) error {
		var err error
		resp, err = cl.Introduce(ctx, req, grpc.WaitForReady(false))
		return err
	})
	return resp, err
}

// Leave tells the node at address that it was unregistered.
func (c *InternalClient) Leave(ctx context.Context, address string, req *internalpb.LeaveRequest) error {
	return c.call(ctx, address, func(ctx context.Context, cl internalpb.InternalClient) error {
		_, err := cl.Leave(ctx, req)
		return err
	})
}
