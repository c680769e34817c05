package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// An unknown --flag names the nearest flag of the command, as unknown
// keys in files and the environment do.
func TestUnknownFlagNamesTheNearest(t *testing.T) {
	r := run(t, "", "server", "--axoniq.axonserver.prot=9124")
	assert.Equal(t, ExitUsage, r.code)
	assert.Equal(t, "roster: server: unknown flag: --axoniq.axonserver.prot (did you mean --axoniq.axonserver.port?) (see roster server --help)\n", r.stderr)

	r = run(t, "", "register-node", "--interal-host", "n1")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "unknown flag: --interal-host (did you mean --internal-host?)")

	// Nothing near: no guess.
	r = run(t, "", "cluster", "--frobnicate-everything")
	assert.Equal(t, "roster: cluster: unknown flag: --frobnicate-everything (see roster cluster --help)\n", r.stderr)
}
