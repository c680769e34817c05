package connlimit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the listeners of a process do at their caps, labelled
// by listener name.
type Metrics struct {
	accepted *prometheus.CounterVec
	open     *prometheus.GaugeVec
	max      *prometheus.GaugeVec
	evicted  *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// NewMetrics registers the metrics into reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "listener", Name: "accepted_total",
			Help: "Connections accepted, by listener (http, grpc, internal), before the cap's decision.",
		}, []string{"listener"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "roster", Subsystem: "listener", Name: "connections",
			Help: "Connections open now, by listener (http, grpc, internal).",
		}, []string{"listener"}),
		max: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "roster", Subsystem: "listener", Name: "max_connections",
			Help: "The most connections a listener holds at once.",
		}, []string{"listener"}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "listener", Name: "evicted_total",
			Help: "Unused connections closed to make room for a new one at the cap, by listener.",
		}, []string{"listener"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "listener", Name: "refused_total",
			Help: "Connections refused at the cap because every held one was in use, by listener.",
		}, []string{"listener"}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.open, m.max, m.evicted, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// listenerMetrics are one listener's series; without Metrics they count
// into nothing.
type listenerMetrics struct {
	open, max                  prometheus.Gauge
	accepted, evicted, refused prometheus.Counter
}

func (m *Metrics) forListener(name string) listenerMetrics {
	if m == nil {
		return listenerMetrics{
			open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"}), max: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"}),
			accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"}),
			evicted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"}), refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"}),
		}
	}
	return listenerMetrics{
		open: m.open.WithLabelValues(name), max: m.max.WithLabelValues(name), accepted: m.accepted.WithLabelValues(name),
		evicted: m.evicted.WithLabelValues(name), refused: m.refused.WithLabelValues(name),
	}
}

func (m listenerMetrics) setMax(n int) { m.max.Set(float64(n)) }
