package cli

import (
	"strconv"
	"testing"

	"github.com/rosterhq/roster/internal/testkit"
)

// testPorts hands out ports that this test process holds (testkit.Ports).
var testPorts testkit.Ports

// refusedAddr is host:port on loopback where nothing listens, nor will
// during the test.
func refusedAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(testPorts.Closed(t))
}
