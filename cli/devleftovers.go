package cli

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A dev node writes its process id to <dir>/<name>.pid (roster server
// --pid-file), however it was started: by roster dev, or by the restart
// command dev prints. So dev finds the nodes of its cluster that it did not
// start itself: to report them instead of starting beside them, and to stop
// them on Ctrl-C.

// runningDevNode is the process that n's pid file names, when it still
// runs as n (on Linux its command line names n's data directory, so a
// reused pid is not mistaken for it).
func runningDevNode(n *devNode) (pid int, cmdline string) {
	b, err := os.ReadFile(n.pidFile)
	if err != nil {
		return 0, ""
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		return 0, ""
	}
	cmdline, ok := processCmdline(pid)
	if !ok || cmdline != "" && !strings.Contains(cmdline, "--axoniq.axonserver.controldb-path="+n.dataDir) {
		return 0, ""
	}
	return pid, cmdline
}

// checkDevPorts refuses to start when a node of this cluster still runs or
// another process holds one of the nodes' ports, naming each with its
// process id.
func checkDevPorts(nodes []*devNode) error {
	var problems []string
	for _, n := range nodes {
		if pid, cmd := runningDevNode(n); pid > 0 {
			problems = append(problems, fmt.Sprintf("%s still runs as pid %d%s", n.name, pid, describeCmd(cmd)))
			continue
		}
		for _, p := range []struct {
			port int
			what string
			udp  bool
		}{{n.http, "HTTP port", false}, {n.grpc, "client gRPC port", false}, {n.intern, "internal port", false}, {n.intern, "internal port (UDP)", true}} {
			if portFree(p.port, p.udp) {
				continue
			}
			owner := "another process"
			if pid := portOwner(p.port, p.udp); pid > 0 {
				cmd, _ := processCmdline(pid)
				owner = fmt.Sprintf("pid %d%s", pid, describeCmd(cmd))
			}
			problems = append(problems, fmt.Sprintf("%s's %s %d is in use by %s", n.name, p.what, p.port, owner))
			break // one line a node is enough
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s: stop them (kill PID; a node left from an earlier roster dev stops gracefully), or choose other ports with --base-port",
		strings.Join(problems, "; "))
}

// describeCmd shows the start of a command line, for messages.
func describeCmd(cmd string) string {
	if cmd == "" {
		return ""
	}
	const max = 100
	if len(cmd) > max {
		cmd = cmd[:max] + "…"
	}
	return " (" + cmd + ")"
}

func portFree(port int, udp bool) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if udp {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// stopStrays stops the nodes of this cluster that roster dev did not start
// (restarted with the printed command), as Ctrl-C stops its own.
func stopStrays(s *settings, nodes []*devNode) {
	for _, n := range nodes {
		pid, _ := runningDevNode(n)
		if pid <= 0 || n.cmd != nil && n.cmd.Process != nil && n.cmd.Process.Pid == pid {
			continue
		}
		p, err := os.FindProcess(pid)
		if err != nil || p.Signal(syscall.SIGTERM) != nil {
			continue
		}
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if _, running := processCmdline(pid); !running {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, running := processCmdline(pid); running {
			_ = p.Kill()
			_ = printLine(s.errOut, "%s (pid %d) did not stop in 15s and was killed", n.name, pid)
		}
	}
}

// devBinary is the binary the nodes run and the printed commands name:
// the running one, unless it is `go run`'s temporary build, which go run
// deletes when dev ends; then a copy kept in dir/bin.
func devBinary(exe, dir string) (string, bool, error) {
	slashed := filepath.ToSlash(exe)
	if !strings.Contains(slashed, "/go-build") || !strings.Contains(slashed, "/exe/") {
		return exe, false, nil
	}
	dst := filepath.Join(dir, "bin", filepath.Base(exe))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", false, fmt.Errorf("keep the binary: %w", err)
	}
	in, err := os.Open(exe)
	if err != nil {
		return "", false, fmt.Errorf("keep the binary: %w", err)
	}
	defer func() { _ = in.Close() }()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".roster-*")
	if err != nil {
		return "", false, fmt.Errorf("keep the binary: %w", err)
	}
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o755) //nolint:gosec // an executable
	}
	if err == nil {
		// A rename replaces the file even while a node runs the old copy.
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", false, fmt.Errorf("keep the binary: %w", err)
	}
	return dst, true, nil
}

// writePIDFile writes this process's id to path and returns a function
// that removes the file, unless another process has written it since.
func writePIDFile(path string) (func(), error) {
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(pid+"\n"), 0o644); err != nil { //nolint:gosec // not secret
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == pid {
			_ = os.Remove(path)
		}
	}, nil
}
