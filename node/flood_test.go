package node_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/testkit"
)

// floodConnections is how many idle connections TestIdleConnectionFlood
// opens against the HTTP port.
const floodConnections = 20000

// Environment of the flood helper process.
const (
	floodAddrEnv  = "ROSTER_TEST_FLOOD_ADDR"
	floodCountEnv = "ROSTER_TEST_FLOOD_COUNT"
)

// TestIdleConnectionFlood opens 20,000 idle connections against a node's
// HTTP port (three in four keep-alive connections after one request, the
// rest silent), from helper processes so that the test's own file descriptors
// are not the limit. The node holds no more than its cap, health answers
// each probe within a second, and its peer sees it alive throughout.
func TestIdleConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 20,000 connections")
	}
	perProcess := floodPerProcess(t)
	n1, reg := runNodeWithMetrics(t, testConfig(t, "n1", t.TempDir()))
	n2 := runNode(t, testConfig(t, "n2", t.TempDir()))
	register(t, n2, n1)
	checkClusterFormed(t, n1, n2)
	rssBefore := rssKB(t)

	cpuBefore := cpuTime(t)
	watch := watchStatuses([]*api.Client{client(n1), client(n2)})
	during := probeWhile(t, "http://"+n1.HTTPAddr()+"/actuator/health")
	start := time.Now()
	var helpers []*floodHelper
	for left := floodConnections; left > 0; left -= perProcess {
		helpers = append(helpers, startFloodHelper(t, n1.HTTPAddr(), min(left, perProcess)))
	}
	opened, failed := 0, 0
	for _, h := range helpers {
		o, f := h.wait(t)
		opened, failed = opened+o, failed+f
	}
	t.Logf("flood: %d connections opened (%d failed) from %d processes of at most %d in %s; the nodes' process used %s of CPU meanwhile",
		opened, failed, len(helpers), perProcess, time.Since(start).Round(time.Millisecond), (cpuTime(t) - cpuBefore).Round(time.Millisecond))
	require.GreaterOrEqual(t, opened, floodConnections*95/100, "the flood must reach the node")
	probes, slowest, failures := during()
	t.Logf("flood: while it lasted, %d health probes (each on a new connection, queued by the kernel with the flood's): the slowest answered in %s, %d got no answer within 10s",
		probes, slowest.Round(time.Millisecond), len(failures))
	// Connections the helpers count as open may still wait in the
	// kernel's accept queue: the node takes them all before the probes.
	eventually(t, time.Minute, "the node accepted the flood", func() bool {
		return listenerMetric(t, reg, "roster_listener_accepted_total", "http") >= float64(opened)
	})

	// Probes as a load balancer makes them: a new connection each, 1 s
	// to answer (without the race detector; see raceDetector).
	timeout := time.Second
	if raceDetector {
		timeout = 30 * time.Second
	}
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: timeout}
	var took []time.Duration
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		resp, err := probe.Get("http://" + n1.HTTPAddr() + "/actuator/health")
		require.NoError(t, err, "health probe %d within %s", i+1, timeout)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		took = append(took, time.Since(t0))
	}
	// The peer saw n1 alive all along (a starved process may miss its
	// probes' deadlines, so under the race detector this is printed only).
	if seen := watch.end(); len(seen) > 0 {
		if !raceDetector {
			t.Fatalf("statuses other than alive during the flood: %v", seen)
		}
		t.Logf("flood: under the race detector, statuses other than alive were seen: %v", seen)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	max := listenerMetric(t, reg, "roster_listener_max_connections", "http")
	held := listenerMetric(t, reg, "roster_listener_connections", "http")
	evicted := listenerMetric(t, reg, "roster_listener_evicted_total", "http")
	t.Logf("flood: health answered in %s median, %s at most, over %d probes; the node holds %.0f HTTP connections (cap %.0f), evicted %.0f; RSS %d MB before, %d MB after",
		took[len(took)/2].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond), len(took),
		held, max, evicted, rssBefore/1024, rssKB(t)/1024)
	require.LessOrEqual(t, held, max)
	fds, limit := openFDs(t)
	t.Logf("flood: this process (both nodes) has %d file descriptors open, of a limit of %d", fds, limit)
	require.Less(t, fds, limit*3/4, "the node keeps file descriptors for gossip and files")
	// Most made room for later ones; silent ones may have run out of
	// time for their headers first (server.tomcat.connection-timeout).
	require.Greater(t, evicted, float64(opened)/2, "the unused connections made room")
}

// probeWhile probes url every 100 ms, each on a new connection, until the
// returned function is called; it reports the probes, the slowest answer
// and the failures (within 10 s each: the bound is asserted after the
// flood, this shows how the node fares during it).
func probeWhile(t *testing.T, url string) func() (int, time.Duration, []string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	stop := make(chan struct{})
	done := make(chan struct{})
	var (
		probes   int
		slowest  time.Duration
		failures []string
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			t0 := time.Now()
			resp, err := hc.Get(url)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			probes++
			slowest = max(slowest, time.Since(t0))
			if err != nil {
				failures = append(failures, err.Error())
			}
		}
	}()
	var once sync.Once
	return func() (int, time.Duration, []string) {
		once.Do(func() { close(stop) })
		testkit.Receive(t, done, 20*time.Second, "end of the probes") // one probe takes 10 s at most
		return probes, slowest, failures
	}
}

// end stops the watch and returns what it saw other than alive.
func (w *statusWatch) end() []string {
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// floodPerProcess sizes the helper processes from the file descriptor
// limit they inherit, raising this process's soft limit to the hard one.
func floodPerProcess(t *testing.T) int {
	var r syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r))
	if r.Cur < r.Max {
		r.Cur = r.Max
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r))
	}
	per := int(min(r.Cur, 1<<20)) - 256
	require.Positive(t, per, "file descriptor limit %d", r.Cur)
	// Split evenly: 20,000 over a limit of 20,000 is two helpers of 10,000.
	procs := (floodConnections + per - 1) / per
	return (floodConnections + procs - 1) / procs
}

// floodHelper is one helper process holding connections.
type floodHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startFloodHelper(t *testing.T, addr string, count int) *floodHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFloodHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), floodAddrEnv+"="+addr, floodCountEnv+"="+strconv.Itoa(count))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	h := &floodHelper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = h.stdin.Close() // the helper exits, closing its connections
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			testkit.Receive(t, done, 10*time.Second, "exit of the killed flood helper")
		}
	})
	return h
}

// wait reads the helper's report: "opened N failed M".
func (h *floodHelper) wait(t *testing.T) (opened, failed int) {
	t.Helper()
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
		_, err := fmt.Sscanf(line, "opened %d failed %d", &opened, &failed)
		require.NoError(t, err, "helper said %q", line)
	case <-time.After(3 * time.Minute):
		t.Fatal("flood helper did not report within 3 minutes")
	}
	return opened, failed
}

// TestFloodHelperProcess is the helper process of TestIdleConnectionFlood:
// it opens its connections (three in four send a request whose answer
// they never read, and stay open as keep-alive connections; the rest send
// nothing), says how many, and holds them until its standard input
// closes.
func TestFloodHelperProcess(t *testing.T) {
	addr := os.Getenv(floodAddrEnv)
	if addr == "" {
		t.Skip("helper process of TestIdleConnectionFlood")
	}
	count, err := strconv.Atoi(os.Getenv(floodCountEnv))
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		conns   []net.Conn
		failed  atomic.Int64
		request = []byte("GET /actuator/health HTTP/1.1\r\nHost: flood\r\n\r\n")
	)
	const batch = 500
	for from := 0; from < count; from += batch {
		var wg sync.WaitGroup
		for i := from; i < min(from+batch, count); i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					failed.Add(1)
					return
				}
				if i%4 != 0 {
					_, _ = c.Write(request)
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}(i)
		}
		wg.Wait()
	}
	fmt.Printf("opened %d failed %d\n", len(conns), failed.Load())
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}

// openFDs counts this process's open file descriptors and returns its
// limit.
func openFDs(t *testing.T) (int, int) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc: cannot count file descriptors")
	}
	var r syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r))
	return len(entries), int(min(r.Cur, 1<<30))
}

// cpuTime is the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKB is this process's resident memory (the nodes of the test run in
// it; the helpers do not).
func rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc: cannot measure memory")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			require.NoError(t, err)
			return kb
		}
	}
	return 0
}
