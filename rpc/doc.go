// Package rpc holds roster's gRPC surfaces: the internal node-to-node
// service on the internal port, Axon's PlatformService and roster's own
// cluster service on the client port, their generated code, and clients.
// It knows nothing of gossip: package node adapts the cluster to the small
// backend interfaces declared here.
package rpc
