package node_test

import (
	"testing"

	"github.com/rosterhq/roster/internal/testkit"
)

// ports hands out ports that this test process holds (testkit.Ports), for
// nodes whose port must be known before they start; the others bind port
// 0 and report the port they got.
var ports testkit.Ports

// freePort is a port, free for TCP and UDP, that no one else will bind.
func freePort(t testing.TB) int {
	t.Helper()
	return ports.Port(t)
}

// closedPort is a port on which nothing listens, nor will.
func closedPort(t testing.TB) int {
	t.Helper()
	return ports.Closed(t)
}
