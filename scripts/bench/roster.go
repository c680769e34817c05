package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/rpc/controlpb"
)

// rosterAgent runs `roster server` processes as `roster dev` does, and
// drives them with `roster register-node` and GET /v1/public.
type rosterAgent struct {
	bin, dir, profile string
	ports             *ports
	http              *http.Client
	stream            *http.Client // -watch stream (stream.go)
	mu                sync.Mutex
	nodes             []*node
}

func newRosterAgent(bin, dir, profile string, p *ports) *rosterAgent {
	return &rosterAgent{bin: bin, dir: dir, profile: profile, ports: p, http: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only, whatever the environment says
			MaxIdleConnsPerHost: 4,
			DisableCompression:  true,
		},
	}, stream: newStreamClient()}
}

func (r *rosterAgent) Name() string { return "roster" }

func (r *rosterAgent) Idle() []string { return []string{r.bin, "--version"} }

// buildRoster compiles the binary as it is shipped, with scripts/build.sh
// (which scripts/docker-build.sh uses for the image).
func buildRoster(ctx context.Context, dir string) (string, error) {
	root, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(root)) == "" || strings.TrimSpace(string(root)) == os.DevNull {
		return "", fmt.Errorf("bench: run from inside the roster module (go env GOMOD: %v)", err)
	}
	bin := filepath.Join(dir, "roster")
	top := filepath.Dir(strings.TrimSpace(string(root)))
	cmd := exec.CommandContext(ctx, filepath.Join(top, "scripts", "build.sh"), bin)
	cmd.Dir = top
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: build roster: %w: %s", err, out)
	}
	return bin, nil
}

func (r *rosterAgent) Start(_ context.Context, i int) (*node, error) {
	nd := &node{name: "node" + strconv.Itoa(i+1), dir: filepath.Join(r.dir, "node"+strconv.Itoa(i+1))}
	if err := os.MkdirAll(nd.dir, 0o750); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	nd.log = filepath.Join(nd.dir, "node.log")
	var err error
	if nd.http, err = r.ports.get(false); err != nil {
		return nil, err
	}
	if nd.grpc, err = r.ports.get(false); err != nil {
		return nil, err
	}
	if nd.internal, err = r.ports.get(true); err != nil {
		return nil, err
	}
	args := []string{"server",
		"--axoniq.axonserver.name=" + nd.name,
		"--axoniq.axonserver.hostname=127.0.0.1",
		"--axoniq.axonserver.cluster.bind-address=127.0.0.1",
		"--server.port=" + strconv.Itoa(nd.http),
		"--axoniq.axonserver.port=" + strconv.Itoa(nd.grpc),
		"--axoniq.axonserver.internal-port=" + strconv.Itoa(nd.internal),
		"--axoniq.axonserver.controldb-path=" + filepath.Join(nd.dir, "data"),
		"--axoniq.axonserver.cluster.gossip-profile=" + r.profile,
	}
	if err := nd.start(r.bin, args, os.Environ()); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.nodes = append(r.nodes, nd)
	r.mu.Unlock()
	return nd, nil
}

func (r *rosterAgent) url(nd *node, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(nd.http) + path
}

func (r *rosterAgent) get(ctx context.Context, nd *node, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(nd, path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

func (r *rosterAgent) WaitReady(ctx context.Context, nd *node, within time.Duration) error {
	return nd.waitFor(ctx, within, func() error {
		_, err := r.get(ctx, nd, "/actuator/health")
		return err
	})
}

// Join is what an operator types: roster register-node -S NEW -h CONTACT -p PORT.
func (r *rosterAgent) Join(ctx context.Context, nd, contact *node) error {
	return runCommand(ctx, nd.dir, r.bin, "register-node", "-S", r.url(nd, ""), "-h", "127.0.0.1", "-p", strconv.Itoa(contact.internal))
}

func (r *rosterAgent) Members(ctx context.Context, nd *node) (map[string]member, error) {
	b, err := r.get(ctx, nd, "/v1/public")
	if err != nil {
		return nil, err
	}
	return parseNodes(b)
}

// parseNodes reads name, status and since of each node in GET
// /v1/public's answer. At 100 nodes the benchmark reads thousands of these
// a second on the nodes' own two cores, so it scans for the fields it
// needs, in the order the API writes them, instead of decoding
// everything; anything unexpected goes to encoding/json.
func parseNodes(b []byte) (map[string]member, error) {
	out := map[string]member{}
	rest := b
	for {
		name, after, ok := stringField(rest, `"name"`)
		if !ok {
			break
		}
		status, after2, ok := stringField(after, `"status"`)
		if !ok {
			return parseNodesSlow(b)
		}
		since, after3, ok := stringField(after2, `"since"`)
		if !ok {
			return parseNodesSlow(b)
		}
		// Both must belong to this node: no other name before them.
		if next := bytes.Index(after, []byte(`"name"`)); next >= 0 && next < len(after)-len(after3) {
			return parseNodesSlow(b)
		}
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			return parseNodesSlow(b)
		}
		out[name] = member{status: status, since: t}
		rest = after3
	}
	if len(out) == 0 && len(bytes.TrimSpace(b)) > 2 {
		return parseNodesSlow(b)
	}
	return out, nil
}

// stringField finds "key": "value" and returns the value and what follows.
func stringField(b []byte, key string) (string, []byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return "", nil, false
	}
	b = bytes.TrimLeft(b[i+len(key):], " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return "", nil, false
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 || bytes.IndexByte(b[1:1+end], '\\') >= 0 {
		return "", nil, false
	}
	return string(b[1 : 1+end]), b[2+end:], true
}

func parseNodesSlow(b []byte) (map[string]member, error) {
	var list []struct {
		Name   string    `json:"name"`
		Status string    `json:"status"`
		Since  time.Time `json:"since"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("GET /v1/public: %w", err)
	}
	out := make(map[string]member, len(list))
	for _, n := range list {
		out[n.Name] = member{status: n.Status, since: n.Since}
	}
	return out, nil
}

func (r *rosterAgent) Stop(nd *node) error { return nd.interrupt(15 * time.Second) }

// GossipBytes sums roster_gossip_bytes_total{direction="sent"} (UDP and
// TCP payload as the node's sockets count it) over the nodes, read from
// each node's /actuator/prometheus.
func (r *rosterAgent) GossipBytes(ctx context.Context, nodes []*node) (float64, error) {
	var total float64
	for _, nd := range nodes {
		b, err := r.get(ctx, nd, "/actuator/prometheus")
		if err != nil {
			return 0, err
		}
		v, found := sumMetric(b, "roster_gossip_bytes_total", `direction="sent"`)
		if !found {
			return 0, errors.New("no roster_gossip_bytes_total at /actuator/prometheus")
		}
		total += v
	}
	return total, nil
}

// sumMetric adds up the samples of a Prometheus text-format metric whose
// labels contain want.
func sumMetric(b []byte, name, want string) (float64, bool) {
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if want != "" && !strings.Contains(line, want) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func (r *rosterAgent) RESTLatency(ctx context.Context, nd *node, samples int) ([]time.Duration, int, error) {
	var size int
	for range 20 { // warm up the connection and the server
		b, err := r.get(ctx, nd, "/v1/public")
		if err != nil {
			return nil, 0, err
		}
		st, err := parseNodes(b)
		if err != nil {
			return nil, 0, err
		}
		size = len(st)
	}
	out := make([]time.Duration, 0, samples)
	for range samples {
		t := time.Now()
		if _, err := r.get(ctx, nd, "/v1/public"); err != nil {
			return nil, 0, err
		}
		out = append(out, time.Since(t))
	}
	return out, size, nil
}

// ClientThroughput compares GetPlatformServer with gRPC health's Check,
// a unary call that does nothing, on the same server and connection:
// runs alternate so that drifting load hits both alike.
func (r *rosterAgent) ClientThroughput(ctx context.Context, nd *node, d time.Duration, res *result) error {
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(nd.grpc), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("bench: client gRPC: %w", err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	platform := controlpb.NewPlatformServiceClient(conn)
	id := &controlpb.ClientIdentification{ClientId: "bench-1", ComponentName: "bench"}
	calls := map[string]func(context.Context) error{
		"health": func(ctx context.Context) error {
			_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		},
		"platform": func(ctx context.Context) error {
			_, err := platform.GetPlatformServer(ctx, id)
			return err
		},
	}
	for _, name := range []string{"health", "platform"} { // warm up
		if _, err := rate(ctx, calls[name], d/5); err != nil {
			return fmt.Errorf("bench: %s: %w", name, err)
		}
	}
	// Each pair of runs is next to each other in time, so the ratio within
	// a pair is what drift on the shared cores disturbs least; the median
	// of the pairs' ratios is the figure.
	runs := map[string][]float64{}
	var ratios []float64
	for range clientPairs {
		for _, name := range []string{"health", "platform"} {
			v, err := rate(ctx, calls[name], d)
			if err != nil {
				return fmt.Errorf("bench: %s: %w", name, err)
			}
			runs[name] = append(runs[name], v)
		}
		ratios = append(ratios, runs["platform"][len(runs["platform"])-1]/runs["health"][len(runs["health"])-1])
	}
	res.health, res.platform, res.platformRatio = medianF(runs["health"]), medianF(runs["platform"]), medianF(ratios)
	return nil
}

// clientPairs is the number of alternating pairs of throughput runs.
const clientPairs = 5

// clientConcurrency is the number of calls in flight: enough to keep both
// cores busy through one HTTP/2 connection.
const clientConcurrency = 16

// rate runs call from clientConcurrency goroutines for d and returns
// calls per second.
func rate(ctx context.Context, call func(context.Context) error, d time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(d)
	for range clientConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := call(ctx); err != nil {
					firstErr.CompareAndSwap(nil, err)
					cancel()
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func (r *rosterAgent) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, nd := range r.nodes {
		if nd.running() {
			_ = nd.cmd.Process.Kill()
			<-nd.exited
		}
	}
	r.http.CloseIdleConnections()
}
