package node

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// clientServerOptions are the options of the client gRPC server (port
// axoniq.axonserver.port): credentials and interceptors go here.
func (n *Node) clientServerOptions() []grpc.ServerOption {
	// A client that connects and never finishes its handshake is dropped
	// after this long rather than gRPC's default of two minutes.
	opts := []grpc.ServerOption{grpc.ConnectionTimeout(10 * time.Second), clientKeepalive()}
	// Metrics before access control, so refused calls are counted too.
	opts = append(opts, n.grpcMetrics.serverOptions(grpcServerClient)...)
	if creds := n.clientCredentials(); creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	return append(opts, n.accessControlOptions()...)
}

// clientKeepalive lets clients check a connection with HTTP/2 pings every
// 10 s (gRPC's least; its default policy ends the connection of a client
// that pings more often than every 5 minutes), so that clients holding a
// stream open (the resolver's membership stream) notice a node that
// stopped answering without closing the connection (a paused container, a
// partition, a powered-off host) in seconds.
func clientKeepalive() grpc.ServerOption {
	return grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime:             5 * time.Second,
		PermitWithoutStream: true,
	})
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
