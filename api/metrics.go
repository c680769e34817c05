package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PrometheusPath serves the node's metrics, as Spring Boot's actuator does
// for Axon Server.
const PrometheusPath = "/actuator/prometheus"

// routeOther labels requests no route matches, so arbitrary paths cannot
// create new time series.
const routeOther = "other"

// httpMetrics count and time every HTTP request by route pattern.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "roster", Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by method, route pattern and status code.",
	}, []string{"method", "route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "roster", Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to answer HTTP requests, by method and route pattern (for " + EventsPath + ", how long streams stayed open).",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	var err error
	if requests, err = registerOrReuse(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = registerOrReuse(reg, duration); err != nil {
		return nil, err
	}
	return &httpMetrics{requests: requests, duration: duration}, nil
}

// registerOrReuse registers c, or returns the identical collector already
// registered (a second handler on the same registry shares the counts).
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// withMetrics wraps the whole handler so refused (403) and unknown
// requests are counted too. The route is the mux pattern that serves the
// request ("/v1/cluster/{name}"), never the raw path.
func withMetrics(m *httpMetrics, mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		route := routeLabel(pattern)
		method := methodLabel(r.Method)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
	})
}

// routeLabel turns "GET /v1/cluster/{name}" into "/v1/cluster/{name}" and
// the exact-match root "GET /{$}" into "/".
func routeLabel(pattern string) string {
	if pattern == "" {
		return routeOther
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	return strings.TrimSuffix(pattern, "{$}")
}

// methodLabel keeps the label's values to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// registerPrometheus serves reg's metrics in Prometheus' text format. It
// is a huma operation so it is documented; promhttp writes the answer.
func registerPrometheus(a huma.API, reg *prometheus.Registry, errs []int, security []map[string][]string) {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A collector that fails leaves its metrics out instead of failing
		// the scrape; the failure is counted in promhttp_metric_handler_errors_total.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
	huma.Register(a, huma.Operation{
		OperationID: "prometheus",
		Method:      http.MethodGet,
		Path:        PrometheusPath,
		Summary:     "Metrics in Prometheus' text format",
		Description: "The node's metrics: members by status and membership events (roster_members*), gossip " +
			"(roster_gossip_*, and memberlist's and serf's own as roster_memberlist_* and roster_serf_* when " +
			"run by `roster server`), HTTP and gRPC requests (roster_http_*, roster_grpc_*), client " +
			"connections, Go runtime and process.",
		Tags: []string{TagActuator},
		Responses: map[string]*huma.Response{
			"200": {
				Description: "Prometheus text exposition format 0.0.4.",
				Content: map[string]*huma.MediaType{
					"text/plain": {Schema: &huma.Schema{Type: huma.TypeString,
						Examples: []any{"# TYPE roster_members gauge\nroster_members{status=\"alive\"} 3\n"}}},
				},
			},
		},
		Errors:   errs,
		Security: security,
	}, func(context.Context, *struct{}) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(ctx huma.Context) {
			r, w := humago.Unwrap(ctx)
			h.ServeHTTP(w, r)
		}}, nil
	})
}
