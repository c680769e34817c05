package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "__start_roster", "zsh": "#compdef roster", "fish": "complete -c roster", "powershell": "Register-ArgumentCompleter",
	} {
		r := run(t, "", "completion", shell)
		require.Equal(t, ExitOK, r.code, "%s: %s", shell, r.stderr)
		assert.Contains(t, r.stdout, marker, shell)
	}
}

// complete asks cobra what the shell would offer for args.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	r := run(t, "", append([]string{"__complete"}, args...)...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.NotEmpty(t, lines)
	require.Equal(t, ":4", lines[len(lines)-1], "no file names offered")
	return lines[:len(lines)-1]
}

func TestCompletionOfFlagValues(t *testing.T) {
	assert.Equal(t, []string{"txt\ttable", "json\tthe API's JSON"}, complete(t, "cluster", "-o", ""))

	srv := startAPI(t, newFakeBackend(), nil)
	assert.Equal(t, []string{"node-b\tfailed", "node-c\tsuspect"}, complete(t, "unregister-node", "-S", srv.URL, "-n", "node-"))
	assert.Len(t, complete(t, "unregister-node", "-S", srv.URL, "--node", ""), 3)
	// A server that does not answer offers nothing, quickly.
	assert.Empty(t, complete(t, "unregister-node", "-S", "http://127.0.0.1:1", "-n", ""))
}
