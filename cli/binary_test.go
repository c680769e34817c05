package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/testkit"
)

// These tests run the roster binary as a user would: real node processes
// on loopback, and the admin commands against them.

// The binary is built once for all the tests of the package.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	// The binary tests run node processes and mostly wait for them.
	testkit.RaiseParallel(4)
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "roster-cli-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "roster")
		if out, err := exec.Command("go", "build", "-o", binPath, "../cmd/roster").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

type proc struct {
	name                 string
	http, grpc, internal int
	cmd                  *exec.Cmd
	log                  *bytes.Buffer
	done                 chan struct{}
}

// ports hands out the ports of the node processes: below the ephemeral
// range and claimed by this test process, so nothing takes one between
// its choice and the node's bind.
var ports testkit.Ports

func startServer(t *testing.T, bin, name, dataDir string) *proc {
	t.Helper()
	first := ports.Range(t, 3)
	p := &proc{name: name, http: first, grpc: first + 1, internal: first + 2, log: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "server",
		"--axoniq.axonserver.name="+name,
		"--axoniq.axonserver.hostname=127.0.0.1",
		"--axoniq.axonserver.cluster.bind-address=127.0.0.1",
		"--axoniq.axonserver.cluster.gossip-profile=local",
		"--server.port="+strconv.Itoa(p.http),
		"--axoniq.axonserver.port="+strconv.Itoa(p.grpc),
		"--axoniq.axonserver.internal-port="+strconv.Itoa(p.internal),
		"--axoniq.axonserver.controldb-path="+dataDir,
	)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.log.String())
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.url() + "/actuator/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "%s healthy", name)
	return p
}

func (p *proc) url() string { return "http://127.0.0.1:" + strconv.Itoa(p.http) }

// run runs the binary and returns stdout, stderr and the exit code.
func run(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir() // no ./security/.token here
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), code
}

func TestBinaryRegisterClusterUnregister(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	bin := buildBinary(t)
	n1 := startServer(t, bin, "n1", t.TempDir())
	n2 := startServer(t, bin, "n2", t.TempDir())
	n3 := startServer(t, bin, "n3", t.TempDir())

	for _, n := range []*proc{n2, n3} {
		out, errOut, code := run(t, bin, "register-node", "-S", n.url(), "-h", "127.0.0.1", "-p", strconv.Itoa(n1.internal))
		require.Equal(t, 0, code, "stderr: %s", errOut)
		require.Contains(t, out, n.name)
	}

	// The table, from any node, sorted by name, with Axon's columns.
	out, _, code := run(t, bin, "cluster", "-S", n3.url())
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	require.Regexp(t, `^Name\s+Hostname\s+gRPC Port\s+HTTP Port\s+Internal Hostname\s+Internal Port\s+Status$`, lines[0])
	for i, n := range []*proc{n1, n2, n3} {
		require.Regexp(t, fmt.Sprintf(`^%s\s+127\.0\.0\.1\s+%d\s+%d\s+127\.0\.0\.1\s+%d\s+alive$`, n.name, n.grpc, n.http, n.internal), lines[i+1])
	}

	// -o json prints the API's JSON.
	out, _, code = run(t, bin, "cluster", "-S", n2.url(), "-o", "json")
	require.Equal(t, 0, code)
	var nodes []api.Node
	require.NoError(t, json.Unmarshal([]byte(out), &nodes))
	require.Len(t, nodes, 3)

	// A second register-node says so clearly, exit code 1.
	_, errOut, code := run(t, bin, "register-node", "-S", n2.url(), "-h", "127.0.0.1", "-p", strconv.Itoa(n1.internal))
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	require.Contains(t, errOut, "AXONIQ-2306")
	require.Contains(t, errOut, "already a member")

	// Unregister: gone from every list.
	_, errOut, code = run(t, bin, "unregister-node", "-S", n1.url(), "-n", "n3")
	require.Equal(t, 0, code, errOut)
	for _, n := range []*proc{n1, n2} {
		require.Eventually(t, func() bool {
			out, _, code := run(t, bin, "cluster", "-S", n.url())
			return code == 0 && !strings.Contains(out, "n3") && strings.Count(out, "alive") == 2
		}, 10*time.Second, 50*time.Millisecond)
	}

	// Errors: unknown node, last node, refused address, missing flag.
	_, errOut, code = run(t, bin, "unregister-node", "-S", n1.url(), "-n", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "AXONIQ-1301")
	_, errOut, code = run(t, bin, "unregister-node", "-S", n3.url(), "-n", "n3")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "AXONIQ-2310")
	_, errOut, code = run(t, bin, "cluster", "-S", "http://127.0.0.1:"+strconv.Itoa(ports.Closed(t)))
	require.Equal(t, 1, code)
	require.Regexp(t, `^roster: cluster: cannot reach http://127\.0\.0\.1:\d+: connection refused\n$`, errOut)
	_, errOut, code = run(t, bin, "register-node", "-S", n3.url())
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "internal-host")
}

func TestBinaryKillRestartAndSigterm(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	bin := buildBinary(t)
	n1 := startServer(t, bin, "n1", t.TempDir())
	dir2 := t.TempDir()
	n2 := startServer(t, bin, "n2", dir2)
	_, errOut, code := run(t, bin, "register-node", "-S", n2.url(), "-h", "127.0.0.1", "-p", strconv.Itoa(n1.internal))
	require.Equal(t, 0, code, errOut)

	status := func(of string) string {
		c := api.NewClient(n1.url(), "", false)
		nodes, err := c.Nodes(context.Background())
		if err != nil {
			return ""
		}
		for _, n := range nodes {
			if n.Name == of {
				return n.Status
			}
		}
		return "absent"
	}

	// kill -9: n1 shows n2 failed.
	start := time.Now()
	require.NoError(t, n2.cmd.Process.Kill())
	require.Eventually(t, func() bool { return status("n2") == "failed" }, 20*time.Second, 20*time.Millisecond)
	t.Logf("kill -9 seen as failed after %s", time.Since(start).Round(time.Millisecond))

	// Started again with the same data dir (and new ports): alive, no command.
	start = time.Now()
	n2 = startServer(t, bin, "n2", dir2)
	require.Eventually(t, func() bool { return status("n2") == "alive" }, 20*time.Second, 20*time.Millisecond)
	t.Logf("restart seen alive after %s", time.Since(start).Round(time.Millisecond))

	// SIGTERM: left at once, and the process exits by itself.
	start = time.Now()
	require.NoError(t, n2.cmd.Process.Signal(os.Interrupt))
	require.Eventually(t, func() bool { return status("n2") == "left" }, 5*time.Second, 10*time.Millisecond)
	t.Logf("SIGINT seen as left after %s", time.Since(start).Round(time.Millisecond))
	select {
	case <-n2.done:
	case <-time.After(15 * time.Second):
		t.Fatal("node did not exit after SIGINT")
	}
	require.Equal(t, 0, n2.cmd.ProcessState.ExitCode())
}
