//go:build linux

package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

// spec says how to run one node.
type spec struct {
	name string
	// dir is the data directory (controldb-path); a new temporary one
	// when empty.
	dir string
	// token turns access control on; key is the gossip key (base64).
	token, key string
	// flags are more command-line flags.
	flags []string
}

// node is a roster server process.
type node struct {
	name, dir, token string
	// The addresses it bound: it is started with port 0 on all three
	// ports and says which it got in its "node: started" line, so no
	// other process can take them between a choice and the bind.
	http, grpc, internal string
	pid                  int
	logPath              string
	cmd                  *exec.Cmd
	done                 chan struct{}
	client               *api.Client
}

// startNode runs a node and waits until it serves. It is stopped with
// SIGTERM (then SIGKILL) when the test ends, and dies with the test
// process.
func startNode(t *testing.T, s spec) *node {
	t.Helper()
	bin := needBinary(t)
	if s.dir == "" {
		s.dir = t.TempDir()
	}
	n := &node{name: s.name, dir: s.dir, token: s.token, logPath: filepath.Join(t.TempDir(), s.name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(n.logPath)
	require.NoError(t, err)
	defer func() { _ = logFile.Close() }()
	args := []string{"server",
		"--axoniq.axonserver.name=" + s.name,
		"--axoniq.axonserver.hostname=127.0.0.1",
		"--axoniq.axonserver.cluster.bind-address=127.0.0.1",
		"--axoniq.axonserver.cluster.gossip-profile=local",
		"--server.port=0", "--axoniq.axonserver.port=0", "--axoniq.axonserver.internal-port=0",
		"--axoniq.axonserver.controldb-path=" + s.dir,
	}
	if s.token != "" {
		args = append(args, "--axoniq.axonserver.accesscontrol.enabled=true", "--axoniq.axonserver.accesscontrol.token="+s.token)
	}
	if s.key != "" {
		args = append(args, "--axoniq.axonserver.cluster.encryption-key="+s.key)
	}
	args = append(args, s.flags...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Dir = t.TempDir()
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, n.cmd.Start())
	n.pid = n.cmd.Process.Pid
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		lines := 40
		if t.Failed() && n.hung() {
			// Go prints every goroutine's stack on SIGQUIT: why it hangs.
			_ = n.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-n.done:
			case <-time.After(5 * time.Second):
			}
			lines = 400
		}
		n.stop()
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", n.name, n.logTail(lines))
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		if started, ok := n.startedLine(); ok {
			n.http, n.grpc, n.internal = started.HTTP, started.GRPC, started.Internal
			break
		}
		select {
		case <-n.done:
			t.Fatalf("%s exited at start-up: %s", n.name, n.logTail(20))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start within 30s: %s", n.name, n.logTail(20))
		}
	}
	n.client = api.NewClient("http://"+n.http, n.token, false)
	return n
}

// hung tells whether the running node's health does not answer within
// 5 s.
func (n *node) hung() bool {
	select {
	case <-n.done:
		return false
	default:
	}
	_, _, _, err := n.get("/actuator/health", false, 5*time.Second)
	return err != nil
}

// stop ends the node gracefully, or kills it after 15 s.
func (n *node) stop() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

type startedLine struct {
	Message  string `json:"message"`
	HTTP     string `json:"http"`
	GRPC     string `json:"grpc"`
	Internal string `json:"internal"`
}

func (n *node) startedLine() (startedLine, bool) {
	b, _ := os.ReadFile(n.logPath)
	for _, line := range bytes.Split(b, []byte("\n")) {
		var l startedLine
		if json.Unmarshal(line, &l) == nil && l.Message == "node: started" {
			return l, true
		}
	}
	return startedLine{}, false
}

// logTail is the node's last lines of log.
func (n *node) logTail(lines int) string {
	b, _ := os.ReadFile(n.logPath)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// logMark is where the node's log ends now.
func (n *node) logMark() int64 {
	fi, err := os.Stat(n.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince is the lines the node logged after mark.
func (n *node) logSince(mark int64) []string {
	f, err := os.Open(n.logPath)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(mark, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func (n *node) internalPort() int { return portOf(n.internal) }

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return port
}

// requestTimeout bounds each request of the tests' own.
const requestTimeout = 10 * time.Second

// statuses is the node's /v1/public as name -> status.
func (n *node) statuses(t *testing.T) (map[string]string, error) {
	c, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	nodes, err := n.client.Nodes(c)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(nodes))
	for _, m := range nodes {
		out[m.Name] = m.Status
	}
	return out, nil
}

// register joins n to the cluster of contact.
func (n *node) register(t *testing.T, contact *node) {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := n.client.Join(c, api.JoinRequest{InternalHostName: "127.0.0.1", InternalGrpcPort: contact.internalPort()})
	require.NoError(t, err, "%s joins through %s", n.name, contact.name)
}

// startCluster starts len(specs) nodes and registers all through the
// first; it returns once every node lists every other alive.
func startCluster(t *testing.T, specs ...spec) []*node {
	t.Helper()
	nodes := make([]*node, len(specs))
	for i, s := range specs {
		nodes[i] = startNode(t, s)
	}
	for _, n := range nodes[1:] {
		n.register(t, nodes[0])
	}
	waitAllAlive(t, 30*time.Second, nodes...)
	return nodes
}

// waitAllAlive waits until every node lists exactly nodes, all alive.
func waitAllAlive(t *testing.T, within time.Duration, nodes ...*node) {
	t.Helper()
	want := map[string]string{}
	for _, n := range nodes {
		want[n.name] = "alive"
	}
	var last string
	start := time.Now()
	for {
		ok := true
		for _, n := range nodes {
			got, err := n.statuses(t)
			if err != nil {
				ok, last = false, fmt.Sprintf("%s: %v", n.name, err)
				break
			}
			if !equalMaps(got, want) {
				ok, last = false, fmt.Sprintf("%s lists %v", n.name, got)
				break
			}
		}
		if ok {
			return
		}
		if time.Since(start) > within {
			t.Fatalf("not within %s: every node lists every other alive (last seen: %s)", within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// waitFor polls cond every 50 ms until it holds, failing the test after
// within; it returns how long it took.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// newToken is a random access token; newKey a random gossip key.
func newToken(t *testing.T) string {
	b := make([]byte, 24)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return fmt.Sprintf("%x", b)
}

func newKey(t *testing.T) string {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// get sends a GET to the node's HTTP port (with its token, if any, when
// withToken) on a new connection, and returns the status, the body and
// how long the answer took.
func (n *node) get(path string, withToken bool, timeout time.Duration) (int, string, time.Duration, error) {
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: timeout}
	req, err := http.NewRequest(http.MethodGet, "http://"+n.http+path, nil)
	if err != nil {
		return 0, "", 0, err
	}
	if withToken && n.token != "" {
		req.Header.Set(api.TokenHeader, n.token)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), time.Since(start), err
}

// sample is one series of a scrape.
type sample struct {
	labels map[string]string
	value  float64
}

// scrape reads the node's /actuator/prometheus.
func (n *node) scrape(t *testing.T) map[string][]sample {
	t.Helper()
	status, body, _, err := n.get("/actuator/prometheus", true, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body + "\n"))
	require.NoError(t, err)
	out := map[string][]sample{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.value = m.GetUntyped().GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// sum adds the series of name whose labels include want.
func sum(samples map[string][]sample, name string, want map[string]string) float64 {
	total := 0.0
	for _, s := range samples[name] {
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			total += s.value
		}
	}
	return total
}

// dropped is roster_gossip_dropped_total by "reason/transport".
func (n *node) dropped(t *testing.T) map[string]float64 {
	out := map[string]float64{}
	for _, s := range n.scrape(t)["roster_gossip_dropped_total"] {
		out[s.labels["reason"]+"/"+s.labels["transport"]] += s.value
	}
	return out
}

// memory is the node process's resident memory and its peak (VmRSS,
// VmHWM), in bytes.
func (n *node) memory(t *testing.T) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		require.NoError(t, err)
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

// statusWatch polls /v1/public on observers every 100 ms and keeps what
// it shows of the watched nodes other than alive: a false failure.
type statusWatch struct {
	once  sync.Once
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	polls int
	seen  []string
	errs  []string
}

func watchStatuses(t *testing.T, watched []*node, observers ...*node) *statusWatch {
	w := &statusWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			for _, o := range observers {
				got, err := o.statuses(t)
				w.mu.Lock()
				w.polls++
				if err != nil {
					w.errs = append(w.errs, fmt.Sprintf("%s: %v", o.name, err))
				}
				for _, n := range watched {
					if err == nil && got[n.name] != "alive" {
						w.seen = append(w.seen, fmt.Sprintf("%s %s on %s at %s", n.name, orNone(got[n.name]), o.name, time.Now().Format("15:04:05.000")))
					}
				}
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { w.end() })
	return w
}

func orNone(s string) string {
	if s == "" {
		return "not listed"
	}
	return s
}

// end stops the watch and returns its polls, what it saw other than
// alive, and the polls that got no answer.
func (w *statusWatch) end() (int, []string, []string) {
	w.once.Do(func() { close(w.stop) })
	stopped := waitClosed(w.done, 30*time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !stopped {
		w.errs = append(w.errs, "the watch did not stop within 30s")
	}
	return w.polls, w.seen, w.errs
}

// requireNoFalseFailure ends the watch and fails the test if it saw
// anything but alive, or got too few answers to tell.
func (w *statusWatch) requireNoFalseFailure(t *testing.T) string {
	t.Helper()
	polls, seen, errs := w.end()
	require.Empty(t, seen, "peers saw the node other than alive")
	require.LessOrEqual(t, len(errs), polls/10, "peers' /v1/public did not answer: %v", errs)
	if len(errs) > 0 {
		return fmt.Sprintf("peers listed it alive in all %d answers (%d polls unanswered)", polls-len(errs), len(errs))
	}
	return fmt.Sprintf("peers listed it alive in all %d polls", polls)
}

// prober fetches /actuator/health on a new connection every interval
// until ended, keeping each answer's time.
type prober struct {
	once    sync.Once
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	took    []time.Duration
	fails   []string
	started time.Time
	timeout time.Duration // of one probe
}

func probeHealth(n *node, every, timeout time.Duration) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{}), started: time.Now(), timeout: timeout}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			status, _, took, err := n.get("/actuator/health", false, timeout)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			p.mu.Lock()
			p.took = append(p.took, took)
			if err != nil {
				p.fails = append(p.fails, fmt.Sprintf("after %s: %v", time.Since(p.started).Round(time.Millisecond), err))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// end stops probing and returns the answer times and failures.
func (p *prober) end() ([]time.Duration, []string) {
	p.once.Do(func() { close(p.stop) })
	stopped := waitClosed(p.done, p.timeout+5*time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !stopped {
		p.fails = append(p.fails, fmt.Sprintf("the prober did not stop within %s", p.timeout+5*time.Second))
	}
	return p.took, p.fails
}

// slowest is the longest of took.
func slowest(took []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range took {
		m = max(m, d)
	}
	return m
}

func median(took []time.Duration) time.Duration {
	if len(took) == 0 {
		return 0
	}
	s := slices.Clone(took)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// isClosed is whether err ends a read because the peer closed or reset
// the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// waitClosed tells whether done is closed within d.
func waitClosed(done <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
