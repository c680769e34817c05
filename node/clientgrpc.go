package node

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// clientServerOptions are the options of the client gRPC server (port
// axoniq.axonserver.port): credentials and interceptors go here.
func (n *Node) clientServerOptions() []grpc.ServerOption {
	// A client that connects and never finishes its handshake is dropped
	// after this long rather than gRPC's default of two minutes.
	opts := []grpc.ServerOption{grpc.ConnectionTimeout(10 * time.Second)}
	// Metrics before access control, so refused calls are counted too.
	opts = append(opts, n.grpcMetrics.serverOptions(grpcServerClient)...)
	if creds := n.clientCredentials(); creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	return append(opts, n.accessControlOptions()...)
}

// registerClientServices adds the services of the client port: Axon's
// PlatformService and roster's ClusterService (node/platform.go), gRPC
// health and reflection.
func (n *Node) registerClientServices() error {
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.clientGRPC, n.health)
	if err := n.startClientServices(); err != nil {
		return err
	}
	reflection.Register(n.clientGRPC)
	return nil
}
