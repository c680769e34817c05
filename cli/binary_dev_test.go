package cli_test

import (
	"bytes"
	"net"
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
)

// stopDev interrupts roster dev as Ctrl-C does and waits for it.
func stopDev(t *testing.T, dev *exec.Cmd) {
	t.Helper()
	require.NoError(t, dev.Process.Signal(os.Interrupt))
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(45 * time.Second):
		t.Fatal("dev did not stop on SIGINT")
	}
}

// A node restarted with the command roster dev printed is stopped by
// dev's Ctrl-C like the nodes dev started, and the next dev finds a node
// still running on its ports and names its process instead of showing the
// table it answers.
func TestBinaryDevStopsRestartedNodesAndReportsLeftovers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs node processes")
	}
	if runtime.GOOS != "linux" {
		t.Skip("process ids of ports are found on Linux")
	}
	bin := buildBinary(t)
	base := devBasePort(t, 2)
	dir := t.TempDir()
	dev, out, stderr := startDevIn(t, bin, base, dir)
	node2 := out.Nodes[1]
	assert.Contains(t, node2.Restart, "--pid-file="+dir+"/node2.pid")
	assert.Equal(t, bin, node2.Restart[0], "an installed binary is used as it is")

	// node2 dies; dev says how to start it again; it is started so, by hand.
	p, err := os.FindProcess(node2.PID)
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	require.Eventually(t, func() bool {
		return strings.Contains(stderr.String(), "node2 (pid "+strconv.Itoa(node2.PID)+") exited")
	},
		20*time.Second, 50*time.Millisecond)
	assert.Contains(t, stderr.String(), "Start it again with (Ctrl-C here stops it too):\n  "+strings.Join(node2.Restart, " "))
	restarted := exec.Command(node2.Restart[0], node2.Restart[1:]...)
	var restartedLog bytes.Buffer
	restarted.Stdout, restarted.Stderr = &restartedLog, &restartedLog
	require.NoError(t, restarted.Start())
	exited := make(chan struct{})
	go func() { _ = restarted.Wait(); close(exited) }()
	t.Cleanup(func() { _ = restarted.Process.Kill() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(node2.HTTPPort) + "/actuator/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "restarted node2 serves")
	// It writes its pid file, by which dev finds it, once it serves.
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(dir + "/node2.pid")
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(restarted.Process.Pid)
	}, 20*time.Second, 50*time.Millisecond, "restarted node2 wrote its pid file")

	// Ctrl-C stops it too, gracefully.
	stopDev(t, dev)
	select {
	case <-exited:
		assert.Equal(t, 0, restarted.ProcessState.ExitCode(), restartedLog.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("node2, restarted by hand, still runs after dev's Ctrl-C; stderr: %s", stderr.String())
	}

	// A leftover node1 on the ports: the next dev names it and starts nothing.
	leftover := exec.Command(out.Nodes[0].Restart[0], out.Nodes[0].Restart[1:]...)
	require.NoError(t, leftover.Start())
	t.Cleanup(func() { _ = leftover.Process.Kill(); _ = leftover.Wait() })
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(dir + "/node1.pid")
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(leftover.Process.Pid)
	}, 20*time.Second, 50*time.Millisecond, "leftover node1 wrote its pid file")
	stdout, errOut, code := run(t, bin, "dev", "--nodes", "2", "--base-port", strconv.Itoa(base), "--dir", dir)
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout, "no table answered by a leftover node")
	assert.Contains(t, errOut, "roster: dev: node1 still runs as pid "+strconv.Itoa(leftover.Process.Pid)+" ("+bin+" server")
	assert.Contains(t, errOut, "kill PID")

	// Any process on a node's port is named with its pid: here this test.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	_, errOut, code = run(t, bin, "dev", "--nodes", "2", "--base-port", strconv.Itoa(base), "--dir", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "node2's HTTP port "+strconv.Itoa(base+1)+" is in use by pid "+strconv.Itoa(os.Getpid()))
}
