package node_test

import (
	"testing"

	"github.com/rosterhq/roster/internal/testkit"
)

// The cluster tests run side by side, each on its own ports and data
// directories, and mostly wait for gossip's timers. The tests that load
// the machine or change the process (the floods, which raise the file
// descriptor limit; the browser) stay serial, and the configuration tests
// that change directory.
func TestMain(m *testing.M) {
	testkit.RaiseParallel(6)
	m.Run()
}
