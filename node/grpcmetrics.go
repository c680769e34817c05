package node

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Values of the server label: which of the node's gRPC servers answered.
const (
	grpcServerClient   = "client"   // axoniq.axonserver.port
	grpcServerInternal = "internal" // axoniq.axonserver.internal-port
)

// grpcMetrics count and time the calls of both gRPC servers, in the shape
// of go-grpc-prometheus (service, method, type, code) plus the server.
type grpcMetrics struct {
	handled  *prometheus.CounterVec
	handling *prometheus.HistogramVec
}

func newGRPCMetrics(reg prometheus.Registerer) (*grpcMetrics, error) {
	m := &grpcMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "grpc", Name: "server_handled_total",
			Help: "gRPC calls completed, by server (client or internal port), service, method, type and status code.",
		}, []string{"server", "service", "method", "type", "code"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "roster", Subsystem: "grpc", Name: "server_handling_seconds",
			Help:    "Time to complete gRPC calls (for streams, how long they stayed open), by server, service, method and type.",
			Buckets: prometheus.DefBuckets,
		}, []string{"server", "service", "method", "type"}),
	}
	for _, c := range []prometheus.Collector{m.handled, m.handling} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// serverOptions are the interceptors for one server. They come first in
// the chain so that calls refused by access control are counted too.
func (m *grpcMetrics) serverOptions(server string) []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		m.observe(server, info.FullMethod, "unary", start, err)
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		m.observe(server, info.FullMethod, streamType(info), start, err)
		return err
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}

func (m *grpcMetrics) observe(server, fullMethod, typ string, start time.Time, err error) {
	service, method := splitMethod(fullMethod)
	m.handled.WithLabelValues(server, service, method, typ, status.Code(err).String()).Inc()
	m.handling.WithLabelValues(server, service, method, typ).Observe(time.Since(start).Seconds())
}

func streamType(info *grpc.StreamServerInfo) string {
	switch {
	case info.IsClientStream && info.IsServerStream:
		return "bidi_stream"
	case info.IsClientStream:
		return "client_stream"
	}
	return "server_stream"
}

// splitMethod turns "/pkg.Service/Method" into its two parts.
func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}
