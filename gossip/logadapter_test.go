package gossip

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestLogAdapterLevelsAndComponents(t *testing.T) {
	var out bytes.Buffer
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, func() map[Status]int { return nil })
	require.NoError(t, err)
	l := newStdLogger(zerolog.New(&out), m, newBadInputLog(DefaultBadInputLogInterval, nil))
	for _, line := range []string{
		"[WARN] memberlist: Refuting a suspect message (from: node2)",
		"[INFO] serf: EventMemberJoin: node3 10.0.0.3",
		"[INFO] serf: EventMemberFailed: node3 10.0.0.3",
		"[ERR] memberlist: Failed to decrypt packet from=10.0.0.9:8224",
		"no level at all",
	} {
		l.Print(line)
	}
	type entry struct{ Level, Component, Message string }
	var got []entry
	for _, raw := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e entry
		require.NoError(t, json.Unmarshal([]byte(raw), &e), raw)
		got = append(got, e)
	}
	require.Equal(t, []entry{
		{"warn", "memberlist", "Refuting a suspect message (from: node2)"},
		// roster logs membership changes itself (Cluster.publish).
		{"debug", "serf", "EventMemberJoin: node3 10.0.0.3"},
		{"debug", "serf", "EventMemberFailed: node3 10.0.0.3"},
		{"error", "memberlist", "Failed to decrypt packet from=10.0.0.9:8224"},
		{"info", "gossip", "no level at all"},
	}, got)
	families, err := reg.Gather()
	require.NoError(t, err)
	dropped := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "roster_gossip_dropped_total" {
			for _, s := range f.GetMetric() {
				if s.GetCounter().GetValue() == 0 {
					continue
				}
				key := ""
				for _, l := range s.GetLabel() {
					key += l.GetName() + "=" + l.GetValue() + " "
				}
				dropped[strings.TrimSpace(key)] = s.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, map[string]float64{"reason=decrypt transport=udp": 1}, dropped, "the packet memberlist could not decrypt is counted")
}
