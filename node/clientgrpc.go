package node

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/rosterhq/roster/internal/connlimit"
	"github.com/rosterhq/roster/rpc"
)

// clientServerOptions are the options of the client gRPC server (port
// axoniq.axonserver.port): limits, credentials and interceptors.
func (n *Node) clientServerOptions() []grpc.ServerOption {
	opts := n.grpcLimitOptions(n.conns.grpc)
	// Metrics before access control, so refused calls are counted too; the
	// AxonIQ-ErrorCode trailer too, so refused calls carry it.
	opts = append(opts, n.grpcMetrics.serverOptions(grpcServerClient)...)
	codeUnary, codeStream := rpc.ErrorCodeInterceptors()
	opts = append(opts, grpc.ChainUnaryInterceptor(codeUnary), grpc.ChainStreamInterceptor(codeStream))
	if creds := n.clientCredentials(); creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	return append(opts, n.accessControlOptions()...)
}

// internalServerOptions are the options of the internal gRPC server (on
// axoniq.axonserver.internal-port): the same limits, and the internal
// token. Metrics first, so calls the token check refuses are counted too.
func (n *Node) internalServerOptions() []grpc.ServerOption {
	opts := n.grpcLimitOptions(n.conns.internal)
	opts = append(opts, n.grpcMetrics.serverOptions(grpcServerInternal)...)
	return append(opts,
		grpc.ChainUnaryInterceptor(rpc.InternalTokenInterceptor(rpc.Token{Value: n.internalToken(), Setting: keyInternalToken})),
		grpc.ChainStreamInterceptor(rpc.InternalTokenStreamInterceptor(rpc.Token{Value: n.internalToken(), Setting: keyInternalToken})))
}

// grpcMaxHeaderListSize bounds the headers of a gRPC call, counted as
// HTTP/2 does (name, value and 32 bytes a header). gRPC Java (Axon
// Server's) takes 8 KiB by default, so every Axon client fits in twice
// that; gRPC Go's default, 16 MiB, would let a stranger make the node hold
// 16 MiB for each connection that sends a header block and never ends it.
const grpcMaxHeaderListSize = 16 << 10

// grpcLimitOptions bound what a connection may hold on a gRPC server whose
// connections conns caps:
//   - the TLS and HTTP/2 handshakes must end within the connection
//     timeout (gRPC's default is two minutes);
//   - at most GRPCMaxConcurrentStreams calls at once per connection;
//   - a connection without calls for GRPCMaxConnectionIdle is closed
//     (a connection that only sent the HTTP/2 preface, for one);
//   - clients may ping every MinKeepAliveTime, with or without calls, as
//     Axon Server permits (axoniq.axonserver.min-keep-alive-time, 1 s): Axon's
//     Java connector asks for pings every second (gRPC Java sends them
//     every 10 s at most), roster's resolver every 10 s, and a client
//     holding a stream notices a node that stopped answering in seconds.
//     Faster pings end the connection (GOAWAY too_many_pings);
//   - a call's headers (metadata) may take grpcMaxHeaderListSize bytes;
//   - conns learns which connections have calls in progress, to close
//     unused ones first at its cap.
func (n *Node) grpcLimitOptions(conns *connlimit.Listener) []grpc.ServerOption {
	l := n.cfg.Limits
	return []grpc.ServerOption{
		grpc.ConnectionTimeout(l.GRPCConnectionTimeout),
		grpc.MaxHeaderListSize(grpcMaxHeaderListSize),
		grpc.MaxConcurrentStreams(uint32(min(l.GRPCMaxConcurrentStreams, 1<<31))),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: l.GRPCMaxConnectionIdle}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             l.MinKeepAliveTime,
			PermitWithoutStream: true,
		}),
		grpc.StatsHandler(conns.StatsHandler()),
	}
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
