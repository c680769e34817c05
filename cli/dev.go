package cli

import (
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
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/logtail"
)

// devNode is one child process of "roster dev".
type devNode struct {
	name               string
	http, grpc, intern int
	args               []string
	log                string
	dataDir            string
	pidFile            string
	// logStart is the log's size when this run started the node: its
	// errors are quoted from there, not an earlier run's.
	logStart int64
	cmd      *exec.Cmd
	exited   chan struct{}
}

// newDevCommand starts a local cluster of separate node processes on
// loopback, registers them, and prints the table and the URLs. The nodes
// are real processes so that kill -9 and restarts behave as on real hosts.
func newDevCommand(s *settings) *cobra.Command {
	var (
		count    int
		dir      string
		basePort int
		profile  string
		output   = outputFormat(outputTxt)
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start a local cluster of node processes on this machine (for trying roster out)",
		Long: "Start a local cluster: node1..nodeN as separate processes on loopback, node1 on ports\n" +
			"8024 (HTTP), 8124 (client gRPC) and 8224 (internal), node2 on 8025/8125/8225, and so on,\n" +
			"each with its data, log and pid file in --dir. node2..nodeN are registered through node1.\n" +
			"Ctrl-C stops them gracefully, those restarted with the printed commands too; their data\n" +
			"stays, so the next run brings the same cluster back. Nodes still running on its ports\n" +
			"are reported with their process ids instead.",
		Args: cobra.NoArgs,
	}
	cmd.Flags().IntVar(&count, "nodes", 3, "number of nodes")
	cmd.Flags().StringVar(&dir, "dir", "dev-data", "directory for the nodes' data and logs")
	cmd.Flags().IntVar(&basePort, "base-port", 8024, "HTTP port of node1; client gRPC is +100, internal +200")
	cmd.Flags().StringVar(&profile, "gossip-profile", "local", "gossip profile: local, lan or wan")
	cmd.Flags().VarP(&output, "output", "o", "output format: txt, or json for one JSON object describing the nodes (messages go to stderr)")
	_ = cmd.RegisterFlagCompletionFunc("output", completeOutput) // fails only for an unknown flag
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if count < 1 || count > 50 {
			return usagef("--nodes %d: allowed 1 to 50", count)
		}
		if basePort < 1 || basePort+200+count > 65535 {
			return usagef("--base-port %d: the nodes' ports must fit below 65536", basePort)
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable: %w", err)
		}
		// Absolute, so the printed commands work from any directory.
		if dir, err = filepath.Abs(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		nodes := make([]*devNode, count)
		for i := range nodes {
			nodes[i] = newDevNode(i+1, basePort, dir, profile)
		}
		if err := checkDevPorts(nodes); err != nil {
			return err
		}
		exe, kept, err := devBinary(exe, dir)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		defer stopDevNodes(s, nodes)
		for _, n := range nodes {
			if err := n.start(exe); err != nil {
				return err
			}
		}
		for _, n := range nodes {
			if err := n.waitHealthy(ctx, 30*time.Second); err != nil {
				return err
			}
		}
		first := nodes[0]
		for _, n := range nodes[1:] {
			c := api.NewClient(n.url(), "", false)
			err := c.Join(ctx, api.JoinRequest{InternalHostName: "localhost", InternalGrpcPort: first.intern})
			var ae *api.Error
			if err != nil && !(errors.As(err, &ae) && ae.Code == api.CodeAlreadyMember) {
				return fmt.Errorf("register %s through %s: %w", n.name, first.name, err)
			}
		}
		list, err := api.NewClient(first.url(), "", false).Nodes(ctx)
		if err != nil {
			return err
		}
		// With -o json, stdout carries the JSON only.
		info := s.out
		if output == outputJSON {
			info = s.errOut
		}
		if kept {
			_ = printLine(info, "go run's build is deleted when dev ends: the nodes and the commands below use a copy, %s", exe)
		}
		if output == outputJSON {
			if err := printDevJSON(s, exe, nodes, list); err != nil {
				return err
			}
		} else {
			if err := printNodeTable(s.out, list, useColour(s.out)); err != nil {
				return err
			}
			printDevHelp(s, exe, nodes, dir)
		}
		for _, n := range nodes {
			go func(n *devNode) {
				<-n.exited
				if ctx.Err() == nil {
					_ = printLine(info, "%s (pid %d) exited: %v. Start it again with (Ctrl-C here stops it too):\n  %s",
						n.name, n.cmd.Process.Pid, n.cmd.ProcessState, shellCommand(append([]string{exe}, n.args...)))
				}
			}(n)
		}
		<-ctx.Done()
		_ = printLine(info, "stopping the nodes (data stays in %s)", dir)
		stopStrays(s, nodes)
		return nil
	}
	return cmd
}

func newDevNode(i, basePort int, dir, profile string) *devNode {
	n := &devNode{
		name:   "node" + strconv.Itoa(i),
		http:   basePort + i - 1,
		grpc:   basePort + 100 + i - 1,
		intern: basePort + 200 + i - 1,
		exited: make(chan struct{}),
	}
	n.log = filepath.Join(dir, n.name+".log")
	n.dataDir = filepath.Join(dir, n.name)
	n.pidFile = filepath.Join(dir, n.name+".pid")
	n.args = []string{"server",
		"--pid-file=" + n.pidFile,
		"--axoniq.axonserver.name=" + n.name,
		"--axoniq.axonserver.hostname=localhost",
		"--axoniq.axonserver.domain=",
		"--axoniq.axonserver.internal-domain=",
		"--axoniq.axonserver.cluster.bind-address=127.0.0.1",
		"--server.port=" + strconv.Itoa(n.http),
		"--axoniq.axonserver.port=" + strconv.Itoa(n.grpc),
		"--axoniq.axonserver.internal-port=" + strconv.Itoa(n.intern),
		"--axoniq.axonserver.controldb-path=" + n.dataDir,
		"--axoniq.axonserver.cluster.gossip-profile=" + profile,
	}
	return n
}

func (n *devNode) url() string { return "http://localhost:" + strconv.Itoa(n.http) }

func (n *devNode) start(exe string) error {
	f, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil {
		n.logStart = st.Size()
	}
	n.cmd = exec.Command(exe, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.SysProcAttr = devProcAttr()
	if err := n.cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	go func() {
		_ = n.cmd.Wait()
		_ = f.Close()
		close(n.exited)
	}()
	return nil
}

func (n *devNode) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited at start: %s", n.name, logtail.Lines(n.log, n.logStart, 3))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := hc.Get(n.url() + "/actuator/health"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy after %s; see %s", n.name, within, n.log)
}

// devNodeJSON is one node of `roster dev -o json`.
type devNodeJSON struct {
	Name      string   `json:"name"`
	PID       int      `json:"pid"`
	HTTPPort  int      `json:"httpPort"`
	GrpcPort  int      `json:"grpcPort"`
	Internal  int      `json:"grpcInternalPort"`
	Dashboard string   `json:"dashboard"`
	Log       string   `json:"log"`
	Restart   []string `json:"restart"`
}

// printDevJSON prints the nodes' processes and the cluster as node1 lists it.
func printDevJSON(s *settings, exe string, nodes []*devNode, cluster []api.Node) error {
	out := struct {
		Nodes   []devNodeJSON `json:"nodes"`
		Cluster []api.Node    `json:"cluster"`
	}{Cluster: cluster}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, devNodeJSON{Name: n.name, PID: n.cmd.Process.Pid, HTTPPort: n.http, GrpcPort: n.grpc,
			Internal: n.intern, Dashboard: n.url() + "/", Log: n.log, Restart: append([]string{exe}, n.args...)})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return printJSON(s.out, b)
}

func printDevHelp(s *settings, exe string, nodes []*devNode, dir string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "%s  pid %-7d dashboard %s/  API %s/v1/public  health %s/actuator/health  log %s\n",
			n.name, n.cmd.Process.Pid, n.url(), n.url(), n.url(), n.log)
	}
	first := nodes[0].url()
	fmt.Fprintf(&b, "\nDashboard (live):  %s/\n", first)
	fmt.Fprintf(&b, "API docs:          %s/swagger-ui.html   (OpenAPI: %s/v3/api-docs)\n", first, first)
	fmt.Fprintf(&b, "Metrics:           %s/actuator/prometheus\n", first)
	try := []string{exe, "cluster", "--watch"}
	if first != defaultServer {
		try = append(try, "-S", first)
	}
	fmt.Fprintf(&b, "\nTry: %s    (the table, redrawn on every change)\n", shellCommand(try))
	fmt.Fprintf(&b, "     kill -9 %d             (node%d fails; watch the dashboard and the table notice)\n", nodes[len(nodes)-1].cmd.Process.Pid, len(nodes))
	fmt.Fprintf(&b, "Ctrl-C stops the cluster; data stays in %s and the next run restores it.\n", dir)
	_, _ = fmt.Fprint(s.out, b.String())
}

func stopDevNodes(s *settings, nodes []*devNode) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == nil || n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		wg.Add(1)
		go func(n *devNode) {
			defer wg.Done()
			select {
			case <-n.exited:
				return
			default:
			}
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.exited:
			case <-time.After(15 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.exited
				_ = printLine(s.errOut, "%s did not stop in 15s and was killed", n.name)
			}
		}(n)
	}
	wg.Wait()
}

// shellCommand quotes args for a POSIX shell where they need it.
func shellCommand(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@+%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
