package api

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// OpenAPIPath is where the OpenAPI document is served, as in Axon Server
// (springdoc). huma also serves its variants next to it: .json, .yaml,
// -3.0.json and -3.0.yaml.
const OpenAPIPath = "/v3/api-docs"

// Tags group the operations in the OpenAPI document.
const (
	TagPublic   = "public"
	TagCluster  = "cluster"
	TagActuator = "actuator"
	TagInternal = "internal"
)

// ServerOptions configures NewHandler.
type ServerOptions struct {
	Backend Backend
	Logger  zerolog.Logger
	// AccessControl, when set, is asked about every request but
	// GET /actuator/health and the web pages' files (the dashboard and
	// Swagger UI hold no data: they send the token with their API calls);
	// a non-nil *Error is sent as the response.
	AccessControl func(r *http.Request) *Error
	// Version is the roster version, shown in the OpenAPI document.
	Version string
	// Metrics is the node's registry: HTTP request metrics are registered
	// into it and GET /actuator/prometheus serves it. Nil: a registry of
	// the handler's own.
	Metrics *prometheus.Registry
	// Keys manages the cluster's gossip keys (api/keys.go); nil serves no
	// keyring routes.
	Keys KeyBackend
}

// NewHandler builds the REST API. The huma.API is returned too so more
// operations (dashboard, SSE, metrics, ...) can be registered on it later;
// they get the same error shape, access control and request log.
func NewHandler(opts ServerOptions) (http.Handler, huma.API) {
	h, humaAPI, _ := newHandler(opts)
	return h, humaAPI
}

// newHandler is NewHandler that also returns the mux, whose patterns tests
// compare with the OpenAPI document.
func newHandler(opts ServerOptions) (http.Handler, huma.API, *routeMux) {
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	mux := newRouteMux()
	humaAPI := humago.New(mux, humaConfig(opts))
	s := &server{backend: opts.Backend, metrics: opts.Metrics}
	s.register(humaAPI, opts.AccessControl != nil)
	registerKeys(humaAPI, opts.Keys, opts.AccessControl != nil)
	mountUI(mux)

	// The document is marshalled on every request (not cached like huma's
	// own variants) so operations registered after NewHandler appear in it.
	mux.HandleFunc("GET "+OpenAPIPath, func(w http.ResponseWriter, _ *http.Request) {
		doc, err := json.Marshal(humaAPI.OpenAPI())
		if err != nil {
			writeError(w, Errorf(CodeInternal, "cannot encode the OpenAPI document: %v", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})

	var h http.Handler = withJSONFallbacks(mux.ServeMux)
	h = withAccessControl(opts.AccessControl, h)
	h = withRequestLog(opts.Logger, h)
	if m, err := newHTTPMetrics(opts.Metrics); err != nil {
		opts.Logger.Warn().Err(err).Msg("api: HTTP metrics not exported")
	} else {
		h = withMetrics(m, mux.ServeMux, h)
	}
	return h, humaAPI, mux
}

func humaConfig(opts ServerOptions) huma.Config {
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	return huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{
				Title:       "roster",
				Version:     version,
				Description: "Cluster membership API of a roster node, compatible with Axon Server's REST paths, fields and error codes. The same port serves the dashboard at / and Swagger UI at " + SwaggerUIPath + ".",
			},
			Tags: []*huma.Tag{
				{Name: TagPublic, Description: "What this node knows about the cluster."},
				{Name: TagCluster, Description: "Joining and leaving the cluster."},
				{Name: TagActuator, Description: "Health for probes and load balancers; metrics for Prometheus."},
				{Name: TagInternal, Description: "Debugging views. " + internalNote},
			},
			Components: &huma.Components{
				SecuritySchemes: map[string]*huma.SecurityScheme{
					"AxonIQ-Access-Token": {Type: "apiKey", In: "header", Name: "AxonIQ-Access-Token",
						Description: "Needed on every route but health when access control is enabled."},
				},
			},
			OnAddOperation: []huma.AddOpFunc{documentValidationAs400, documentInternal},
		},
		OpenAPIPath: OpenAPIPath,
		// No huma docs page or schema routes: Swagger UI is at
		// /swagger-ui.html (ui.go), and the schemas are inside the document.
		DocsPath:      "",
		SchemasPath:   "",
		Formats:       huma.DefaultFormats,
		DefaultFormat: "application/json",
		Transformers:  []huma.Transformer{errorCodeHeader},
	}
}

// documentValidationAs400 fixes huma's documentation of validation errors:
// huma lists 422, but we answer bad input with 400 CodeInvalidValue. Only
// a request body can really be invalid here (a path segment is any string).
func documentValidationAs400(_ *huma.OpenAPI, op *huma.Operation) {
	r, ok := op.Responses["422"]
	if !ok {
		return
	}
	delete(op.Responses, "422")
	if _, has := op.Responses["400"]; !has && op.RequestBody != nil {
		r.Description = http.StatusText(http.StatusBadRequest)
		op.Responses["400"] = r
	}
}

// server holds the route handlers.
type server struct {
	backend Backend
	metrics *prometheus.Registry
	// pingInterval paces pings on idle event streams; zero means 15 s.
	pingInterval time.Duration
}

type (
	nodesOutput struct{ Body []Node }
	meOutput    struct{ Body Me }
	joinInput   struct{ Body JoinRequest }
	joinOutput  struct{ Body JoinResponse }
	nameInput   struct {
		Name string `path:"name" doc:"Name of the node to unregister."`
	}
	nodeInput struct {
		Name string `path:"name" doc:"Name of the node."`
	}
	clusterNodesOutput struct{ Body []ClusterNode }
	clusterNodeOutput  struct{ Body ClusterNode }
	healthOutput       struct {
		Status int
		Body   Health
	}
	gossipOutput struct{ Body any }
)

func (s *server) register(a huma.API, protected bool) {
	// errs lists a route's documented errors; 403 only when a token is asked.
	errs := func(codes ...int) []int {
		if protected {
			codes = append(codes, http.StatusForbidden)
		}
		return codes
	}
	var security []map[string][]string
	if protected {
		security = []map[string][]string{{"AxonIQ-Access-Token": {}}}
	}

	huma.Register(a, huma.Operation{
		OperationID: "getClusterNodes",
		Method:      http.MethodGet,
		Path:        "/v1/public",
		Summary:     "List the nodes of the cluster",
		Description: "Every registered node, sorted by name, with its status as this node sees it.",
		Tags:        []string{TagPublic},
		Errors:      errs(),
		Security:    security,
	}, s.nodes)

	huma.Register(a, huma.Operation{
		OperationID: "getNodeInfo",
		Method:      http.MethodGet,
		Path:        "/v1/public/me",
		Summary:     "Describe the answering node",
		Tags:        []string{TagPublic},
		Errors:      errs(),
		Security:    security,
	}, s.me)

	huma.Register(a, huma.Operation{
		OperationID: "joinCluster",
		Method:      http.MethodPost,
		Path:        "/v1/cluster",
		Summary:     "Join the cluster through another node",
		Description: "This node joins the cluster of the node at internalHostName:internalGrpcPort. Answers 202 with Axon Server EE's " +
			`{"success": true, "message": "` + JoinAccepted + `"} once this node holds the full member list. ` +
			"The other properties of Axon's ClusterNode that Axon's CLI sends are accepted and ignored. " +
			"A node that is already a member of a cluster of more than one node gets 409 (AXONIQ-2306), as from Axon Server EE. " +
			`Errors of the join itself carry "success": false besides the code and message.`,
		Tags:          []string{TagCluster},
		DefaultStatus: http.StatusAccepted,
		// huma rejects a body whose length reaches MaxBodyBytes, so one more
		// byte makes exactly 1 MiB the largest accepted.
		MaxBodyBytes: maxBodyBytes + 1,
		Errors:       errs(http.StatusBadRequest, http.StatusConflict),
		Security:     security,
	}, s.join)

	huma.Register(a, huma.Operation{
		OperationID: "listClusterNodes",
		Method:      http.MethodGet,
		Path:        "/v1/cluster",
		Summary:     "List the nodes of the cluster (Axon Server EE)",
		Description: "Every registered node, sorted by name, as Axon Server EE lists them here (internalGrpcPort, tags), with roster's fields besides.",
		Tags:        []string{TagCluster},
		Errors:      errs(),
		Security:    security,
	}, s.clusterNodes)

	huma.Register(a, huma.Operation{
		OperationID: "getClusterNode",
		Method:      http.MethodGet,
		Path:        "/v1/cluster/{name}",
		Summary:     "Describe one node of the cluster (Axon Server EE)",
		Tags:        []string{TagCluster},
		Errors:      errs(http.StatusNotFound),
		Security:    security,
	}, s.clusterNode)

	huma.Register(a, huma.Operation{
		OperationID: "deleteNode",
		Method:      http.MethodDelete,
		Path:        "/v1/cluster/{name}",
		Summary:     "Unregister a node from the cluster",
		Description: "The node disappears from every node's list; a live one is told to leave. Answers 200 with an empty body; 404 (AXONIQ-1301) when no such node is registered, " +
			"also when another request removed it first. Removing the last node is refused. A node that cannot write its data directory refuses (500) and changes nothing.",
		Tags:          []string{TagCluster},
		DefaultStatus: http.StatusOK,
		Errors:        errs(http.StatusNotFound, http.StatusNotAcceptable),
		Security:      security,
	}, s.unregister)

	huma.Register(a, huma.Operation{
		OperationID: "health",
		Method:      http.MethodGet,
		Path:        healthPath,
		Summary:     "Health of the node",
		Description: "200 with status UP when the node serves requests, 503 with DOWN otherwise (stopping, its data directory cannot be written, or gossip is not running). " +
			"Always open, for probes. With access control on, only a request with a valid access token gets the details; any other gets exactly {\"status\":\"UP\"} or {\"status\":\"DOWN\"}.",
		Tags: []string{TagActuator},
		Responses: map[string]*huma.Response{
			"503": {Description: "The node is DOWN.", Content: map[string]*huma.MediaType{
				"application/json": {Schema: a.OpenAPI().Components.Schemas.Schema(
					reflect.TypeFor[Health](), true, "Health")},
			}},
		},
		// No Security: open even with access control on.
	}, s.health)

	huma.Register(a, huma.Operation{
		OperationID: "getGossipState",
		Method:      http.MethodGet,
		Path:        "/internal/gossip",
		Summary:     "Raw gossip state (internal)",
		Description: "Debugging view of the gossip layer. Internal routes may change without notice.",
		Tags:        []string{TagInternal},
		Responses:   gossipResponses(),
		Errors:      errs(),
		Security:    security,
	}, s.gossip)

	s.registerEvents(a, errs(), security)
	registerPrometheus(a, s.metrics, errs(), security)
}

func (s *server) nodes(ctx context.Context, _ *struct{}) (*nodesOutput, error) {
	nodes := s.backend.Nodes(ctx)
	if nodes == nil {
		nodes = []Node{} // [] rather than null
	}
	return &nodesOutput{Body: nodes}, nil
}

func (s *server) me(ctx context.Context, _ *struct{}) (*meOutput, error) {
	return &meOutput{Body: s.backend.Me(ctx)}, nil
}

func toClusterNode(n Node) ClusterNode {
	if n.Tags == nil {
		n.Tags = map[string]string{}
	}
	return ClusterNode{Node: n, InternalGrpcPort: n.GrpcInternalPort}
}

func (s *server) clusterNodes(ctx context.Context, _ *struct{}) (*clusterNodesOutput, error) {
	nodes := s.backend.Nodes(ctx)
	out := make([]ClusterNode, len(nodes))
	for i, n := range nodes {
		out[i] = toClusterNode(n)
	}
	return &clusterNodesOutput{Body: out}, nil
}

func (s *server) clusterNode(ctx context.Context, in *nodeInput) (*clusterNodeOutput, error) {
	for _, n := range s.backend.Nodes(ctx) {
		if n.Name == in.Name {
			return &clusterNodeOutput{Body: toClusterNode(n)}, nil
		}
	}
	return nil, Errorf(CodeNoSuchNode, "node %s not found", in.Name)
}

// join validates what huma's schema cannot (the host name) before the
// backend sees anything, so bad input changes nothing.
func (s *server) join(ctx context.Context, in *joinInput) (*joinOutput, error) {
	host, err := checkHost(in.Body.InternalHostName)
	if err != nil {
		return nil, Errorf(CodeInvalidValue, "body.internalHostName: %q: %v", in.Body.InternalHostName, err)
	}
	port := in.Body.InternalGrpcPort
	if port < 1 || port > 65535 { // the schema checks it too; never trust one layer
		return nil, Errorf(CodeInvalidValue, "body.internalGrpcPort: %d is not a port (1-65535)", port)
	}
	if err := s.backend.Join(ctx, host, port); err != nil {
		return nil, AsError(err).asJoinFailure()
	}
	return &joinOutput{Body: JoinResponse{Success: true, Message: JoinAccepted}}, nil
}

func (s *server) unregister(ctx context.Context, in *nameInput) (*struct{}, error) {
	if err := s.backend.Unregister(ctx, in.Name); err != nil {
		return nil, withStatus(AsError(err))
	}
	return &struct{}{}, nil
}

func (s *server) health(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	h := s.backend.Health(ctx)
	status := http.StatusOK
	if h.Status != HealthUp {
		h.Status, status = HealthDown, http.StatusServiceUnavailable
	}
	if statusOnly(ctx) {
		h = Health{Status: h.Status}
	}
	return &healthOutput{Status: status, Body: h}, nil
}

func (s *server) gossip(ctx context.Context, _ *struct{}) (*gossipOutput, error) {
	return &gossipOutput{Body: s.backend.GossipState(ctx)}, nil
}
