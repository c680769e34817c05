package node_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
)

// Tokens of the secure test clusters.
const (
	testToken         = "client-s3cret"
	testInternalToken = "node-s3cret"
)

// security is what a secure test node is started with.
type security struct {
	ca            *node.TestCA // issues the node's certificate
	trust         *node.TestCA // internal-trust-manager-file; nil: ca
	key           string       // gossip key; "" for none
	token         string       // access token; "" for testToken
	internalToken string       // "" for testInternalToken
}

// newGossipKey is what roster keygen prints.
func newGossipKey(t testing.TB) string {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// secureConfig is testConfig with everything on: tokens, a gossip key,
// TLS on all ports and mutual TLS between nodes.
func secureConfig(t testing.TB, name string, s security) node.Config {
	t.Helper()
	cfg := testConfig(t, name, t.TempDir())
	cfg.AccessControl = node.AccessControlConfig{Enabled: true, Token: or(s.token, testToken), InternalToken: or(s.internalToken, testInternalToken)}
	cert, key := s.ca.Issue(t, name)
	trust := s.trust
	if trust == nil {
		trust = s.ca
	}
	cfg.SSL = node.SSLConfig{Enabled: true, CertChainFile: cert, PrivateKeyFile: key, InternalTrustManagerFile: trust.File}
	cfg.Cluster.EncryptionKey = s.key
	return cfg
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runNodeWithMetrics is runNode with a registry the test can read.
func runNodeWithMetrics(t testing.TB, cfg node.Config) (*node.Node, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	n, err := node.Start(context.Background(), cfg, node.Options{Logger: testLogger(t), Metrics: reg})
	require.NoError(t, err)
	t.Cleanup(func() { stop(n) })
	return n, reg
}

// secureClient talks HTTPS to n, trusting ca, with token.
func secureClient(n *node.Node, ca *node.TestCA, token string) *api.Client {
	c := api.NewClient("https://"+n.HTTPAddr(), token, false)
	tr := c.HTTP.Transport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	return c
}

func secureStatuses(c *api.Client) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, x := range nodes {
		out[x.Name] = x.Status
	}
	return out
}

// runSecureCluster starts count nodes n1..nN with s and registers them
// through n1; it returns the nodes and a client (with the token) for each.
func runSecureCluster(t testing.TB, count int, s security) ([]*node.Node, []*api.Client) {
	t.Helper()
	nodes := make([]*node.Node, count)
	clients := make([]*api.Client, count)
	for i := range nodes {
		nodes[i] = runNode(t, secureConfig(t, fmt.Sprintf("n%d", i+1), s))
		clients[i] = secureClient(nodes[i], s.ca, testToken)
	}
	for _, n := range nodes[1:] {
		register(t, n, nodes[0])
	}
	waitAllAlive(t, 15*time.Second, nodes, clients)
	return nodes, clients
}

// waitAllAlive waits until every client's node lists every node alive.
func waitAllAlive(t testing.TB, within time.Duration, nodes []*node.Node, clients []*api.Client) {
	t.Helper()
	want := map[string]string{}
	for _, n := range nodes {
		want[n.Name()] = "alive"
	}
	for i, c := range clients {
		eventually(t, within, "all alive on "+nodes[i].Name(), func() bool {
			return mapsEqual(secureStatuses(c), want)
		})
	}
}

// dropped reads roster_gossip_dropped_total for reason from reg.
func dropped(t testing.TB, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "roster_gossip_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// requireAPIError checks err is an *api.Error with code whose message
// contains every part.
func requireAPIError(t testing.TB, err error, code string, parts ...string) {
	t.Helper()
	var ae *api.Error
	require.ErrorAs(t, err, &ae, "%v", err)
	require.Equal(t, code, ae.Code, ae.Message)
	for _, p := range parts {
		require.True(t, strings.Contains(ae.Message, p), "message %q lacks %q", ae.Message, p)
	}
}
