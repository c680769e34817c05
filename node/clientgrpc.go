package node

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// clientServerOptions are the options of the client gRPC server (port
// axoniq.axonserver.port): credentials and interceptors go here.
func (n *Node) clientServerOptions() []grpc.ServerOption {
	return nil
}

// registerClientServices adds the services of the client port: gRPC health
// and reflection.
func (n *Node) registerClientServices() {
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.clientGRPC, n.health)
	reflection.Register(n.clientGRPC)
}
