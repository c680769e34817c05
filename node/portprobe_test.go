package node_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/node/portprobe"
)

// The probe tells a node's three ports apart from what they answer, with
// and without TLS, and reads the node's ports where the token allows.
func TestPortProbeTellsTheNodesPorts(t *testing.T) {
	t.Parallel()
	plain := runNode(t, testConfig(t, "plain", t.TempDir()))
	ctx := context.Background()
	want := &portprobe.Ports{Name: "plain", HTTP: plain.Config().HTTPPort, GRPC: plain.Config().Port, Internal: plain.Config().InternalPort}

	for _, c := range []struct {
		addr string
		kind portprobe.Kind
		node *portprobe.Ports
		what string
	}{
		{plain.HTTPAddr(), portprobe.HTTP, want, "the HTTP port (server.port) of node plain, without TLS"},
		{plain.GRPCAddr(), portprobe.ClientGRPC, want, "the client gRPC port (axoniq.axonserver.port) of node plain, without TLS"},
		{plain.InternalAddr(), portprobe.Internal, nil, "the internal port (axoniq.axonserver.internal-port) of a roster node, without TLS"},
	} {
		r, err := portprobe.Probe(ctx, c.addr, portprobe.Options{})
		require.NoError(t, err, c.addr)
		assert.Equal(t, c.kind, r.Kind, c.addr)
		assert.False(t, r.TLS, c.addr)
		assert.Equal(t, c.node, r.Node, c.addr)
		assert.Equal(t, c.what, r.What(), c.addr)
	}

	ca := node.NewTestCA(t, "probe-ca")
	secure := runNode(t, secureConfig(t, "secure", security{ca: ca, key: newGossipKey(t)}))
	trusted := &tls.Config{RootCAs: ca.Pool}
	sp := &portprobe.Ports{Name: "secure", HTTP: secure.Config().HTTPPort, GRPC: secure.Config().Port, Internal: secure.Config().InternalPort}
	for _, c := range []struct {
		addr string
		kind portprobe.Kind
		opts portprobe.Options
		node *portprobe.Ports
		mtls bool
	}{
		{secure.HTTPAddr(), portprobe.HTTP, portprobe.Options{}, nil, false},
		{secure.HTTPAddr(), portprobe.HTTP, portprobe.Options{TLS: trusted, Token: testToken}, sp, false},
		{secure.GRPCAddr(), portprobe.ClientGRPC, portprobe.Options{}, nil, false},
		{secure.GRPCAddr(), portprobe.ClientGRPC, portprobe.Options{TLS: trusted, Token: testToken}, sp, false},
		{secure.InternalAddr(), portprobe.Unknown, portprobe.Options{}, nil, true},
	} {
		r, err := portprobe.Probe(ctx, c.addr, c.opts)
		require.NoError(t, err, c.addr)
		assert.Equal(t, c.kind, r.Kind, c.addr)
		assert.True(t, r.TLS, c.addr)
		assert.Equal(t, c.mtls, r.ClientCertRequired, c.addr)
		assert.Equal(t, c.node, r.Node, c.addr)
	}
}

// The token goes in plain text only when the caller did not ask for TLS.
func TestPortProbeKeepsTheTokenOffPlainText(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "guarded", t.TempDir())
	cfg.AccessControl = node.AccessControlConfig{Enabled: true, Token: testToken}
	cfg.Cluster.EncryptionKey = newGossipKey(t)
	n := runNode(t, cfg)
	ctx := context.Background()
	for _, addr := range []string{n.HTTPAddr(), n.GRPCAddr()} {
		r, err := portprobe.Probe(ctx, addr, portprobe.Options{Token: testToken})
		require.NoError(t, err)
		require.NotNil(t, r.Node, "%s with the token", addr)
		r, err = portprobe.Probe(ctx, addr, portprobe.Options{Token: testToken, TokenOverTLSOnly: true})
		require.NoError(t, err)
		assert.Nil(t, r.Node, "%s: the token was not sent", addr)
		assert.NotEqual(t, portprobe.Unknown, r.Kind)
	}
}
