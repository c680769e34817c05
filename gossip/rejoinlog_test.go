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

// serf's "Failed to re-join" warning becomes a debug line, and roster says
// once what it does instead.
func TestSerfRejoinWarningIsReplaced(t *testing.T) {
	var out bytes.Buffer
	m, err := newMetrics(prometheus.NewRegistry(), func() map[Status]int { return nil })
	require.NoError(t, err)
	newStdLogger(zerolog.New(&out), m, newBadInputLog(DefaultBadInputLogInterval, nil)).Print("[WARN] serf: Failed to re-join any previously known node")
	type entry struct{ Level, Component, Message string }
	var got []entry
	for _, raw := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e entry
		require.NoError(t, json.Unmarshal([]byte(raw), &e), raw)
		got = append(got, e)
	}
	require.Equal(t, []entry{
		{"debug", "serf", "Failed to re-join any previously known node"},
		{"info", "gossip", rejoinAccount},
	}, got)
}
