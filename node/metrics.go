package node

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// setupMetrics completes the node's registry (n.metrics, served at
// /actuator/prometheus): the Go runtime's and the process's metrics, and
// the gRPC servers' (grpcmetrics.go). gossip registers its own, the REST
// API its HTTP metrics. memberlist's and serf's go-metrics reach it only
// through the process-wide sink that `roster server` installs (cli).
func (n *Node) setupMetrics() error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		// A registry passed in Options may have them already: keep those.
		var dup prometheus.AlreadyRegisteredError
		if err := n.metrics.Register(c); err != nil && !errors.As(err, &dup) {
			return fmt.Errorf("node: register runtime metrics: %w", err)
		}
	}
	m, err := newGRPCMetrics(n.metrics)
	if err != nil {
		return fmt.Errorf("node: register gRPC metrics: %w", err)
	}
	n.grpcMetrics = m
	return nil
}
