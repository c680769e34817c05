// Package node is roster's composition root: it turns a Config into a
// running node. A node listens on three ports:
//
//   - server.port (HTTP): REST API, dashboard, health, metrics;
//   - axoniq.axonserver.port (client gRPC): Axon's PlatformService and
//     roster's cluster service;
//   - axoniq.axonserver.internal-port (UDP and TCP): gossip packets on UDP;
//     on TCP, gossip streams and the internal gRPC service, told apart by
//     the first byte of each connection (memberlist's label header).
//
// New validates and prepares; Start binds and starts everything, cleaning
// up on error; Ready tells when the node serves; Stop leaves the cluster
// gracefully and is safe to call twice.
package node
