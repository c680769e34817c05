package node_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/controlpb"
	"github.com/rosterhq/roster/rpc/internalpb"
)

// TestSecureClusterChecksEveryDoor runs three nodes with tokens, a gossip
// key and (mutual) TLS, and knocks on each port without, with a wrong and
// with the right token, and in plain text.
func TestSecureClusterChecksEveryDoor(t *testing.T) {
	t.Parallel()
	ca := node.NewTestCA(t, "roster-test-ca")
	nodes, clients := runSecureCluster(t, 3, security{ca: ca, key: newGossipKey(t)})
	ctx := context.Background()
	n := nodes[1]

	t.Run("rest", func(t *testing.T) {
		_, err := secureClient(n, ca, "").Nodes(ctx)
		requireAPIError(t, err, api.CodeAuthTokenMissing, api.TokenHeader)
		_, err = secureClient(n, ca, "wrong").Nodes(ctx)
		requireAPIError(t, err, api.CodeInvalidToken)
		_, err = secureClient(n, ca, "").ListKeys(ctx)
		requireAPIError(t, err, api.CodeAuthTokenMissing)
		me, err := clients[1].Me(ctx)
		require.NoError(t, err)
		require.True(t, me.Authentication)
		require.True(t, me.SSL)
		// Health stays open, for probes.
		resp, err := secureClient(n, ca, "").HTTP.Get("https://" + n.HTTPAddr() + "/actuator/health")
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("rest in plain http", func(t *testing.T) {
		hc := &http.Client{Timeout: 5 * time.Second}
		resp, err := hc.Get("http://" + n.HTTPAddr() + "/v1/public")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, string(body), "Client sent an HTTP request to an HTTPS server")
	})

	t.Run("client grpc", func(t *testing.T) {
		conn := dialTLS(t, n.GRPCAddr(), &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
		// gRPC health is open, like /actuator/health: probes carry no token.
		hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.GetStatus())

		platform := controlpb.NewPlatformServiceClient(conn)
		id := &controlpb.ClientIdentification{ClientId: "c1", ComponentName: "security-test"}
		_, err = platform.GetPlatformServer(ctx, id)
		requireGRPCError(t, err, codes.PermissionDenied, "AXONIQ-1000")
		_, err = platform.GetPlatformServer(withToken(ctx, rpc.AccessTokenHeader, "wrong"), id)
		requireGRPCError(t, err, codes.PermissionDenied, "AXONIQ-1001")
		info, err := platform.GetPlatformServer(withToken(ctx, rpc.AccessTokenHeader, testToken), id)
		require.NoError(t, err)
		require.NotEmpty(t, info.GetPrimary().GetNodeName())

		// Streams are checked too (reflection is a stream).
		requireStreamRefused := func(ctx context.Context, code string) {
			s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			require.NoError(t, err)
			// The server may refuse before the request is sent: Send then
			// says io.EOF and Recv has the status.
			err = s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
			}
			_, err = s.Recv()
			requireGRPCError(t, err, codes.PermissionDenied, code)
		}
		requireStreamRefused(ctx, "AXONIQ-1000")
		requireStreamRefused(withToken(ctx, rpc.AccessTokenHeader, "wrong"), "AXONIQ-1001")
		s, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(withToken(ctx, rpc.AccessTokenHeader, testToken))
		require.NoError(t, err)
		require.NoError(t, s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
		_, err = s.Recv()
		require.NoError(t, err)
	})

	t.Run("client grpc in plain text", func(t *testing.T) {
		requirePlainGRPCRefusedQuickly(t, n.GRPCAddr())
		requirePlainHTTPAnswered(t, n.GRPCAddr())
	})

	t.Run("internal grpc", func(t *testing.T) {
		intro := &internalpb.IntroduceRequest{ClusterName: "test", Node: &internalpb.Member{Name: "probe", Info: &internalpb.NodeInfo{Id: "x"}}}
		// Mutual TLS: without a certificate the handshake fails.
		noCert := dialTLS(t, n.InternalAddr(), &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
		_, err := internalpb.NewInternalClient(noCert).Introduce(ctx, intro)
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

		certFile, keyFile := ca.Issue(t, "probe")
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		require.NoError(t, err)
		conn := dialTLS(t, n.InternalAddr(), &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		internal := internalpb.NewInternalClient(conn)
		_, err = internal.Introduce(ctx, intro)
		requireGRPCError(t, err, codes.PermissionDenied, "AXONIQ-1000")
		_, err = internal.Introduce(withToken(ctx, rpc.InternalTokenHeader, testToken), intro)
		requireGRPCError(t, err, codes.PermissionDenied, "AXONIQ-1001", "internal-token")
		resp, err := internal.Introduce(withToken(ctx, rpc.InternalTokenHeader, testInternalToken), intro)
		require.NoError(t, err)
		require.Len(t, resp.GetMembers(), 3)
	})

	t.Run("internal port in plain text", func(t *testing.T) {
		requirePlainGRPCRefusedQuickly(t, n.InternalAddr())
		requirePlainHTTPAnswered(t, n.InternalAddr())
	})

	// Nobody was disturbed by all this.
	waitAllAlive(t, 5*time.Second, nodes, clients)
}

// TestSecureClusterRefusesStrangers tries to join a secure cluster
// without the gossip key, with another one, with a certificate another CA
// signed, with another internal token, and through a node whose
// certificate the CA did not sign.
func TestSecureClusterRefusesStrangers(t *testing.T) {
	t.Parallel()
	ca := node.NewTestCA(t, "roster-test-ca")
	key := newGossipKey(t)
	cfg1 := secureConfig(t, "n1", security{ca: ca, key: key})
	n1, reg1 := runNodeWithMetrics(t, cfg1)
	n2 := runNode(t, secureConfig(t, "n2", security{ca: ca, key: key}))
	register(t, n2, n1)
	nodes := []*node.Node{n1, n2}
	clients := []*api.Client{secureClient(n1, ca, testToken), secureClient(n2, ca, testToken)}
	waitAllAlive(t, 15*time.Second, nodes, clients)
	port := n1.Config().InternalPort
	ctx := context.Background()
	join := func(n *node.Node, via int) error {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return n.Register(ctx, "127.0.0.1", via)
	}

	t.Run("without the gossip key", func(t *testing.T) {
		// Access control without a gossip key does not even start
		// (TestAccessControlNeedsGossipKey).
		_, err := node.New(secureConfig(t, "nokey", security{ca: ca}), node.Options{})
		require.ErrorContains(t, err, "axoniq.axonserver.cluster.encryption-key")
	})
	t.Run("with another gossip key", func(t *testing.T) {
		before := dropped(t, reg1, "decrypt")
		s := runNode(t, secureConfig(t, "otherkey", security{ca: ca, key: newGossipKey(t)}))
		requireAPIError(t, join(s, port), api.CodeCannotJoin, "gossip exchange failed", "no installed keys could decrypt")
		eventually(t, 5*time.Second, "dropped and counted", func() bool { return dropped(t, reg1, "decrypt") > before })
	})
	rogue := node.NewTestCA(t, "rogue-ca")
	t.Run("with a certificate another CA signed", func(t *testing.T) {
		s := runNode(t, secureConfig(t, "rogue", security{ca: rogue, trust: ca, key: key}))
		requireAPIError(t, join(s, port), api.CodeCannotJoin, "TLS", "refused this node's certificate", "unknown certificate authority")
	})
	t.Run("through a node with a certificate another CA signed", func(t *testing.T) {
		r := runNode(t, secureConfig(t, "rogue2", security{ca: rogue, trust: rogue, key: key}))
		s := runNode(t, secureConfig(t, "n3", security{ca: ca, key: key}))
		requireAPIError(t, join(s, r.Config().InternalPort), api.CodeCannotJoin, "TLS", "not trusted", "certificate signed by unknown authority")
	})
	t.Run("with another internal token", func(t *testing.T) {
		s := runNode(t, secureConfig(t, "othertoken", security{ca: ca, key: key, internalToken: "not-the-one"}))
		requireAPIError(t, join(s, port), api.CodeCannotJoin, "internal token", "axoniq.axonserver.accesscontrol.internal-token")
	})
	t.Run("without TLS", func(t *testing.T) {
		cfg := testConfig(t, "plain", t.TempDir())
		cfg.AccessControl = node.AccessControlConfig{Enabled: true, Token: testToken, InternalToken: testInternalToken}
		cfg.Cluster.EncryptionKey = key
		s := runNode(t, cfg)
		requireAPIError(t, join(s, port), api.CodeCannotJoin, "TLS", "axoniq.axonserver.ssl.enabled=false")
	})

	// The cluster is as it was.
	for _, c := range clients {
		require.Equal(t, map[string]string{"n1": "alive", "n2": "alive"}, secureStatuses(c))
	}
}

// TestKeyRotationAcrossCluster rotates the gossip key of a secure
// three-node cluster (install, use, remove) while watching that no node
// is ever seen anything but alive, then restarts a node from its saved
// keyring.
func TestKeyRotationAcrossCluster(t *testing.T) {
	t.Parallel()
	ca := node.NewTestCA(t, "roster-test-ca")
	k1, k2 := newGossipKey(t), newGossipKey(t)
	nodes, clients := runSecureCluster(t, 3, security{ca: ca, key: k1})
	ctx := context.Background()

	watch := watchStatuses(clients)
	report, err := clients[1].InstallKey(ctx, k2)
	require.NoError(t, err)
	requireEveryNode(t, report, "install", 3, func(n api.KeyNode) bool {
		return n.PrimaryKey == k1 && len(n.Keys) == 2
	})
	require.Equal(t, map[string]int{k1: 3, k2: 3}, report.Keys)

	// Refusals change nothing.
	_, err = clients[0].RemoveKey(ctx, k1, false)
	requireAPIError(t, err, api.CodeInvalidValue, "in use", "primary key of n1, n2, n3")
	_, err = clients[0].UseKey(ctx, newGossipKey(t))
	requireAPIError(t, err, api.CodeInvalidValue, "not installed", "n1, n2, n3", "install it first")
	_, err = clients[0].InstallKey(ctx, "c2hvcnQ=")
	requireAPIError(t, err, api.CodeInvalidValue, "decodes to 5 bytes")

	report, err = clients[2].UseKey(ctx, k2)
	require.NoError(t, err)
	requireEveryNode(t, report, "use", 3, func(n api.KeyNode) bool { return n.PrimaryKey == k2 })
	report, err = clients[0].RemoveKey(ctx, k1, false)
	require.NoError(t, err)
	requireEveryNode(t, report, "remove", 3, func(n api.KeyNode) bool {
		return n.PrimaryKey == k2 && len(n.Keys) == 1
	})
	require.Equal(t, map[string]int{k2: 3}, report.Keys)
	// Gossip goes on under the new key: the watcher keeps sampling a few
	// probe rounds more.
	watch.sampleFor(t, 2*time.Second)
	watch.stop(t)

	for _, n := range nodes {
		require.Equal(t, []string{k2}, savedKeyring(t, n), "keyring.json of %s", n.Name())
	}

	// A restart after the rotation: n3's configured key is the old one,
	// its saved keyring wins (with a warning) and it talks to the others.
	cfg3 := nodes[2].Config()
	stop(nodes[2])
	waitStatus3(t, clients[:2], "n3", "left")
	require.Equal(t, k1, cfg3.Cluster.EncryptionKey)
	n3 := runNode(t, cfg3)
	nodes[2], clients[2] = n3, secureClient(n3, ca, testToken)
	waitAllAlive(t, 20*time.Second, nodes, clients)
	report, err = clients[2].ListKeys(ctx)
	require.NoError(t, err)
	for _, n := range report.Nodes {
		require.Equal(t, n.Name == "n3", strings.Contains(n.Warning, "differs from axoniq.axonserver.cluster.encryption-key"), "warning of %s: %q", n.Name, n.Warning)
	}

	// A node that is down blocks removing a key it may still need, unless forced.
	k3 := newGossipKey(t)
	nodes[2].Kill()
	waitStatus3(t, clients[:2], "n3", "failed")
	_, err = clients[0].InstallKey(ctx, k3)
	require.NoError(t, err)
	report, err = clients[0].UseKey(ctx, k3)
	require.NoError(t, err)
	require.Equal(t, "not reached (failed)", report.Nodes[2].Message)
	_, err = clients[1].RemoveKey(ctx, k2, false)
	requireAPIError(t, err, api.CodeInvalidValue, "n3 (failed) did not answer", "force")
	report, err = clients[1].RemoveKey(ctx, k2, true)
	require.NoError(t, err)
	require.True(t, report.Nodes[0].OK && report.Nodes[1].OK && !report.Nodes[2].OK)
}

// TestKeysNeedEncryption: without a gossip key there is nothing to rotate.
func TestKeysNeedEncryption(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "n1", t.TempDir()))
	_, err := client(n).ListKeys(context.Background())
	requireAPIError(t, err, api.CodeUnsupported, "encryption is off", "axoniq.axonserver.cluster.encryption-key")
}

// TestCertificatesReloadWhenFilesChange replaces a node's certificate
// files and checks that new connections get the new certificate on every
// port, without a restart.
func TestCertificatesReloadWhenFilesChange(t *testing.T) {
	t.Parallel()
	ca := node.NewTestCA(t, "roster-test-ca")
	cfg := secureConfig(t, "n1", security{ca: ca, key: newGossipKey(t)})
	n := runNode(t, cfg)
	probeCert, probeKey := ca.Issue(t, "probe")
	probe, err := tls.LoadX509KeyPair(probeCert, probeKey)
	require.NoError(t, err)
	serial := func(addr string, nextProto string) string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: ca.Pool, NextProtos: []string{nextProto}, Certificates: []tls.Certificate{probe}, MinVersion: tls.VersionTLS12})
		if err != nil {
			return "error: " + err.Error()
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	oldHTTP, oldGRPC, oldInternal := serial(n.HTTPAddr(), "http/1.1"), serial(n.GRPCAddr(), "h2"), serial(n.InternalAddr(), "h2")
	require.Equal(t, oldHTTP, oldGRPC)
	require.Equal(t, oldHTTP, oldInternal, "the internal files fall back to the public ones")

	certPEM, keyPEM := ca.IssuePEM(t, "n1-renewed")
	// Between the two writes the pair does not match: the old one stays in use.
	require.NoError(t, os.WriteFile(cfg.SSL.PrivateKeyFile, keyPEM, 0o600))
	require.NoError(t, os.WriteFile(cfg.SSL.CertChainFile, certPEM, 0o600))
	eventually(t, 10*time.Second, "renewed certificate served", func() bool {
		h, g, i := serial(n.HTTPAddr(), "http/1.1"), serial(n.GRPCAddr(), "h2"), serial(n.InternalAddr(), "h2")
		return h != oldHTTP && g == h && i == h && !strings.HasPrefix(h, "error")
	})
}

// --- helpers

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func withToken(ctx context.Context, header, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, header, token)
}

func requireGRPCError(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	require.Error(t, err)
	st := status.Convert(err)
	require.Equal(t, code, st.Code(), st.Message())
	for _, p := range parts {
		require.Contains(t, st.Message(), p)
	}
}

// requirePlainGRPCRefusedQuickly calls gRPC health in plain text on a TLS
// port: it must fail at once, not hang until the deadline.
func requirePlainGRPCRefusedQuickly(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Less(t, time.Since(start), 5*time.Second, "refused promptly")
}

// requirePlainHTTPAnswered sends plain HTTP to a TLS port: the answer
// says so at once.
func requirePlainHTTPAnswered(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	reply, err := io.ReadAll(bufio.NewReader(c))
	require.NoError(t, err, "an answer, then the end; not a hang or a reset")
	require.True(t, strings.HasPrefix(string(reply), "HTTP/1.0 400 Bad Request\r\n"), "%q", reply)
	require.Contains(t, string(reply), "Client sent an HTTP request to an HTTPS server.")
}

func requireEveryNode(t *testing.T, r api.KeyReport, action string, count int, ok func(api.KeyNode) bool) {
	t.Helper()
	require.Equal(t, action, r.Action)
	require.Len(t, r.Nodes, count)
	for _, n := range r.Nodes {
		require.True(t, n.OK, "%s: %s", n.Name, n.Message)
		require.Equal(t, "alive", n.Status)
		require.True(t, ok(n), "%s: %+v", n.Name, n)
	}
}

func savedKeyring(t *testing.T, n *node.Node) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Config().ControlDBPath, "keyring.json"))
	require.NoError(t, err)
	var keys []string
	require.NoError(t, json.Unmarshal(b, &keys))
	return keys
}

func waitStatus3(t *testing.T, clients []*api.Client, member, want string) {
	t.Helper()
	for _, c := range clients {
		eventually(t, 20*time.Second, member+" "+want, func() bool { return secureStatuses(c)[member] == want })
	}
}

// statusWatch polls every node's member list in the background and keeps
// every status that is not alive.
type statusWatch struct {
	clients []*api.Client
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	seen    []string
	polls   int
}

func watchStatuses(clients []*api.Client) *statusWatch {
	w := &statusWatch{clients: clients, done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			for i, c := range clients {
				st := secureStatuses(c)
				w.mu.Lock()
				w.polls++
				if st == nil {
					w.seen = append(w.seen, "no answer from client "+string(rune('1'+i)))
				}
				for name, s := range st {
					if s != "alive" {
						w.seen = append(w.seen, name+" "+s)
					}
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// sampleFor keeps watching for d, checking as it goes.
func (w *statusWatch) sampleFor(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	require.Never(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.seen) > 0
	}, time.Until(deadline), 50*time.Millisecond, "a node was reported other than alive")
}

func (w *statusWatch) stop(t *testing.T) {
	t.Helper()
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	require.Empty(t, w.seen, "statuses other than alive during the rotation")
	require.Positive(t, w.polls)
}
