package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/rosterhq/roster/api"
)

// CLIRequest is one request of testdata/axon/cli-requests.json: what
// AxonIQ's axonserver-cli sends, as read from its public sources (the file
// names them).
type CLIRequest struct {
	Name         string            `json:"name"`
	Method       string            `json:"method"`
	Path         string            `json:"path"`
	Headers      map[string]string `json:"headers"`
	Body         json.RawMessage   `json:"body"`
	ExpectStatus int               `json:"expectStatus"`
	ExpectBody   string            `json:"expectBody"`
}

// LoadCLIRequests reads the file from dir (the repository's
// testdata/axon) with the placeholders replaced: host and port for -h and
// -p, node for -n, token for -t.
func loadCLIRequests(t testing.TB, host string, port int, node, token string) []CLIRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "axon", "cli-requests.json"))
	require.NoError(t, err)
	var f struct {
		Requests []CLIRequest `json:"requests"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotEmpty(t, f.Requests)
	for i := range f.Requests {
		r := &f.Requests[i]
		r.Path = strings.ReplaceAll(r.Path, "NODE", node)
		if r.Headers["AxonIQ-Access-Token"] != "" {
			r.Headers["AxonIQ-Access-Token"] = token
		}
		if string(r.Body) == "null" || len(r.Body) == 0 {
			r.Body = nil
			continue
		}
		var body map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &body))
		body["internalHostName"] = host
		body["internalGrpcPort"] = port
		r.Body, err = json.Marshal(body)
		require.NoError(t, err)
	}
	return f.Requests
}

// checkAxonAnswer checks an answer the way Axon's CLI reads it.
func checkAxonAnswer(t *testing.T, req CLIRequest, status int, body []byte) {
	t.Helper()
	require.Equal(t, req.ExpectStatus, status, "%s: %s", req.Name, body)
	switch req.ExpectBody {
	case "restResponse":
		// A default Jackson ObjectMapper: any other property fails it.
		var rr struct {
			Success bool   `json:"success"`
			Message string `json:"message"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&rr), "%s: %s", req.Name, body)
		assert.True(t, rr.Success, req.Name)
		assert.Equal(t, "Accepted join request, may take a while to process", rr.Message)
	case "clusterNodes":
		var nodes []struct {
			Name      *string `json:"name"`
			HostName  *string `json:"hostName"`
			GrpcPort  *int    `json:"grpcPort"`
			HTTPPort  *int    `json:"httpPort"`
			Connected *bool   `json:"connected"`
		}
		require.NoError(t, json.Unmarshal(body, &nodes), "%s: %s", req.Name, body)
		require.NotEmpty(t, nodes)
		for _, n := range nodes {
			require.NotNil(t, n.Name)
			require.NotNil(t, n.HostName)
			require.NotNil(t, n.GrpcPort)
			require.NotNil(t, n.HTTPPort)
			require.NotNil(t, n.Connected)
		}
	case "any":
	default:
		t.Fatalf("%s: unknown expectBody %q", req.Name, req.ExpectBody)
	}
}

// TestAxonCLIRequests sends every request of Axon's CLI, of each version,
// and reads the answers as the CLI does.
func TestAxonCLIRequests(t *testing.T) {
	for _, req := range loadCLIRequests(t, "n7.internal", 9224, "n2", "t0ken") {
		t.Run(req.Name, func(t *testing.T) {
			f := newFakeBackend()
			srv := testServer(t, f, func(o *ServerOptions) {
				o.AccessControl = func(r *http.Request) *Error {
					if v := r.Header.Get(TokenHeader); v != "" && v != "t0ken" {
						return Errorf(CodeInvalidToken, "invalid token")
					}
					return nil
				}
			})
			var headers []string
			for k, v := range req.Headers {
				headers = append(headers, k, v)
			}
			r := call(t, srv, req.Method, req.Path, string(req.Body), headers...)
			checkAxonAnswer(t, req, r.status, r.body)
			if req.Method == http.MethodPost {
				assert.Equal(t, []string{"n7.internal:9224"}, f.Joins(), "host and port used, the rest ignored")
			}
		})
	}
}

func TestJoinAxonFields(t *testing.T) {
	t.Run("any value or null is accepted and ignored", func(t *testing.T) {
		f := newFakeBackend()
		body := `{"name":"x","hostName":"h","grpcPort":1,"httpPort":2,"connected":true,"master":null,` +
			`"context":"ctx","noContexts":false,"internalHostName":"n1","internalGrpcPort":8224}`
		r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", body)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		assert.Equal(t, []string{"n1:8224"}, f.Joins())
	})
	for _, tc := range []struct{ name, body, part string }{
		{"a field neither Axon nor roster knows", `{"internalHostName":"n1","colour":"red"}`, "body.colour: unexpected property"},
		{"an Axon field of the wrong type", `{"internalHostName":"n1","connected":"yes"}`, "body.connected"},
		{"a null host", `{"internalHostName":null}`, "body.internalHostName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend()
			r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", tc.body)
			requireError(t, r, http.StatusBadRequest, CodeInvalidValue, tc.part)
			assert.Empty(t, f.Joins())
		})
	}
}

// TestClusterNodesAsAxonEE: GET /v1/cluster and /v1/cluster/{name} answer
// with Axon Server EE's ClusterRestController fields.
func TestClusterNodesAsAxonEE(t *testing.T) {
	f := newFakeBackend()
	f.List[0].Tags = map[string]string{"region": "eu"}
	srv := testServer(t, f)

	r := call(t, srv, http.MethodGet, "/v1/cluster", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &list))
	require.Len(t, list, 2)
	for _, k := range []string{"name", "internalHostName", "internalGrpcPort", "hostName", "grpcPort", "httpPort", "connected", "tags"} {
		assert.Contains(t, list[0], k)
	}
	assert.Equal(t, float64(8224), list[0]["internalGrpcPort"])
	assert.Equal(t, map[string]any{"region": "eu"}, list[0]["tags"])
	assert.Equal(t, map[string]any{}, list[1]["tags"], "no tags: an empty object")

	r = call(t, srv, http.MethodGet, "/v1/cluster/n2", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var one map[string]any
	require.NoError(t, json.Unmarshal(r.body, &one))
	assert.Equal(t, "n2", one["name"])
	assert.Equal(t, false, one["connected"])

	r = call(t, srv, http.MethodGet, "/v1/cluster/n9", "")
	requireError(t, r, http.StatusNotFound, CodeNoSuchNode, "n9")
}

func TestPublicMeAxonFields(t *testing.T) {
	f := newFakeBackend()
	f.Self.AdminNode, f.Self.Initialized = true, true
	f.Self.ContextNames, f.Self.StorageContextNames = []string{DefaultContext}, []string{DefaultContext}
	r := call(t, testServer(t, f), http.MethodGet, "/v1/public/me", "")
	require.Equal(t, http.StatusOK, r.status)
	var me map[string]any
	require.NoError(t, json.Unmarshal(r.body, &me))
	for k, want := range map[string]any{
		"adminNode": true, "developmentMode": false, "pluginsEnabled": false, "initialized": true,
		"contextNames": []any{"default"}, "storageContextNames": []any{"default"},
	} {
		assert.Equal(t, want, me[k], k)
	}
}

func TestAxonStatuses(t *testing.T) {
	for code, status := range map[string]int{
		CodeAuthTokenMissing: 403, CodeInvalidToken: 403, CodeNoSuchNode: 404, CodeAlreadyMember: 409,
		CodeCannotRemoveLast: 406, CodeSameNodeName: 400, CodeUnknownHost: 400, CodeCannotJoin: 400,
		CodeNotAMember: 403, CodeInvalidValue: 400, CodeInternal: 500,
	} {
		assert.Equal(t, status, Errorf(code, "x").Status, code)
	}
}
