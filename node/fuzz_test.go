package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/rpc/internalpb"
)

// FuzzLoadConfig loads arbitrary axonserver.properties (or .yml) files.
// Loading never panics; it either gives a configuration that validates,
// or errors that each say they are about the configuration; and the
// gossip key, a secret, never appears in them.
func FuzzLoadConfig(f *testing.F) {
	f.Add(false, "axoniq.axonserver.name=node1\nserver.port=8025\naxoniq.axonserver.port: 8125\n")
	f.Add(false, "axoniq.axonserver.hostname=node1.example.com\naxoniq.axonserver.domain=\n# comment\n! other comment\n")
	f.Add(false, "axoniq.axonserver.cluster.encryption-key=c2VjcmV0LWtleS0xMjM0NTY3ODkwYWJjZGVmZ2g=\n")
	f.Add(false, "axoniq.axonserver.accesscontrol.enabled=true\naxoniq.axonserver.accesscontrol.token=\\u0041bc\\\n  def\n")
	f.Add(false, "axoniq.axonserver.ssl.enabled=true\naxoniq.axonserver.ssl.cert-chain-file=/no/such/file\n")
	f.Add(false, "server.port=99999\naxoniq.axonserver.internal-port=-1\nlogging.level.root=LOUD\n")
	f.Add(false, "a=${b}\nb=${a}\n")
	f.Add(true, "axoniq:\n  axonserver:\n    name: node1\n    port: 8125\nserver:\n  port: [1, 2]\n")
	f.Add(true, "- just\n- a list\n")
	f.Fuzz(func(t *testing.T, yml bool, content string) {
		dir := t.TempDir()
		name := "axonserver.properties"
		if yml {
			name = "axonserver.yml"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := node.LoadConfig(node.LoadOptions{
			WorkDir:   dir,
			LookupEnv: func(string) (string, bool) { return "", false },
			Hostname:  func() (string, error) { return "host.example.com", nil },
		})
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("loaded a configuration that does not validate: %v", verr)
			}
			return
		}
		errs := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = joined.Unwrap()
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), "config: ") {
				t.Fatalf("error %q does not say it is about the configuration", e)
			}
		}
		if key := encryptionKeyIn(content); len(key) >= 16 && !strings.Contains(dir, key) && strings.Contains(err.Error(), key) {
			t.Fatalf("the gossip key appears in the error: %v", err)
		}
	})
}

// encryptionKeyIn is the value a properties text gives the gossip key.
func encryptionKeyIn(content string) string {
	for _, line := range strings.Split(content, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "axoniq.axonserver.cluster.encryption-key="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// FuzzIntroduce sends arbitrary join requests (the internal Introduce
// call, as protobuf bytes) to a running node. It answers each with a
// response or a refusal of the expected kinds, and its member list does
// not change.
func FuzzIntroduce(f *testing.F) {
	for _, req := range []*internalpb.IntroduceRequest{
		{ClusterName: "test", Node: &internalpb.Member{Name: "n2", Info: &internalpb.NodeInfo{Id: "abc", ClientHost: "10.0.0.2", GrpcPort: 8124, HttpPort: 8024, InternalHost: "10.0.0.2", InternalPort: 8224}, Addr: "10.0.0.2:8224", Status: "alive", Since: timestamppb.Now()}},
		{ClusterName: "other", Node: &internalpb.Member{Name: "n2", Info: &internalpb.NodeInfo{Id: "abc"}}},
		{ClusterName: "test", Node: &internalpb.Member{Name: "n1", Info: &internalpb.NodeInfo{Id: "not-n1s-id"}, Status: "suspect"}},
		{ClusterName: "test", Node: &internalpb.Member{Name: strings.Repeat("x", 300), Info: &internalpb.NodeInfo{Id: "\x00", GrpcPort: -1, InternalPort: 1 << 30}, Status: "weird"}},
		{},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	n := runNode(f, testConfig(f, "n1", f.TempDir()))
	conn, err := grpc.NewClient("passthrough:///"+n.InternalAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = conn.Close() })
	internal := internalpb.NewInternalClient(conn)
	allowed := map[codes.Code]bool{codes.InvalidArgument: true, codes.FailedPrecondition: true, codes.AlreadyExists: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req internalpb.IntroduceRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := internal.Introduce(ctx, &req)
		if err != nil {
			if !allowed[status.Code(err)] {
				t.Fatalf("Introduce(%v): unexpected refusal %v", &req, err)
			}
		} else if resp.GetName() != "n1" || len(resp.GetMembers()) != 1 {
			t.Fatalf("Introduce(%v) answered %v", &req, resp)
		}
		if len(n.Config().Name) == 0 || len(statuses(t, n)) != 1 {
			t.Fatalf("Introduce(%v) changed the member list: %v", &req, statuses(t, n))
		}
	})
}
