//go:build linux

package attack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Helper processes hold connections for the floods: the test binary run
// again with helperEnv set, so that neither the test's own file
// descriptor limit nor its race detector's cost bounds the flood.
const (
	helperAddrEnv  = "ROSTER_ATTACK_ADDR"
	helperCountEnv = "ROSTER_ATTACK_COUNT"
)

// What a helper's connections do.
const (
	// idleHTTP: three in four send a request and never read the answer
	// (keep-alive connections), the rest send nothing.
	idleHTTP = "idle-http"
	// idleGRPC: half send the HTTP/2 preface and settings (an idle gRPC
	// client connection), the rest send nothing.
	idleGRPC = "idle-grpc"
	// stuckGRPC: the HTTP/2 preface and settings, then the headers of a
	// unary call (GetPlatformServer) whose message never comes.
	stuckGRPC = "stuck-grpc"
)

// helper is one helper process holding connections.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHelper starts a helper that opens count connections of kind to addr.
func startHelper(t *testing.T, kind, addr string, count int) *helper {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1"}
	// At the lowest priority: an attacker's CPU is on its own machine, not
	// on the node's. (Every thread inherits the priority that nice sets
	// before the binary starts.)
	if nice, err := exec.LookPath("nice"); err == nil {
		args = append([]string{nice, "-n", "19"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"="+kind, helperAddrEnv+"="+addr, helperCountEnv+"="+strconv.Itoa(count))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(h.end)
	return h
}

// end closes the helper's standard input: it closes its connections and
// exits.
func (h *helper) end() {
	_ = h.stdin.Close()
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
}

// wait reads the helper's report: how many connections it opened, and
// how many it could not.
func (h *helper) wait() (opened, failed int, err error) {
	lines := make(chan string, 1)
	go func() {
		for {
			line, err := h.out.ReadString('\n')
			if strings.HasPrefix(line, "opened ") || err != nil {
				lines <- line
				return
			}
		}
	}()
	select {
	case line := <-lines:
		if _, err := fmt.Sscanf(line, "opened %d failed %d", &opened, &failed); err != nil {
			return 0, 0, fmt.Errorf("helper said %q: %w", line, err)
		}
		return opened, failed, nil
	case <-time.After(3 * time.Minute):
		return 0, 0, fmt.Errorf("helper did not report within 3 minutes")
	}
}

// opened waits for the helper's report and returns how many connections
// it opened.
func (h *helper) opened(t *testing.T) int {
	t.Helper()
	opened, _, err := h.wait()
	require.NoError(t, err)
	return opened
}

// helpersFor splits count connections over as few helpers as their file
// descriptor limit allows (this process's limit, raised to the hard one,
// which they inherit).
func helpersFor(t *testing.T, count int) []int {
	t.Helper()
	var r syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r))
	if r.Cur < r.Max {
		r.Cur = r.Max
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r))
	}
	per := int(min(r.Cur, 1<<20)) - 256
	require.Positive(t, per, "file descriptor limit %d", r.Cur)
	procs := (count + per - 1) / per
	out := make([]int, procs)
	for i := range out {
		out[i] = count / procs
		if i < count%procs {
			out[i]++
		}
	}
	return out
}

// TestHelperProcess is the helper process: it opens its connections,
// says how many, and holds them until its standard input closes.
func TestHelperProcess(t *testing.T) {
	kind := os.Getenv(helperEnv)
	if kind == "" {
		t.Skip("a helper process of the floods")
	}
	addr := os.Getenv(helperAddrEnv)
	count, err := strconv.Atoi(os.Getenv(helperCountEnv))
	require.NoError(t, err)
	var first func(i int) []byte
	switch kind {
	case idleHTTP:
		req := []byte("GET /actuator/health HTTP/1.1\r\nHost: flood\r\n\r\n")
		first = func(i int) []byte {
			if i%4 == 0 {
				return nil
			}
			return req
		}
	case idleGRPC:
		// The client preface, then an empty SETTINGS frame.
		hello := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
		first = func(i int) []byte {
			if i%2 == 0 {
				return nil
			}
			return hello
		}
	case stuckGRPC:
		call := grpcCall("/io.axoniq.axonserver.grpc.control.PlatformService/GetPlatformServer", 0, -1)
		first = func(int) []byte { return call }
	default:
		t.Fatalf("unknown helper kind %q", kind)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		failed atomic.Int64
	)
	const batch = 500
	for from := 0; from < count; from += batch {
		var wg sync.WaitGroup
		for i := from; i < min(from+batch, count); i++ {
			wg.Go(func() {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					failed.Add(1)
					return
				}
				if b := first(i); b != nil {
					_, _ = c.Write(b)
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	fmt.Printf("opened %d failed %d\n", len(conns), failed.Load())
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}
