package gossip

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are this package's Prometheus metrics. They are created per
// Cluster and registered into the registry the caller passes, so several
// nodes in one process (tests) keep separate counts.
type metrics struct {
	events  *prometheus.CounterVec // member events by type
	dropped *prometheus.CounterVec // gossip traffic refused, by reason
	rejoins *prometheus.CounterVec // rejoin attempts by result
	bytes   *byteCounts            // gossip bytes by direction and transport (transport.go)
}

func newMetrics(reg prometheus.Registerer, members func() map[Status]int) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "members", Name: "events_total",
			Help: "Membership changes seen by this node, by type (join, update, suspect, fail, leave, remove).",
		}, []string{"type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "gossip", Name: "dropped_total",
			Help: "Gossip packets and streams dropped, by reason (cluster_label: another cluster; decrypt: wrong or no key; malformed: not memberlist's framing, truncated; " +
				"oversized: a length, node count or expansion beyond the node's limits; bad_type: a message type not taken there; timeout: a stream's message not in time; " +
				"too_many_streams: the node's limit of inbound streams reached) and transport (udp, tcp).",
		}, []string{"reason", "transport"}),
		rejoins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "roster", Subsystem: "members", Name: "rejoin_attempts_total",
			Help: "Background attempts to rejoin unreachable registered members, by result.",
		}, []string{"result"}),
		bytes: newByteCounts(),
	}
	// Every type is exported from the start, at 0, so rate() and alerts
	// see the first failure rather than a series that appears with it.
	for _, t := range []EventType{EventJoin, EventUpdate, EventSuspect, EventFail, EventLeave, EventRemove} {
		m.events.WithLabelValues(string(t))
	}
	for _, r := range dropReasons {
		for _, tr := range []string{"udp", "tcp"} {
			m.dropped.WithLabelValues(r, tr)
		}
	}
	if reg == nil {
		return m, nil
	}
	byStatus := prometheus.NewDesc("roster_members", "Registered members by status as this node sees them.", []string{"status"}, nil)
	collectors := []prometheus.Collector{m.events, m.dropped, m.rejoins, m.bytes, &memberCollector{desc: byStatus, count: members}}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// memberCollector reports the registry's member counts at scrape time.
type memberCollector struct {
	desc  *prometheus.Desc
	count func() map[Status]int
}

func (c *memberCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *memberCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.count()
	for _, s := range allStatuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
