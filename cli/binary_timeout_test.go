package cli_test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A node process that hangs (SIGSTOP: it still accepts connections, the
// kernel does that, but never answers) makes every command end within its
// --timeout with a line naming the node's URL and the timeout.
func TestBinaryHungNodeTimesOut(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	bin := buildBinary(t)
	n1 := startServer(t, bin, "n1", t.TempDir())
	n2 := startServer(t, bin, "n2", t.TempDir())
	_, errOut, code := run(t, bin, "register-node", "-S", n2.url(), "-h", "127.0.0.1", "-p", strconv.Itoa(n1.internal))
	require.Equal(t, 0, code, errOut)

	require.NoError(t, n1.cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = n1.cmd.Process.Signal(syscall.SIGCONT) })
	const key = "kTcRYOmJBmvyB8XoqXh8Q0vbdvFqGDVzM0KDYlJHzc8="
	for _, c := range []struct{ command, args, want string }{
		{"cluster", "", "no answer from " + n1.url() + " within --timeout 2s"},
		{"cluster", "--watch", "no answer from " + n1.url() + " within --timeout 2s"},
		{"unregister-node", "-n n2", "no answer from " + n1.url() + " within --timeout 2s"},
		{"keys list", "", "no answer from " + n1.url() + " within --timeout 2s"},
		{"keys install", key, "no answer from " + n1.url() + " within --timeout 2s"},
		{"register-node", "-h 127.0.0.1 -p " + strconv.Itoa(n2.internal), "contacting " + n1.url() + ": no answer within --timeout 2s"},
	} {
		args := append(strings.Fields(c.command+" "+c.args), "-S", n1.url(), "--timeout", "2s")
		start := time.Now()
		out, errOut, code := run(t, bin, args...)
		took := time.Since(start)
		assert.Equal(t, 1, code, "%v: %s", args, out)
		assert.Equal(t, "roster: "+c.command+": "+c.want+"\n", errOut, args)
		assert.Less(t, took, 6*time.Second, "%v took %s", args, took)
		t.Logf("%s against a stopped node: exit %d after %s", c.command, code, took.Round(100*time.Millisecond))
	}
}
