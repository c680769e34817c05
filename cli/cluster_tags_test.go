package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClusterTagsColumn: with placement tags on any node, the table gains
// a Tags column; -o json carries them as the API does.
func TestClusterTagsColumn(t *testing.T) {
	f := newFakeBackend()
	f.List[1].Tags = map[string]string{"zone": "a", "region": "eu"}
	srv := startAPI(t, f, nil)

	r := run(t, "", "cluster", "-S", srv.URL)
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Equal(t, []string{"Name", "Hostname", "gRPC", "Port", "HTTP", "Port", "Internal", "Hostname", "Internal", "Port", "Status", "Tags"},
		strings.Fields(lines[0]))
	assert.Equal(t, []string{"a-node-with-a-long-name", "a-node-with-a-long-name.example.com", "8124", "8024",
		"a-node-with-a-long-name.internal", "8224", "alive", "region=eu,zone=a"}, strings.Fields(lines[1]))
	assert.Len(t, strings.Fields(lines[2]), 7, "no tags: an empty cell")

	r = run(t, "", "cluster", "-S", srv.URL, "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"region": "eu"`)
}
