package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/rosterhq/roster/gossip"
)

// internalCredentials secure this node's calls to other nodes' internal
// gRPC service; nil without TLS.
func (n *Node) internalCredentials() credentials.TransportCredentials {
	if n.tls == nil {
		return nil
	}
	return &internalCreds{t: n.tls, names: n.peerNames}
}

// gossipDialer opens gossip streams to other nodes inside TLS; nil (plain
// TCP) without TLS.
func (n *Node) gossipDialer() gossip.Dialer {
	if n.tls == nil {
		return nil
	}
	return func(ctx context.Context, address string) (net.Conn, error) {
		d := tls.Dialer{Config: n.tls.internalClientConfig(n.peerNames(address))}
		return d.DialContext(ctx, "tcp", address)
	}
}

// peerNames are the names a peer's certificate may carry when it is
// dialed at address (host:port, or a bare host): the host dialed, and,
// when that is a member's gossip address (an IP), its internal host name.
func (n *Node) peerNames(address string) []string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	names := []string{host}
	if n.cluster == nil {
		return names
	}
	for _, m := range n.cluster.Members() {
		if m.Addr == address && m.Info.InternalHost != host {
			names = append(names, m.Info.InternalHost)
		}
	}
	return names
}

// internalCreds are gRPC credentials that verify the dialed node's
// certificate against the names of the address dialed (gRPC's own TLS
// credentials cannot: the trust file may change, and an IP is not sent in
// SNI, so the verifier would not learn it).
type internalCreds struct {
	t     *tlsSetup
	names func(address string) []string
}

func (c *internalCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.t.internalClientConfig(c.names(authority))).ClientHandshake(ctx, authority, raw)
}

func (c *internalCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("node: internal credentials are for dialing only")
}

func (c *internalCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

func (c *internalCreds) Clone() credentials.TransportCredentials { cp := *c; return &cp }

func (c *internalCreds) OverrideServerName(string) error { return nil }
