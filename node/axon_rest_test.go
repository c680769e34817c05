package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/node"
	"github.com/rosterhq/roster/rpc/controlpb"
)

// cliRequest is one request of testdata/axon/cli-requests.json (what
// AxonIQ's axonserver-cli sends, as read from its public sources).
type cliRequest struct {
	Name         string            `json:"name"`
	Method       string            `json:"method"`
	Path         string            `json:"path"`
	Headers      map[string]string `json:"headers"`
	Body         map[string]any    `json:"body"`
	ExpectStatus int               `json:"expectStatus"`
	ExpectBody   string            `json:"expectBody"`
}

func cliRequests(t *testing.T) map[string]cliRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "axon", "cli-requests.json"))
	require.NoError(t, err)
	var f struct {
		Requests []cliRequest `json:"requests"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	out := map[string]cliRequest{}
	for _, r := range f.Requests {
		out[r.Name] = r
	}
	return out
}

// send sends req to the node at base as Axon's CLI would, with the -h,
// -p and -n arguments given, and returns the status and body.
func (req cliRequest) send(t *testing.T, base, host string, port int, name string) (int, []byte) {
	t.Helper()
	var body io.Reader
	if req.Body != nil {
		req.Body["internalHostName"], req.Body["internalGrpcPort"] = host, port
		b, err := json.Marshal(req.Body)
		require.NoError(t, err)
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequest(req.Method, base+strings.ReplaceAll(req.Path, "NODE", name), body)
	require.NoError(t, err)
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// TestAxonCLIAgainstRealNodes: Axon's CLI bodies of each version join real
// nodes, list them and unregister one, and the answers read as the CLI
// reads them.
func TestAxonCLIAgainstRealNodes(t *testing.T) {
	t.Parallel()
	reqs := cliRequests(t)
	n1 := runNode(t, testConfig(t, "n1", t.TempDir()))
	port := n1.Config().InternalPort
	joiners := map[string]string{"n2": "register-node, 4.1", "n3": "register-node --no-contexts, 4.2 and later", "n4": "register-node -c CONTEXT, 4.1"}
	for name, which := range joiners {
		n := runNode(t, testConfig(t, name, t.TempDir()))
		req, ok := reqs[which]
		require.True(t, ok, which)
		status, body := req.send(t, "http://"+n.HTTPAddr(), "127.0.0.1", port, "")
		require.Equal(t, req.ExpectStatus, status, "%s: %s", which, body)
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields() // as Jackson's default ObjectMapper
		var rr struct {
			Success bool   `json:"success"`
			Message string `json:"message"`
		}
		require.NoError(t, dec.Decode(&rr), "%s", body)
		require.True(t, rr.Success)

		// Again: already a member, 409 as from Axon Server EE.
		status, body = req.send(t, "http://"+n.HTTPAddr(), "127.0.0.1", port, "")
		require.Equal(t, http.StatusConflict, status, "%s", body)
		require.Contains(t, string(body), `"success":false`)
		require.Contains(t, string(body), `"code":"AXONIQ-2306"`)
	}
	waitStatus(t, 15*time.Second, "n4", "alive", n1)

	status, body := reqs["cluster"].send(t, "http://"+n1.HTTPAddr(), "", 0, "")
	require.Equal(t, http.StatusOK, status)
	var nodes []struct {
		Name      string `json:"name"`
		HostName  string `json:"hostName"`
		GrpcPort  int    `json:"grpcPort"`
		HTTPPort  int    `json:"httpPort"`
		Connected bool   `json:"connected"`
	}
	require.NoError(t, json.Unmarshal(body, &nodes))
	require.Len(t, nodes, 4)
	for _, n := range nodes {
		require.True(t, n.Connected, n.Name)
		require.NotZero(t, n.GrpcPort)
	}

	status, body = reqs["unregister-node"].send(t, "http://"+n1.HTTPAddr(), "", 0, "n4")
	require.Equal(t, http.StatusOK, status, "%s", body)
	eventually(t, 10*time.Second, "n4 gone", func() bool { _, ok := statuses(t, n1)["n4"]; return !ok })
}

// TestAxonRESTViewsOfARealNode: GET /v1/cluster, /v1/cluster/{name} and
// /v1/public/me as Axon Server EE serves them, with the node's tags.
func TestAxonRESTViewsOfARealNode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Tags = map[string]string{"region": "eu"}
	n1 := runNode(t, cfg)
	get := func(path string) (int, map[string]any, []any) {
		resp, err := http.Get("http://" + n1.HTTPAddr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var obj map[string]any
		var arr []any
		if json.Unmarshal(b, &obj) != nil {
			require.NoError(t, json.Unmarshal(b, &arr), "%s", b)
		}
		if resp.StatusCode >= 400 {
			require.NotEmpty(t, resp.Header.Get("AxonIQ-ErrorCode"), "%s %s", path, b)
		}
		return resp.StatusCode, obj, arr
	}
	status, _, list := get("/v1/cluster")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, list, 1)
	one := list[0].(map[string]any)
	require.Equal(t, "n1", one["name"])
	require.Equal(t, float64(n1.Config().InternalPort), one["internalGrpcPort"])
	require.Equal(t, map[string]any{"region": "eu"}, one["tags"])

	status, obj, _ := get("/v1/cluster/n1")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, obj["connected"])
	status, obj, _ = get("/v1/cluster/nope")
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "AXONIQ-1301", obj["code"])

	status, me, _ := get("/v1/public/me")
	require.Equal(t, http.StatusOK, status)
	for k, want := range map[string]any{
		"adminNode": true, "developmentMode": false, "pluginsEnabled": false, "initialized": true,
		"contextNames": []any{"default"}, "storageContextNames": []any{"default"}, "clustered": false,
		"tags": map[string]any{"region": "eu"}, "grpcInternalPort": float64(n1.Config().InternalPort),
	} {
		require.Equal(t, want, me[k], k)
	}
	status, _, pub := get("/v1/public")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"region": "eu"}, pub[0].(map[string]any)["tags"])
}

// TestClientPortErrorsCarryTheAxonCode: a refused gRPC call carries its
// Axon code in the AxonIQ-ErrorCode trailer, as from Axon Server.
func TestClientPortErrorsCarryTheAxonCode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.AccessControl = node.AccessControlConfig{Enabled: true, Token: "t0ken"}
	cfg.Cluster.EncryptionKey = newGossipKey(t) // required with access control
	n := runNode(t, cfg)
	var md metadata.MD
	_, err := platformClient(t, n).GetPlatformServer(context.Background(), &controlpb.ClientIdentification{ClientId: "x"}, grpc.Trailer(&md))
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Equal(t, []string{"AXONIQ-1000"}, md.Get("AxonIQ-ErrorCode"))
}
