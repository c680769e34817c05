package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/api/apitest"
)

// newFakeBackend is a cluster of two nodes as n1 sees it: n1 alive, n2
// failed.
func newFakeBackend() *apitest.Backend {
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	n1, n2 := apitest.Node("n1", "alive", since), apitest.Node("n2", "failed", since)
	f := apitest.New(Me{Node: n1, Clustered: true, Authentication: false, SSL: false, ClusterName: "default"}, n1, n2)
	f.Gossip = map[string]any{"members": 2}
	return f
}

// testServer starts the API on a fake backend.
func testServer(t *testing.T, f *apitest.Backend, opts ...func(*ServerOptions)) *httptest.Server {
	t.Helper()
	o := ServerOptions{Backend: f, Logger: zerolog.Nop(), Version: "test"}
	for _, fn := range opts {
		fn(&o)
	}
	h, _ := NewHandler(o)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, srv *httptest.Server, method, path, body string, headers ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// requireError checks an error response: status, our exact shape, the code
// in the body and in the AxonIQ-ErrorCode header, and that the message
// contains each of parts.
func requireError(t *testing.T, r response, status int, code string, parts ...string) {
	t.Helper()
	m := checkError(t, r, status, code, parts...)
	assert.Len(t, m, 2, "error body has exactly code and message: %s", r.body)
}

// requireJoinError is requireError for the errors of joining, which carry
// "success": false as Axon Server EE's answers do.
func requireJoinError(t *testing.T, r response, status int, code string, parts ...string) {
	t.Helper()
	m := checkError(t, r, status, code, parts...)
	assert.Len(t, m, 3, "error body has exactly code, message and success: %s", r.body)
	assert.Equal(t, false, m["success"], "body: %s", r.body)
}

func checkError(t *testing.T, r response, status int, code string, parts ...string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	assert.Contains(t, r.header.Get("Content-Type"), "application/json")
	assert.Equal(t, code, r.header.Get("AxonIQ-ErrorCode"), "the code in Axon's header")
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	assert.Equal(t, code, m["code"], "body: %s", r.body)
	msg, _ := m["message"].(string)
	assert.NotEmpty(t, msg)
	for _, p := range parts {
		assert.Contains(t, msg, p)
	}
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var axonNodeFields = []string{"name", "hostName", "grpcPort", "httpPort", "internalHostName", "grpcInternalPort", "connected", "status", "since"}

func TestPublicNodes(t *testing.T) {
	// The answer keeps the backend's order (sorted by name, as Backend
	// promises).
	f := newFakeBackend()
	srv := testServer(t, f)

	r := call(t, srv, http.MethodGet, "/v1/public", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "application/json")
	var nodes []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &nodes))
	require.Len(t, nodes, 2)
	assert.Equal(t, "n1", nodes[0]["name"])
	assert.Equal(t, "n2", nodes[1]["name"])
	for _, k := range axonNodeFields {
		assert.Contains(t, nodes[0], k)
	}
	assert.NotContains(t, nodes[0], "$schema")
	assert.Equal(t, "n1.example.com", nodes[0]["hostName"])
	assert.Equal(t, float64(8124), nodes[0]["grpcPort"])
	assert.Equal(t, float64(8024), nodes[0]["httpPort"])
	assert.Equal(t, "n1.internal", nodes[0]["internalHostName"])
	assert.Equal(t, float64(8224), nodes[0]["grpcInternalPort"])
	assert.Equal(t, true, nodes[0]["connected"])
	assert.Equal(t, false, nodes[1]["connected"])
	assert.Equal(t, "failed", nodes[1]["status"])
	assert.Equal(t, "2024-05-01T12:00:00Z", nodes[0]["since"])
}

func TestPublicNodesEmptyIsArray(t *testing.T) {
	f := newFakeBackend()
	f.List = nil
	r := call(t, testServer(t, f), http.MethodGet, "/v1/public", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `[]`, string(r.body))
}

func TestPublicMe(t *testing.T) {
	srv := testServer(t, newFakeBackend())
	r := call(t, srv, http.MethodGet, "/v1/public/me", "")
	require.Equal(t, http.StatusOK, r.status)
	var me map[string]any
	require.NoError(t, json.Unmarshal(r.body, &me))
	for _, k := range append(axonNodeFields, "clustered", "authentication", "ssl") {
		assert.Contains(t, me, k, "fields: %v", keys(me))
	}
	assert.Equal(t, "n1", me["name"])
	assert.Equal(t, true, me["clustered"])
	assert.Equal(t, false, me["authentication"])
	assert.Equal(t, false, me["ssl"])
}

func TestJoin(t *testing.T) {
	t.Run("accepted with Axon's answer", func(t *testing.T) {
		f := newFakeBackend()
		r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", `{"internalHostName":"n2.internal","internalGrpcPort":9224}`)
		require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
		assert.JSONEq(t, `{"success": true, "message": "Accepted join request, may take a while to process"}`, string(r.body))
		assert.Equal(t, []string{"n2.internal:9224"}, f.Joins())
	})
	t.Run("port defaults to 8224", func(t *testing.T) {
		f := newFakeBackend()
		r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", `{"internalHostName":"n2"}`)
		require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
		assert.Equal(t, []string{"n2:8224"}, f.Joins())
	})
	t.Run("IP literals", func(t *testing.T) {
		f := newFakeBackend()
		srv := testServer(t, f)
		for _, h := range []string{"10.0.0.7", "::1", "[fe80::1]"} {
			r := call(t, srv, http.MethodPost, "/v1/cluster", `{"internalHostName":"`+h+`"}`)
			require.Equal(t, http.StatusAccepted, r.status, "%s: %s", h, r.body)
		}
		assert.Equal(t, []string{"10.0.0.7:8224", "::1:8224", "fe80::1:8224"}, f.Joins())
	})
	t.Run("backend error passes through", func(t *testing.T) {
		f := newFakeBackend()
		f.JoinErr = Errorf(CodeAlreadyMember, "node n2 is already a member of the cluster")
		r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", `{"internalHostName":"n1"}`)
		requireJoinError(t, r, http.StatusConflict, CodeAlreadyMember, "node n2 is already a member of the cluster")
	})
	t.Run("wrapped backend error keeps its code", func(t *testing.T) {
		f := newFakeBackend()
		f.JoinErr = wrapErr{Errorf(CodeSameNodeName, "a node named n1 is already in the cluster")}
		r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", `{"internalHostName":"n1"}`)
		requireJoinError(t, r, http.StatusBadRequest, CodeSameNodeName, "already in the cluster")
	})
	t.Run("plain backend error is AXONIQ-0001 500", func(t *testing.T) {
		f := newFakeBackend()
		f.JoinErr = io.ErrUnexpectedEOF
		r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", `{"internalHostName":"n1"}`)
		requireJoinError(t, r, http.StatusInternalServerError, CodeInternal, "unexpected EOF")
	})
}

type wrapErr struct{ err error }

func (w wrapErr) Error() string { return "join: " + w.err.Error() }
func (w wrapErr) Unwrap() error { return w.err }

func TestJoinBadInput(t *testing.T) {
	big := `{"internalHostName":"n1","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	cases := []struct {
		name  string
		body  string
		parts []string
	}{
		{"malformed JSON", `{"internalHostName":`, []string{"malformed JSON body"}},
		{"not JSON", `hello`, []string{"malformed JSON body"}},
		{"empty body", ``, []string{"request body is required"}},
		{"body over 1 MiB", big, []string{"request body is larger than 1 MiB"}},
		{"missing host", `{"internalGrpcPort":8224}`, []string{"internalHostName"}},
		{"empty host", `{"internalHostName":""}`, []string{"body.internalHostName"}},
		{"bad host name", `{"internalHostName":"bad_host!"}`, []string{"body.internalHostName", `"bad_host!"`}},
		{"host with port", `{"internalHostName":"n1:8224"}`, []string{"body.internalHostName", "port"}},
		{"label starting with dash", `{"internalHostName":"-n1.example.com"}`, []string{"body.internalHostName"}},
		{"all digits", `{"internalHostName":"999.1.1.1"}`, []string{"body.internalHostName"}},
		{"label too long", `{"internalHostName":"` + strings.Repeat("a", 64) + `.com"}`, []string{"longer than 63"}},
		{"port 0", `{"internalHostName":"n1","internalGrpcPort":0}`, []string{"body.internalGrpcPort: expected number >= 1"}},
		{"port 70000", `{"internalHostName":"n1","internalGrpcPort":70000}`, []string{"body.internalGrpcPort: expected number <= 65535"}},
		{"port not a number", `{"internalHostName":"n1","internalGrpcPort":"x"}`, []string{"body.internalGrpcPort"}},
		{"unknown field", `{"internalHostName":"n1","grpcInternalPort":9224}`, []string{"body.grpcInternalPort: unexpected property"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend()
			r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", tc.body)
			requireError(t, r, http.StatusBadRequest, CodeInvalidValue, tc.parts...)
			assert.Empty(t, f.Joins(), "the backend must not be called on bad input")
		})
	}
}

func TestJoinBodyOfExactly1MiBIsNotRejectedForSize(t *testing.T) {
	f := newFakeBackend()
	prefix, suffix := `{"internalHostName":"n1","pad":"`, `"}`
	body := prefix + strings.Repeat("x", MaxBodyBytes-len(prefix)-len(suffix)) + suffix
	require.Len(t, body, MaxBodyBytes)
	r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", body)
	// Rejected, but for the unknown field, not for its size.
	requireError(t, r, http.StatusBadRequest, CodeInvalidValue, "body.pad: unexpected property")
}

func TestJoinUnsupportedContentType(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/cluster", strings.NewReader(`{"internalHostName":"n1"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	requireError(t, response{status: resp.StatusCode, header: resp.Header, body: b},
		http.StatusBadRequest, CodeInvalidValue, "application/json")
	assert.Empty(t, f.Joins())
}

func TestUnregister(t *testing.T) {
	t.Run("200 with no body", func(t *testing.T) {
		f := newFakeBackend()
		r := call(t, testServer(t, f), http.MethodDelete, "/v1/cluster/n2", "")
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		assert.Empty(t, strings.TrimSpace(string(r.body)))
		assert.Equal(t, []string{"n2"}, f.Unregistered())
	})
	t.Run("unknown node is 404 AXONIQ-1301", func(t *testing.T) {
		r := call(t, testServer(t, newFakeBackend()), http.MethodDelete, "/v1/cluster/zz", "")
		requireError(t, r, http.StatusNotFound, CodeNoSuchNode, "zz")
	})
	t.Run("last node is 406 AXONIQ-2310", func(t *testing.T) {
		f := newFakeBackend()
		f.List = f.List[:1]
		r := call(t, testServer(t, f), http.MethodDelete, "/v1/cluster/n1", "")
		requireError(t, r, http.StatusNotAcceptable, CodeCannotRemoveLast, "last node")
	})
	t.Run("escaped name reaches the backend decoded", func(t *testing.T) {
		f := newFakeBackend()
		f.List = append(f.List, Node{Name: "a b"})
		r := call(t, testServer(t, f), http.MethodDelete, "/v1/cluster/a%20b", "")
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		assert.Equal(t, []string{"a b"}, f.Unregistered())
	})
}

func TestHealth(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f)
	r := call(t, srv, http.MethodGet, "/actuator/health", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"status":"UP"}`, string(r.body))

	f.HealthReport = Health{Status: "DOWN", Details: map[string]string{"gossip": "DOWN"}}
	r = call(t, srv, http.MethodGet, "/actuator/health", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.JSONEq(t, `{"status":"DOWN","details":{"gossip":"DOWN"}}`, string(r.body))
}

func TestInternalGossip(t *testing.T) {
	r := call(t, testServer(t, newFakeBackend()), http.MethodGet, "/internal/gossip", "")
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"members":2}`, string(r.body))
}

func TestUnknownRouteAndMethod(t *testing.T) {
	srv := testServer(t, newFakeBackend())
	r := call(t, srv, http.MethodGet, "/v1/nope", "")
	requireError(t, r, http.StatusNotFound, CodeInternal, "/v1/nope")

	r = call(t, srv, http.MethodPost, "/v1/public", `{}`)
	requireError(t, r, http.StatusMethodNotAllowed, CodeInternal, "POST")
	assert.Contains(t, r.header.Get("Allow"), "GET")

	// DELETE without a name matches no route.
	r = call(t, srv, http.MethodDelete, "/v1/cluster/", "")
	require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, r.status)
	requireError(t, r, r.status, CodeInternal)

	// huma's own docs and schema routes are off.
	for _, p := range []string{"/docs", "/schemas/Node.json", "/openapi.json"} {
		r = call(t, srv, http.MethodGet, p, "")
		requireError(t, r, http.StatusNotFound, CodeInternal)
	}
}

func TestAccessControl(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	check := func(r *http.Request) *Error {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		switch r.Header.Get(TokenHeader) {
		case "":
			return Errorf(CodeAuthTokenMissing, "missing token")
		case "good":
			return nil
		}
		return Errorf(CodeInvalidToken, "invalid token")
	}
	f := newFakeBackend()
	srv := testServer(t, f, func(o *ServerOptions) { o.AccessControl = check })

	for _, p := range []string{"/v1/public", "/v1/public/me", "/internal/gossip", OpenAPIPath, "/v1/nope"} {
		r := call(t, srv, http.MethodGet, p, "")
		requireError(t, r, http.StatusForbidden, CodeAuthTokenMissing)
		r = call(t, srv, http.MethodGet, p, "", TokenHeader, "bad")
		requireError(t, r, http.StatusForbidden, CodeInvalidToken)
	}
	r := call(t, srv, http.MethodPost, "/v1/cluster", `{"internalHostName":"n2"}`)
	requireError(t, r, http.StatusForbidden, CodeAuthTokenMissing)
	r = call(t, srv, http.MethodDelete, "/v1/cluster/n2", "")
	requireError(t, r, http.StatusForbidden, CodeAuthTokenMissing)
	assert.Empty(t, f.Joins())
	assert.Empty(t, f.Unregistered())

	r = call(t, srv, http.MethodGet, "/v1/public", "", TokenHeader, "good")
	assert.Equal(t, http.StatusOK, r.status)

	// Health stays open: no token, a bad one, or a good one.
	for _, token := range []string{"", "bad", "good"} {
		r = call(t, srv, http.MethodGet, "/actuator/health", "", TokenHeader, token)
		assert.Equal(t, http.StatusOK, r.status, "token %q", token)
	}
}

// TestHealthDetailsOnlyForTokenHolders: with access control on, health
// tells a request without a valid token exactly {"status":"UP"} or
// {"status":"DOWN"} (Spring Boot's shape, its status codes), and the
// details only to a token holder; without access control everyone gets
// the details.
func TestHealthDetailsOnlyForTokenHolders(t *testing.T) {
	check := func(r *http.Request) *Error {
		if r.Header.Get(TokenHeader) == "good" {
			return nil
		}
		return Errorf(CodeInvalidToken, "invalid token")
	}
	f := newFakeBackend()
	f.HealthReport = Health{Status: HealthUp, Details: map[string]string{"gossip": "3 of 3 registered nodes alive"}}
	secured := testServer(t, f, func(o *ServerOptions) { o.AccessControl = check })
	open := testServer(t, f)

	for _, token := range []string{"", "bad"} {
		r := call(t, secured, http.MethodGet, "/actuator/health", "", TokenHeader, token)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, `{"status":"UP"}`, strings.TrimSpace(string(r.body)), "token %q", token)
	}
	r := call(t, secured, http.MethodGet, "/actuator/health", "", TokenHeader, "good")
	assert.JSONEq(t, `{"status":"UP","details":{"gossip":"3 of 3 registered nodes alive"}}`, string(r.body))
	r = call(t, open, http.MethodGet, "/actuator/health", "")
	assert.JSONEq(t, `{"status":"UP","details":{"gossip":"3 of 3 registered nodes alive"}}`, string(r.body))

	f.HealthReport = Health{Status: HealthDown, Details: map[string]string{"disk": "no space left on device"}}
	r = call(t, secured, http.MethodGet, "/actuator/health", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, `{"status":"DOWN"}`, strings.TrimSpace(string(r.body)))
	r = call(t, secured, http.MethodGet, "/actuator/health", "", TokenHeader, "good")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.JSONEq(t, `{"status":"DOWN","details":{"disk":"no space left on device"}}`, string(r.body))
}

func TestOpenAPIDocument(t *testing.T) {
	srv := testServer(t, newFakeBackend())
	r := call(t, srv, http.MethodGet, OpenAPIPath, "")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.header.Get("Content-Type"), "application/json")

	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Tags        []string                   `json:"tags"`
			Description string                     `json:"description"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(r.body, &doc), "valid JSON")
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.Equal(t, "test", doc.Info.Version)

	want := map[string]struct{ method, id, tag string }{
		"/v1/public":         {"get", "getClusterNodes", TagPublic},
		"/v1/public/me":      {"get", "getNodeInfo", TagPublic},
		"/v1/cluster":        {"post", "joinCluster", TagCluster},
		"/v1/cluster/{name}": {"delete", "deleteNode", TagCluster},
		"/actuator/health":   {"get", "health", TagActuator},
		"/internal/gossip":   {"get", "getGossipState", TagInternal},
	}
	for path, w := range want {
		op, ok := doc.Paths[path][w.method]
		if assert.True(t, ok, "%s %s documented", w.method, path) {
			assert.Equal(t, w.id, op.OperationID)
			assert.Equal(t, []string{w.tag}, op.Tags)
			assert.NotContains(t, op.Responses, "422", "validation is documented as 400")
		}
	}
	assert.Contains(t, doc.Paths["/internal/gossip"]["get"].Description, "may change without notice")
	assert.Contains(t, doc.Paths["/v1/cluster"]["post"].Responses, "202")
	assert.Contains(t, doc.Paths["/v1/cluster"]["post"].Responses, "400")
	assert.Contains(t, doc.Paths["/v1/cluster/{name}"]["delete"].Responses, "404")
	assert.Contains(t, doc.Paths["/actuator/health"]["get"].Responses, "503")

	var errSchema struct {
		Properties map[string]any `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(doc.Components.Schemas["Error"], &errSchema))
	assert.Equal(t, []string{"code", "message", "success"}, keys(errSchema.Properties))

	// huma's variants stay available next to it (springdoc serves .yaml too).
	r = call(t, srv, http.MethodGet, OpenAPIPath+".yaml", "")
	assert.Equal(t, http.StatusOK, r.status)
}

func TestFromHumaMapping(t *testing.T) {
	e := FromHuma(nil, http.StatusInternalServerError, "boom", nil)
	assert.Equal(t, &Error{Status: 500, Code: CodeInternal, Message: "boom"}, e)

	e = FromHuma(nil, http.StatusNotFound, "", nil)
	assert.Equal(t, CodeInternal, e.Code)
	assert.Equal(t, "not found", e.Message)

	e = FromHuma(nil, http.StatusRequestEntityTooLarge, "request body is too large limit=1048577 bytes", nil)
	assert.Equal(t, &Error{Status: 400, Code: CodeInvalidValue, Message: MsgBodyTooLarge}, e)

	own := Errorf(CodeNoSuchNode, "node x not found")
	assert.Same(t, own, FromHuma(nil, http.StatusInternalServerError, "unexpected error occurred", []error{wrapErr{own}}))
}

func TestErrorWithoutStatusGetsItsCodesStatus(t *testing.T) {
	f := newFakeBackend()
	f.JoinErr = &Error{Code: CodeCannotJoin, Message: "no answer from n9:8224"}
	r := call(t, testServer(t, f), http.MethodPost, "/v1/cluster", `{"internalHostName":"n9"}`)
	requireJoinError(t, r, http.StatusBadRequest, CodeCannotJoin, "no answer")

	deny := func(*http.Request) *Error { return &Error{Code: CodeInvalidToken, Message: "invalid token"} }
	r = call(t, testServer(t, newFakeBackend(), func(o *ServerOptions) { o.AccessControl = deny }), http.MethodGet, "/v1/public", "")
	requireError(t, r, http.StatusForbidden, CodeInvalidToken)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRequestLog(t *testing.T) {
	var buf syncBuffer
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) {
		o.Logger = zerolog.New(&buf).Level(zerolog.DebugLevel)
	})
	call(t, srv, http.MethodDelete, "/v1/cluster/ghost", "")

	var entry map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &entry), buf.String())
	assert.Equal(t, "debug", entry["level"])
	assert.Equal(t, "DELETE", entry["method"])
	assert.Equal(t, "/v1/cluster/ghost", entry["path"])
	assert.Equal(t, float64(http.StatusNotFound), entry["status"])
	assert.Contains(t, entry, "duration")
}
