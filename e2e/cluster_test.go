//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

const (
	domain  = "roster.test"
	cluster = "e2e"
)

// Names of what the suite makes in Docker. Two runs on one engine (two
// worktrees, say) set ROSTER_E2E_PREFIX (containers, volumes, networks;
// default roster-e2e) and ROSTER_E2E_IMAGE (default roster:e2e) apart.
var (
	image  = envOr("ROSTER_E2E_IMAGE", "roster:e2e")
	prefix = envOr("ROSTER_E2E_PREFIX", "roster-e2e")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// host is one node container: its own host name under roster.test, its
// own address, its data in a named volume.
type host struct {
	name      string // node1
	container string // roster-e2e-node1
	volume    string
	ip        string
}

// testbed is a Docker network of roster containers made by the suite.
type testbed struct {
	t       testing.TB
	network string
	subnet  string // first three octets, e.g. 172.30.231
	hosts   []*host
}

// subnets the suite tries for its network, in order, until one is free.
var subnets = []string{"172.30.231", "172.30.232", "172.31.233", "10.231.77"}

// The image is built once per run, by the first test that needs it.
var (
	imageOnce sync.Once
	imageErr  error
)

func buildImage(t testing.TB) {
	t.Helper()
	imageOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "scripts", "docker-build.sh")
		if out, err := exec.Command(script, image).CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("e2e: build image: %w: %s", err, out)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
}

func newTestbed(t testing.TB, n int) *testbed {
	t.Helper()
	tb := &testbed{t: t, network: prefix + "-net"}
	tb.cleanup()
	var lastErr error
	for _, s := range subnets {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := docker(ctx, "network", "create", "--subnet", s+".0/24", tb.network)
		cancel()
		if err == nil {
			tb.subnet = s
			break
		}
		lastErr = err
	}
	if tb.subnet == "" {
		t.Fatalf("e2e: no free subnet for the test network: %v", lastErr)
	}
	t.Cleanup(tb.cleanup)
	for i := 1; i <= n; i++ {
		h := &host{name: fmt.Sprintf("node%d", i), ip: fmt.Sprintf("%s.%d", tb.subnet, 10+i)}
		h.container = prefix + "-" + h.name
		h.volume = prefix + "-" + h.name + "-data"
		tb.hosts = append(tb.hosts, h)
		tb.run(h)
	}
	for _, h := range tb.hosts {
		tb.waitHealthy(h)
	}
	return tb
}

// run starts h's container at h.ip.
func (tb *testbed) run(h *host) {
	mustDocker(tb.t, "run", "-d", "--name", h.container,
		"--hostname", h.name, "--domainname", domain,
		"--network", tb.network, "--ip", h.ip, "--network-alias", h.name+"."+domain,
		"-v", h.volume+":/data",
		"-e", "AXONIQ_AXONSERVER_DOMAIN="+domain,
		"-e", "AXONIQ_AXONSERVER_CLUSTER_NAME="+cluster,
		"--stop-timeout", "15",
		image)
}

func (tb *testbed) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if tb.t.Failed() {
		for _, h := range tb.hosts {
			// Nodes log to stderr: docker logs replays it there.
			out, _ := exec.CommandContext(ctx, "docker", "logs", "--tail", "60", h.container).CombinedOutput()
			tb.t.Logf("--- %s (last lines)\n%s", h.container, out)
		}
	}
	names, _ := docker(ctx, "ps", "-aq", "--filter", "name="+prefix)
	if names != "" {
		_, _ = docker(ctx, append([]string{"rm", "-f"}, strings.Fields(names)...)...)
	}
	vols, _ := docker(ctx, "volume", "ls", "-q", "--filter", "name="+prefix)
	if vols != "" {
		_, _ = docker(ctx, append([]string{"volume", "rm", "-f"}, strings.Fields(vols)...)...)
	}
	_, _ = docker(ctx, "network", "rm", tb.network)
}

func (h *host) url() string { return "http://" + h.ip + ":8024" }

var httpClient = &http.Client{Timeout: 2 * time.Second}

func (tb *testbed) waitHealthy(h *host) {
	tb.t.Helper()
	waitFor(tb.t, time.Minute, h.name+" healthy", func() bool {
		resp, err := httpClient.Get(h.url() + "/actuator/health")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// nodes is what h's REST API lists, or nil when it does not answer.
func nodes(h *host) []api.Node {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := api.NewClient(h.url(), "", false)
	c.HTTP = httpClient
	list, err := c.Nodes(ctx)
	if err != nil {
		return nil
	}
	return list
}

func statuses(h *host) map[string]string {
	out := map[string]string{}
	for _, n := range nodes(h) {
		out[n.Name] = n.Status
	}
	return out
}

func names(m map[string]string) string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// waitFor polls cond every 20 ms until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("e2e: %s: not within %s", what, within)
	return 0
}

// waitSeen waits until every observer shows member with status and returns
// the time from start until the last observer did.
func waitSeen(t testing.TB, start time.Time, within time.Duration, member, status string, observers ...*host) time.Duration {
	t.Helper()
	pending := map[*host]bool{}
	for _, o := range observers {
		pending[o] = true
	}
	var last time.Duration
	waitFor(t, within, fmt.Sprintf("%s %s on %d nodes", member, status, len(observers)), func() bool {
		for o := range pending {
			if statuses(o)[member] == status {
				delete(pending, o)
				last = time.Since(start)
			}
		}
		return len(pending) == 0
	})
	return last
}

// waitAllAlive waits until every observer lists exactly want, all alive.
func waitAllAlive(t testing.TB, start time.Time, within time.Duration, want []*host, observers ...*host) time.Duration {
	t.Helper()
	var last time.Duration
	pending := map[*host]bool{}
	for _, o := range observers {
		pending[o] = true
	}
	waitFor(t, within, "all alive everywhere", func() bool {
		for o := range pending {
			st := statuses(o)
			ok := len(st) == len(want)
			for _, w := range want {
				ok = ok && st[w.name] == "alive"
			}
			if ok {
				delete(pending, o)
				last = time.Since(start)
			}
		}
		return len(pending) == 0
	})
	return last
}

func others(all []*host, except ...*host) []*host {
	var out []*host
	for _, h := range all {
		skip := false
		for _, e := range except {
			skip = skip || e == h
		}
		if !skip {
			out = append(out, h)
		}
	}
	return out
}

func gossipAddr(t testing.TB, observer *host, member string) string {
	resp, err := httpClient.Get(observer.url() + "/internal/gossip")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		Registry []struct {
			Name string `json:"name"`
			Addr string `json:"addr"`
		} `json:"registry"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return ""
	}
	for _, m := range st.Registry {
		if m.Name == member {
			return m.Addr
		}
	}
	return ""
}
