package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/rosterhq/roster/api"
)

// notInDocument are served routes that are not API operations, and why.
var notInDocument = map[string]string{
	"GET " + OpenAPIPath:                "the document itself",
	"GET " + OpenAPIPath + ".json":      "the document itself (huma's variant)",
	"GET " + OpenAPIPath + ".yaml":      "the document itself (huma's variant)",
	"GET " + OpenAPIPath + "-3.0.json":  "the document itself, downgraded for 3.0 tools",
	"GET " + OpenAPIPath + "-3.0.yaml":  "the document itself, downgraded for 3.0 tools",
	"GET /{$}":                          "the dashboard page",
	"GET " + DashboardAssets + "{file}": "the dashboard's files",
	"GET " + SwaggerUIPath:              "Swagger UI's page",
	"GET " + SwaggerAssets + "{file}":   "Swagger UI's files",
}

// loadDocument serves the API with access control on (so 403s are
// documented) and loads its document as OpenAPI 3.1 with kin-openapi.
func loadDocument(t *testing.T) (*openapi3.T, []string) {
	t.Helper()
	h, patterns := NewHandlerRoutes(ServerOptions{
		Backend: newFakeBackend(), Logger: zerolog.Nop(), Version: "test",
		AccessControl: func(r *http.Request) *Error {
			if r.Header.Get(TokenHeader) != "t" {
				return Errorf(CodeAuthTokenMissing, "access token missing")
			}
			return nil
		},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := call(t, srv, http.MethodGet, OpenAPIPath, "", TokenHeader, "t")
	require.Equal(t, http.StatusOK, r.status)

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
	require.NoError(t, err, "the document parses")
	require.True(t, doc.IsOpenAPI31OrLater(), "OpenAPI %s", doc.OpenAPI)
	return doc, patterns
}

func TestOpenAPIDocumentIsValid31(t *testing.T) {
	doc, _ := loadDocument(t)
	require.NoError(t, doc.Validate(context.Background()), "valid OpenAPI 3.1")
}

func TestOpenAPIDocumentListsEveryServedRoute(t *testing.T) {
	doc, patterns := loadDocument(t)
	require.NotEmpty(t, patterns)
	for _, p := range patterns {
		if why, ok := notInDocument[p]; ok {
			t.Logf("not documented on purpose: %s (%s)", p, why)
			continue
		}
		method, path, ok := strings.Cut(p, " ")
		require.True(t, ok, "pattern %q has a method", p)
		item := doc.Paths.Find(path)
		if assert.NotNil(t, item, "%s is served but not documented", p) {
			assert.NotNil(t, item.GetOperation(method), "%s is served but not documented", p)
		}
	}
	// And the reverse: nothing is documented that is not served.
	served := map[string]bool{}
	for _, p := range patterns {
		served[p] = true
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			assert.True(t, served[method+" "+path], "%s %s is documented but not served", method, path)
		}
	}
}

func TestOpenAPIOperationsAreComplete(t *testing.T) {
	doc, _ := loadDocument(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			assert.NotEmpty(t, op.OperationID, "%s: operationId", name)
			assert.NotEmpty(t, op.Summary, "%s: summary", name)
			assert.Len(t, op.Tags, 1, "%s: one tag", name)

			var success bool
			for code, ref := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				require.NoError(t, err, "%s: response %q is a status code", name, code)
				resp := ref.Value
				require.NotNil(t, resp, "%s %s", name, code)
				assert.NotEmpty(t, resp.Description, "%s %s: description", name, code)
				switch {
				case status < 300:
					success = true
					// Only unregistering answers with an empty body
					// (Axon's 200).
					if op.OperationID != "deleteNode" {
						assert.NotEmpty(t, resp.Content, "%s %s: a response shape", name, code)
					}
				case status >= 400 && op.OperationID != "health":
					mt := resp.Content.Get("application/json")
					if assert.NotNil(t, mt, "%s %s: JSON error", name, code) {
						assert.Equal(t, "#/components/schemas/Error", mt.Schema.Ref, "%s %s: the error shape", name, code)
					}
				}
			}
			assert.True(t, success, "%s: a success response", name)

			if op.OperationID == "health" {
				assert.Nil(t, op.Responses.Value("403"), "health is open")
				assert.NotNil(t, op.Responses.Value("503"), "health documents DOWN")
				continue
			}
			assert.NotNil(t, op.Responses.Value("403"), "%s: 403 with access control on", name)
			assert.NotNil(t, op.Responses.Value("500"), "%s: 500", name)
			if op.RequestBody != nil {
				assert.NotNil(t, op.Responses.Value("400"), "%s takes a body: 400", name)
			}
			if strings.Contains(path, "{name}") {
				assert.NotNil(t, op.Responses.Value("404"), "%s: 404 for no such node", name)
			}
			if strings.HasPrefix(path, InternalPrefix) {
				assert.Equal(t, []string{TagInternal}, op.Tags, "%s: tagged internal", name)
				assert.Contains(t, op.Description, InternalNote, name)
			}
		}
	}
}

// An /internal/ route registered later, by anyone, is marked internal too.
func TestInternalRoutesAreMarked(t *testing.T) {
	op := &huma.Operation{Path: "/internal/other", Tags: []string{TagPublic}, Description: "A view."}
	DocumentInternal(nil, op)
	assert.Contains(t, op.Tags, TagInternal)
	assert.Equal(t, "A view. "+InternalNote, op.Description)
	assert.Equal(t, true, op.Extensions["x-internal"])

	op = &huma.Operation{Path: "/v1/public"}
	DocumentInternal(nil, op)
	assert.Empty(t, op.Tags)
}
