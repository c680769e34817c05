package node_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/node"
)

func get(t *testing.T, n *node.Node, path string) (int, string, string) {
	t.Helper()
	resp, err := http.Get("http://" + n.HTTPAddr() + path)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// sample is one series of a scrape: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

// scrape parses /actuator/prometheus as Prometheus would, by metric name.
func scrape(t *testing.T, n *node.Node) map[string][]sample {
	t.Helper()
	status, ctype, body := get(t, n, "/actuator/prometheus")
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.HasPrefix(ctype, "text/plain"), ctype)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	out := map[string][]sample{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				s.value = m.GetUntyped().GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// value finds the series of name whose labels include want; for a
// histogram, its count.
func value(samples map[string][]sample, name string, want map[string]string) (float64, bool) {
	for _, s := range samples[name] {
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func TestPrometheusMetrics(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	n1 := nodes[0]

	// One client gRPC call, and REST calls to count.
	conn, err := grpc.NewClient("passthrough:///"+n1.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	status, _, _ := get(t, n1, "/v1/cluster/nope") // no such node: 404 on its route
	require.Equal(t, http.StatusNotFound, status)
	req, err := http.NewRequest(http.MethodPut, "http://"+n1.HTTPAddr()+"/v1/cluster/nope", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req) // a method no route takes: 405
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	_, _, _ = get(t, n1, "/no/such/path/42")

	nodes[2].Kill()
	waitStatus(t, 20*time.Second, "n3", "failed", n1)
	m := scrape(t, n1)

	// Members by status, and membership events by type.
	v, ok := value(m, "roster_members", map[string]string{"status": "alive"})
	assert.True(t, ok)
	assert.Equal(t, 2.0, v)
	v, _ = value(m, "roster_members", map[string]string{"status": "failed"})
	assert.Equal(t, 1.0, v)
	v, _ = value(m, "roster_members_events_total", map[string]string{"type": "fail"})
	assert.GreaterOrEqual(t, v, 1.0)
	_, ok = value(m, "roster_members_events_total", map[string]string{"type": "remove"})
	assert.True(t, ok, "every event type is exported from the start")

	// HTTP: by route pattern, never by raw path.
	v, ok = value(m, "roster_http_requests_total", map[string]string{"method": "GET", "route": "/v1/public", "code": "200"})
	assert.True(t, ok)
	assert.GreaterOrEqual(t, v, 1.0)
	_, ok = value(m, "roster_http_requests_total", map[string]string{"route": "other", "code": "404"})
	assert.True(t, ok, "unknown paths share one label value")
	_, ok = value(m, "roster_http_requests_total", map[string]string{"route": "other", "code": "405"})
	assert.True(t, ok, "so do methods no route takes")
	for _, s := range m["roster_http_requests_total"] {
		assert.NotContains(t, s.labels["route"], "nope")
		assert.NotContains(t, s.labels["route"], "42")
	}
	_, ok = value(m, "roster_http_request_duration_seconds", map[string]string{"route": "/v1/public"})
	assert.True(t, ok)

	// gRPC on both servers: the client port's health check, and the
	// internal service n2 and n3 called to register through n1.
	v, ok = value(m, "roster_grpc_server_handled_total", map[string]string{
		"server": "client", "service": "grpc.health.v1.Health", "method": "Check", "type": "unary", "code": "OK"})
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)
	internal := 0.0
	for _, s := range m["roster_grpc_server_handled_total"] {
		if s.labels["server"] == "internal" {
			internal += s.value
		}
	}
	assert.GreaterOrEqual(t, internal, 2.0, "the internal service was called")
	_, ok = value(m, "roster_grpc_server_handling_seconds", map[string]string{"server": "client"})
	assert.True(t, ok)

	// The Go runtime and the process.
	assert.Contains(t, m, "go_goroutines")
	assert.Contains(t, m, "process_resident_memory_bytes")
}

// The document a running node serves (with whatever the node registers on
// top of the API) is valid OpenAPI 3.1 and lists the operator routes.
func TestNodeServesValidOpenAPI(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "solo", t.TempDir()))
	status, _, body := get(t, n, "/v3/api-docs")
	require.Equal(t, http.StatusOK, status)
	doc, err := openapi3.NewLoader().LoadFromData([]byte(body))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	for _, p := range []string{"/v1/public", "/v1/public/me", "/v1/public/events", "/v1/cluster", "/v1/cluster/{name}",
		"/actuator/health", "/actuator/prometheus", "/internal/gossip"} {
		assert.NotNil(t, doc.Paths.Find(p), p)
	}

	// The pages are there too, from embedded files.
	for path, want := range map[string]string{
		"/":                                  "text/html",
		"/dashboard/app.js":                  "text/javascript",
		"/swagger-ui.html":                   "text/html",
		"/swagger-ui/swagger-ui-bundle.js":   "text/javascript",
		"/swagger-ui/swagger-initializer.js": "text/javascript",
	} {
		status, ctype, body := get(t, n, path)
		assert.Equal(t, http.StatusOK, status, path)
		assert.True(t, strings.HasPrefix(ctype, want), "%s: %s", path, ctype)
		assert.NotEmpty(t, body, path)
	}
	_, _, init := get(t, n, "/swagger-ui/swagger-initializer.js")
	assert.Contains(t, init, "'/v3/api-docs'", "Swagger UI shows this node's document")
	assert.NotContains(t, init, "petstore")
}
