// Package client connects Go programs to a roster cluster the way Axon
// clients connect to Axon Server: give it the client addresses of a few
// nodes (seeds) and it finds the node to use, stays connected to it, and
// moves when it should.
//
// # Client
//
// New starts a Client in the background. It asks a seed's PlatformService
// which node serves this client (GetPlatformServer), connects to the answer,
// registers on its instruction stream (OpenStream) and exchanges heartbeats
// with it. When the node sends request_reconnect (it shuts down, or a node
// joined and this client is part of its fair share), the client asks that
// node where to go and moves. When its node dies, it fails over at once to
// another node it knows, telling it (tag "roster.avoid") which node it could
// not reach, so it lands where every node will place it once gossip
// declares that node dead. The list of nodes it knows starts with the seeds
// and follows roster's membership stream (ClusterService.WatchMembership).
//
// A Client is a grpc.ClientConnInterface: generated stubs use it directly,
// and each call goes to the node the client is connected to, waiting for one
// while the client moves. Invoke retries a call that failed because its node
// went away (Unavailable while the client was moving) on the next node, so
// unary calls should be idempotent; streams are not retried.
//
// # Resolver
//
// NewResolverBuilder returns a gRPC resolver for the scheme "roster": with
//
//	grpc.NewClient("roster:///host1:8124,host2:8124",
//		grpc.WithResolvers(client.NewResolverBuilder(client.ResolverOptions{})),
//		grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// any gRPC client balances (round robin by default) over the client
// addresses of the cluster's alive nodes, and follows membership as nodes
// join, leave and fail. RegisterResolver registers it globally instead, for
// programs that cannot pass dial options; it is opt-in.
package client
