//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

// Topologies where what the operator and the nodes see differ: the CLI on
// the host against published ports while node names resolve only inside
// the Docker network; nodes that bind one address and advertise another
// name, reached through NAT (as behind a Kubernetes Service).

// Gossip keys of the operator case (roster keygen).
const (
	opKey1 = "kTcRYOmJBmvyB8XoqXh8Q0vbdvFqGDVzM0KDYlJHzc8="
	opKey2 = "5Fjvx1r3hUmHPJ1YTv7kBcWqkr6+TuD9+Lx5VR7ZsG8="
)

// topoSubnets are tried in order for a topology's network.
var topoSubnets = []string{"172.30.241", "172.30.242", "172.31.243", "10.231.87"}

// topo is a Docker network with node containers made by one test.
type topo struct {
	t       testing.TB
	name    string // prefix of its containers, volumes and network
	network string
	subnet  string
}

func newTopo(t testing.TB, kind string) *topo {
	t.Helper()
	tp := &topo{t: t, name: prefix + "-" + kind}
	tp.network = tp.name + "-net"
	tp.cleanup()
	var lastErr error
	for _, s := range topoSubnets {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := docker(ctx, "network", "create", "--subnet", s+".0/24", tp.network)
		cancel()
		if err == nil {
			tp.subnet = s
			break
		}
		lastErr = err
	}
	if tp.subnet == "" {
		t.Fatalf("e2e: no free subnet for %s: %v", tp.network, lastErr)
	}
	t.Cleanup(tp.cleanup)
	return tp
}

func (tp *topo) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	names, _ := docker(ctx, "ps", "-aq", "--filter", "name="+tp.name+"-")
	if names != "" && tp.t.Failed() {
		for _, c := range strings.Fields(names) {
			tp.t.Logf("--- %s (last lines)\n%s", c, containerLogs(ctx, c, "--tail", "30"))
		}
	}
	if names != "" {
		_, _ = docker(ctx, append([]string{"rm", "-f"}, strings.Fields(names)...)...)
	}
	if vols, _ := docker(ctx, "volume", "ls", "-q", "--filter", "name="+tp.name+"-"); vols != "" {
		_, _ = docker(ctx, append([]string{"volume", "rm", "-f"}, strings.Fields(vols)...)...)
	}
	_, _ = docker(ctx, "network", "rm", tp.network)
}

// run starts a node container; extra are docker run options before the image.
func (tp *topo) run(name, ip string, env map[string]string, extra ...string) string {
	container := tp.name + "-" + name
	args := []string{"run", "-d", "--name", container, "--network", tp.network, "--ip", ip,
		"-v", container + "-data:/data", "--stop-timeout", "15"}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	args = append(args, extra...)
	mustDocker(tp.t, append(args, image)...)
	return container
}

// hostBinary builds the roster CLI for the host, once per run.
var (
	hostBinOnce sync.Once
	hostBinPath string
	hostBinErr  error
)

func hostBinary(t testing.TB) string {
	t.Helper()
	hostBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "roster-e2e-cli-")
		if err != nil {
			hostBinErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		hostBinPath = filepath.Join(dir, "roster")
		build := exec.Command("go", "build", "-o", hostBinPath, "./cmd/roster")
		build.Dir = filepath.Join(filepath.Dir(file), "..")
		if out, err := build.CombinedOutput(); err != nil {
			hostBinErr = fmt.Errorf("e2e: build the CLI: %w: %s", err, out)
		}
	})
	if hostBinErr != nil {
		t.Fatal(hostBinErr)
	}
	return hostBinPath
}

// cli runs the host's roster and returns stdout, stderr, the exit code and
// how long it took; the command and what it printed go to the test log.
func cli(t testing.TB, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	cmd := exec.Command(hostBinary(t), args...)
	cmd.Dir = t.TempDir()
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("e2e: run roster: %v", err)
	}
	t.Logf("$ roster %s    # exit %d after %s\n%s%s", strings.Join(args, " "), code, took.Round(10*time.Millisecond), out.String(), errOut.String())
	return out.String(), errOut.String(), code, took
}

// published is the host address Docker published a container port on.
func published(t testing.TB, container, port string) string {
	t.Helper()
	out := mustDocker(t, "port", container, port)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "127.0.0.1:") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("e2e: %s has no %s published on 127.0.0.1: %q", container, port, out)
	return ""
}

func listOf(base string) map[string]api.Node {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := api.NewClient(base, "", false)
	c.HTTP = httpClient
	list, err := c.Nodes(ctx)
	if err != nil {
		return nil
	}
	out := map[string]api.Node{}
	for _, n := range list {
		out[n.Name] = n
	}
	return out
}

// allAlive waits until every base URL lists exactly names, all alive.
func allAlive(t testing.TB, within time.Duration, names []string, bases ...string) time.Duration {
	t.Helper()
	return waitFor(t, within, fmt.Sprintf("%v alive on %v", names, bases), func() bool {
		for _, b := range bases {
			l := listOf(b)
			if len(l) != len(names) {
				return false
			}
			for _, n := range names {
				if l[n].Status != "alive" {
					return false
				}
			}
		}
		return true
	})
}

// TestOperatorOutside runs every admin command from the host against
// ports Docker published on 127.0.0.1, while the nodes' names
// (nodeN.roster.test) resolve only inside the Docker network, as an
// operator behind kubectl port-forward, a bastion or NAT has it.
func TestOperatorOutside(t *testing.T) {
	if err := dockerAvailable(); err != nil {
		t.Skipf("no Docker engine answers (%v): the container suite needs one", err)
	}
	buildImage(t)
	hostBinary(t)
	tp := newTopo(t, "op")
	containers := map[string]string{}
	for i, name := range []string{"node1", "node2", "node3"} {
		env := map[string]string{
			"AXONIQ_AXONSERVER_DOMAIN":                 domain,
			"AXONIQ_AXONSERVER_CLUSTER_NAME":           "e2e-op",
			"AXONIQ_AXONSERVER_CLUSTER_ENCRYPTION_KEY": opKey1,
		}
		if name != "node3" { // node3 is registered by hand, from the host
			env["AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST"] = "node1." + domain + ":8224"
		}
		containers[name] = tp.run(name, fmt.Sprintf("%s.%d", tp.subnet, 11+i), env,
			"--hostname", name, "--domainname", domain, "--network-alias", name+"."+domain,
			"-p", "127.0.0.1::8024")
	}
	url := map[string]string{}
	for name, c := range containers {
		url[name] = "http://" + published(t, c, "8024/tcp")
	}
	if _, err := net.LookupHost("node1." + domain); err == nil {
		t.Fatalf("node1.%s resolves on this host: the test needs names that resolve only inside Docker", domain)
	}
	allAlive(t, 2*time.Minute, []string{"node1", "node2"}, url["node1"], url["node2"])
	waitFor(t, time.Minute, "node3 serves", func() bool { return listOf(url["node3"]) != nil })

	t.Run("register-node", func(t *testing.T) {
		out, errOut, code, took := cli(t, "register-node", "-S", url["node3"], "-h", "node1."+domain)
		if code != 0 || out != "node node3 joined the cluster through node1."+domain+":8224; 3 nodes\n" {
			t.Fatalf("register-node: exit %d: %s%s", code, out, errOut)
		}
		if took > 20*time.Second {
			t.Fatalf("register-node took %s", took)
		}
		allAlive(t, time.Minute, []string{"node1", "node2", "node3"}, url["node1"], url["node2"], url["node3"])
	})

	t.Run("cluster", func(t *testing.T) {
		out, errOut, code, _ := cli(t, "cluster", "-S", url["node2"])
		if code != 0 || strings.Count(out, " alive\n") != 3 || !strings.Contains(out, "node3."+domain) {
			t.Fatalf("cluster: exit %d: %s%s", code, out, errOut)
		}
	})

	watch := exec.Command(hostBinary(t), "cluster", "--watch", "-o", "json", "-S", url["node1"])
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watch.Process.Kill() })
	views := make(chan map[string]string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var list []api.Node
			if json.Unmarshal(sc.Bytes(), &list) == nil {
				v := map[string]string{}
				for _, n := range list {
					v[n.Name] = n.Status
				}
				views <- v
			}
		}
		close(views)
	}()
	waitView := func(what string, ok func(map[string]string) bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case v, open := <-views:
				if !open {
					t.Fatalf("cluster --watch ended while waiting for %s", what)
				}
				if ok(v) {
					t.Logf("cluster --watch printed %v", v)
					return
				}
			case <-deadline:
				t.Fatalf("cluster --watch printed no view with %s", what)
			}
		}
	}
	waitView("3 alive", func(v map[string]string) bool { return len(v) == 3 && v["node3"] == "alive" })

	t.Run("keys install, use, remove", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"keys", "install", opKey2}, "3 of 3 registered nodes have the key now"},
			{[]string{"keys", "use", opKey2}, "3 of 3 registered nodes encrypt with the key now"},
			{[]string{"keys", "remove", opKey1}, "3 of 3 registered nodes no longer have the key"},
		} {
			out, errOut, code, _ := cli(t, append(c.args, "-S", url["node2"])...)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("%v: exit %d: %s%s", c.args, code, out, errOut)
			}
		}
	})

	t.Run("unregister-node", func(t *testing.T) {
		out, errOut, code, _ := cli(t, "unregister-node", "-n", "node3", "-S", url["node1"])
		if code != 0 || out != "node node3 unregistered from the cluster\n" {
			t.Fatalf("unregister-node: exit %d: %s%s", code, out, errOut)
		}
		waitView("node3 gone", func(v map[string]string) bool { _, there := v["node3"]; return len(v) == 2 && !there })
		allAlive(t, time.Minute, []string{"node1", "node2"}, url["node1"], url["node2"])
	})

	if err := watch.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := watch.Wait(); err != nil {
		t.Fatalf("cluster --watch after Ctrl-C: %v", err)
	}

	t.Run("a stopped node", func(t *testing.T) {
		// Paused: the port still accepts connections, nothing answers.
		mustDocker(t, "pause", containers["node2"])
		defer mustDocker(t, "unpause", containers["node2"])
		for _, args := range [][]string{
			{"cluster", "-S", url["node2"], "--timeout", "3s"},
			{"keys", "list", "-S", url["node2"], "--timeout", "3s"},
			{"register-node", "-S", url["node2"], "-h", "node1." + domain, "--timeout", "3s"},
		} {
			_, errOut, code, took := cli(t, args...)
			if code != 1 || !strings.Contains(errOut, url["node2"]) || !strings.Contains(errOut, "no answer") ||
				!strings.Contains(errOut, "within --timeout 3s") || took > 8*time.Second {
				t.Fatalf("%v: exit %d after %s: %s", args, code, took, errOut)
			}
		}
	})
}

// TestAdvertisedNameBehindNAT: each node binds its own address (all of
// them, 0.0.0.0) but advertises an internal name that resolves to another
// address, a "service IP" that the other nodes reach only through NAT
// (iptables DNAT in every node's network namespace, as kube-proxy does
// for a Service), and a client name that resolves nowhere. Nodes join
// through those names (the first one finds that the address leads to
// itself), and heal after a partition and a restart.
func TestAdvertisedNameBehindNAT(t *testing.T) {
	if err := dockerAvailable(); err != nil {
		t.Skipf("no Docker engine answers (%v): the container suite needs one", err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("nsenter is needed to set up NAT in the containers")
	}
	buildImage(t)
	tp := newTopo(t, "nat")
	names := []string{"node1", "node2", "node3"}
	pod := func(i int) string { return fmt.Sprintf("%s.%d", tp.subnet, 21+i) }
	svc := func(i int) string { return fmt.Sprintf("%s.%d", tp.subnet, 121+i) }
	var hosts []string
	for i, name := range names {
		hosts = append(hosts, "--add-host", name+"-svc."+domain+":"+svc(i))
	}
	containers := make([]string, len(names))
	envs := make([]map[string]string, len(names))
	for i, name := range names {
		env := map[string]string{
			"AXONIQ_AXONSERVER_NAME":              name,
			"AXONIQ_AXONSERVER_HOSTNAME":          fmt.Sprintf("n%d", i+1),
			"AXONIQ_AXONSERVER_DOMAIN":            "example.test",
			"AXONIQ_AXONSERVER_INTERNAL_HOSTNAME": name + "-svc",
			"AXONIQ_AXONSERVER_INTERNAL_DOMAIN":   domain,
			// node1's service IP: node1 cannot tell it is its own
			// address but by asking (it finds itself answering).
			"AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST": svc(0) + ":8224",
			"AXONIQ_AXONSERVER_CLUSTER_NAME":      "e2e-nat",
		}
		envs[i] = env
	}
	// The service IPs lead to the pods only through NAT, in every node.
	nat := func(container string) {
		for i := range names {
			rule := []string{"-t", "nat", "OUTPUT", "-d", svc(i), "-j", "DNAT", "--to-destination", pod(i)}
			check := append([]string{"iptables", rule[0], rule[1], "-C"}, rule[2:]...)
			if exec.Command("nsenter", append([]string{"-t", mustDocker(t, "inspect", "-f", "{{.State.Pid}}", container), "-n"}, check...)...).Run() == nil {
				continue
			}
			inNetns(t, container, append([]string{"iptables", rule[0], rule[1], "-A"}, rule[2:]...)...)
		}
	}
	// node1 first, alone, until it finds that autocluster.first leads to
	// itself through NAT: once others join it, it stops trying (it is in
	// a cluster), so it must meet its NATed address before they come.
	const self = "autocluster: this node is the first node (the address leads to itself)"
	for i, name := range names {
		containers[i] = tp.run(name, pod(i), envs[i], append([]string{"--hostname", "pod-" + name}, hosts...)...)
		nat(containers[i])
		if i == 0 {
			waitFor(t, 2*time.Minute, "node1 finds that autocluster.first leads to itself", func() bool {
				return strings.Contains(containerLogs(context.Background(), containers[0]), self)
			})
		}
	}
	base := func(i int) string { return "http://" + pod(i) + ":8024" }
	all := []string{base(0), base(1), base(2)}
	d := allAlive(t, 2*time.Minute, names, all...)
	t.Logf("joined through the NATed names: all alive on every node after %s", d.Round(time.Millisecond))
	for i, b := range all {
		for j, name := range names {
			n := listOf(b)[name]
			if n.InternalHostName != name+"-svc."+domain || n.HostName != fmt.Sprintf("n%d.example.test", j+1) {
				t.Fatalf("%s lists %s as %s (clients) / %s (nodes)", names[i], name, n.HostName, n.InternalHostName)
			}
		}
	}
	// Gossip runs on the advertised (service) address, not the bound one.
	for i, name := range names {
		want := svc(i) + ":8224"
		waitFor(t, 30*time.Second, name+"'s gossip address is its service IP", func() bool {
			return gossipAddrAt(base((i+1)%3), name) == want
		})
	}

	t.Run("partition heals", func(t *testing.T) {
		c := containers[2]
		for _, other := range []int{0, 1} {
			for _, ip := range []string{pod(other), svc(other)} {
				inNetns(t, c, "iptables", "-I", "INPUT", "-s", ip, "-j", "DROP")
				inNetns(t, c, "iptables", "-I", "OUTPUT", "-d", ip, "-j", "DROP")
			}
		}
		waitFor(t, time.Minute, "node3 failed on node1 and node2", func() bool {
			return listOf(base(0))["node3"].Status == "failed" && listOf(base(1))["node3"].Status == "failed"
		})
		start := time.Now()
		inNetns(t, c, "iptables", "-F")
		allAlive(t, 2*time.Minute, names, all...)
		t.Logf("partition healed: all alive on every node %s after the drop rules went", time.Since(start).Round(time.Millisecond))
	})

	t.Run("restart rejoins through the NATed names", func(t *testing.T) {
		c := containers[1]
		mustDocker(t, "stop", c)
		waitFor(t, time.Minute, "node2 left", func() bool { return listOf(base(0))["node2"].Status == "left" })
		start := time.Now()
		mustDocker(t, "start", c)
		nat(c) // a new network namespace
		allAlive(t, 2*time.Minute, names, all...)
		t.Logf("restarted node2: all alive on every node %s after docker start", time.Since(start).Round(time.Millisecond))
	})
}

// gossipAddrAt is the gossip address base's node holds for member.
func gossipAddrAt(base, member string) string {
	resp, err := httpClient.Get(base + "/internal/gossip")
	if err != nil {
		return ""
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
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

// containerLogs is what a container wrote, stdout and stderr (the node
// logs to stderr).
func containerLogs(ctx context.Context, container string, opts ...string) string {
	out, _ := exec.CommandContext(ctx, "docker", append(append([]string{"logs"}, opts...), container)...).CombinedOutput()
	return string(out)
}
