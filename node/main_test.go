package node_test

import (
	"testing"

	"github.com/rosterhq/roster/internal/testkit"
)

// The cluster tests run side by side, each on its own ports and data
// directories, and mostly wait for gossip's timers. The tests that load
// the machine or change the process (the floods, which raise the file
// descriptor limit; the browser) stay serial, and the configuration tests
// that change directory. Under the race detector every node computes
// several times slower, and six clusters at once starve gossip's and the
// probes' timers: go test's default (GOMAXPROCS) stays.
func TestMain(m *testing.M) {
	if !raceDetector {
		testkit.RaiseParallel(6)
	}
	m.Run()
}
