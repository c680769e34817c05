package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/cli"
)

// The operator commands as a user runs them: real node processes, the
// binary's own metrics setup, a watch that follows a crash, roster dev.

func TestBinaryMetricsWatchAndRegisterProgress(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	bin := buildBinary(t)
	n1 := startServer(t, bin, "n1", t.TempDir())
	n2 := startServer(t, bin, "n2", t.TempDir())

	// register-node waits until n1 lists n2 too, within --timeout.
	out, errOut, code := run(t, bin, "register-node", "-S", n2.url(), "-h", "127.0.0.1", "-p", strconv.Itoa(n1.internal), "--timeout", "30s")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "node n2 joined the cluster through 127.0.0.1:"+strconv.Itoa(n1.internal)+"; 2 nodes\n", out)
	assert.Empty(t, errOut, "no progress lines off a terminal")

	// memberlist's and serf's own metrics reach /actuator/prometheus
	// through the go-metrics sink the server command installs.
	require.Eventually(t, func() bool {
		body := scrapeText(t, n1.url())
		return strings.Contains(body, "\nroster_memberlist_") && strings.Contains(body, "\nroster_serf_") &&
			strings.Contains(body, `roster_members{status="alive"} 2`)
	}, 20*time.Second, 100*time.Millisecond, "gossip libraries' metrics exported")

	// cluster --watch -o json: a line per change, until Ctrl-C.
	watch := exec.Command(bin, "cluster", "--watch", "-o", "json", "-S", n1.url())
	watch.Dir = t.TempDir()
	stdout, err := watch.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, watch.Start())
	t.Cleanup(func() { _ = watch.Process.Kill() })
	lines := make(chan []api.Node, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var nodes []api.Node
			if json.Unmarshal(sc.Bytes(), &nodes) == nil {
				lines <- nodes
			}
		}
		close(lines)
	}()
	statusOf := func(nodes []api.Node, name string) string {
		for _, n := range nodes {
			if n.Name == name {
				return n.Status
			}
		}
		return ""
	}
	waitLine := func(what string, ok func([]api.Node) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case nodes, open := <-lines:
				require.True(t, open, "watch ended while waiting for %s", what)
				if ok(nodes) {
					return
				}
			case <-deadline:
				t.Fatalf("watch printed no line with %s", what)
			}
		}
	}
	waitLine("n2 alive", func(n []api.Node) bool { return statusOf(n, "n2") == "alive" })
	require.NoError(t, n2.cmd.Process.Kill())
	waitLine("n2 failed", func(n []api.Node) bool { return statusOf(n, "n2") == "failed" })

	require.NoError(t, watch.Process.Signal(os.Interrupt))
	done := make(chan error, 1)
	go func() { done <- watch.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "Ctrl-C ends the watch with exit code 0")
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop on SIGINT")
	}
}

func scrapeText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/actuator/prometheus")
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// devBasePort is a base port for roster dev with count nodes: their HTTP
// (base+i), gRPC (+100) and internal (+200) ports are all in one range
// that this test process holds (see ports).
func devBasePort(t *testing.T, count int) int {
	t.Helper()
	return ports.Range(t, 200+count)
}

// devOutput is what `roster dev -o json` prints.
type devOutput struct {
	Nodes []struct {
		Name      string   `json:"name"`
		PID       int      `json:"pid"`
		HTTPPort  int      `json:"httpPort"`
		Dashboard string   `json:"dashboard"`
		Restart   []string `json:"restart"`
	} `json:"nodes"`
	Cluster []api.Node `json:"cluster"`
}

// startDev runs `roster dev -o json` with two nodes from base, and returns
// it once it printed its JSON.
func startDev(t *testing.T, bin string, base int) (*exec.Cmd, devOutput, *cli.LockedBuffer) {
	t.Helper()
	return startDevIn(t, bin, base, t.TempDir())
}

// startDevIn is startDev with its data in dir.
func startDevIn(t *testing.T, bin string, base int, dir string) (*exec.Cmd, devOutput, *cli.LockedBuffer) {
	t.Helper()
	dev := exec.Command(bin, "dev", "--nodes", "2", "--base-port", strconv.Itoa(base), "--dir", dir, "-o", "json")
	dev.Dir = t.TempDir()
	stdout, err := dev.StdoutPipe()
	require.NoError(t, err)
	stderr := &cli.LockedBuffer{}
	dev.Stderr = stderr
	require.NoError(t, dev.Start())
	t.Cleanup(func() { _ = dev.Process.Kill() })
	decoded := make(chan devOutput, 1)
	go func() {
		var out devOutput
		if json.NewDecoder(stdout).Decode(&out) == nil {
			decoded <- out
		}
		close(decoded)
	}()
	select {
	case o, ok := <-decoded:
		require.True(t, ok, "dev printed no JSON; stderr: %s", stderr.String())
		t.Cleanup(func() { // whatever the test did to dev
			for _, n := range o.Nodes {
				if p, err := os.FindProcess(n.PID); err == nil && processRunning(n.PID) {
					_ = p.Kill()
				}
			}
		})
		return dev, o, stderr
	case <-time.After(60 * time.Second):
		t.Fatalf("dev printed nothing in 60s; stderr: %s", stderr.String())
	}
	return nil, devOutput{}, nil
}

func TestBinaryDevJSON(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	bin := buildBinary(t)
	base := devBasePort(t, 2)
	dev, out, stderr := startDev(t, bin, base)
	require.Len(t, out.Nodes, 2)
	assert.Equal(t, "node1", out.Nodes[0].Name)
	assert.Equal(t, base, out.Nodes[0].HTTPPort)
	assert.Equal(t, "http://localhost:"+strconv.Itoa(base)+"/", out.Nodes[0].Dashboard)
	assert.Positive(t, out.Nodes[1].PID)
	assert.Contains(t, out.Nodes[1].Restart, "--axoniq.axonserver.name=node2")
	require.Len(t, out.Cluster, 2)

	// The dashboard is served by every node.
	resp, err := http.Get(out.Nodes[1].Dashboard)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, dev.Process.Signal(os.Interrupt))
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "stderr: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop on SIGINT")
	}
	assert.Contains(t, stderr.String(), "stopping the nodes", "messages go to stderr with -o json")
}

// TestBinaryDevNodesEndWithIt: the nodes of `roster dev` are in process
// groups of their own, which the terminal's signals do not reach (it
// stops them in order on Ctrl-C). When dev ends without stopping them
// (kill -9 here; a closed terminal's SIGHUP, or a second Ctrl-C before it
// got to them) they stop too, rather than stay behind with their ports.
func TestBinaryDevNodesEndWithIt(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the nodes learn of their parent's end on Linux only")
	}
	bin := buildBinary(t)
	dev, out, _ := startDev(t, bin, devBasePort(t, 2))
	require.NoError(t, dev.Process.Kill())
	_ = dev.Wait()
	for _, n := range out.Nodes {
		require.Eventually(t, func() bool { return !processRunning(n.PID) }, 30*time.Second, 50*time.Millisecond,
			"%s (pid %d) still runs after roster dev ended", n.Name, n.PID)
	}
}

// processRunning is false once pid is gone or a zombie (its new parent
// may not reap it).
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}
