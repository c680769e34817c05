package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rosterhq/roster/internal/logtail"
)

// agent is one gossip membership implementation under test: roster, or
// the serf agent.
type agent interface {
	Name() string
	// Start launches node number i (not yet joined to anything).
	Start(ctx context.Context, i int) (*node, error)
	// WaitReady returns once the node answers on its API.
	WaitReady(ctx context.Context, nd *node, within time.Duration) error
	// Join runs the agent's own join command on nd, through contact.
	Join(ctx context.Context, nd, contact *node) error
	// Idle is a command of the agent's binary that starts and exits doing
	// nothing else: a join's time includes the join command's start.
	Idle() []string
	// Members is nd's member list: name → alive, suspect, failed or left,
	// with the time of the last change where the agent tells it. Calls for
	// different nodes run concurrently.
	Members(ctx context.Context, nd *node) (map[string]member, error)
	// Stop stops nd gracefully (it announces its leave).
	Stop(nd *node) error
	// GossipBytes is the number of gossip bytes these nodes have sent so far.
	GossipBytes(ctx context.Context, nodes []*node) (float64, error)
	// Close kills whatever is still running.
	Close()
}

// clientBench is an agent with a client gRPC port to measure.
type clientBench interface {
	ClientThroughput(ctx context.Context, nd *node, d time.Duration, res *result) error
}

// restBench is an agent with a REST API to time.
type restBench interface {
	RESTLatency(ctx context.Context, nd *node, samples int) ([]time.Duration, int, error)
}

// member is one entry of a node's member list.
type member struct {
	status string
	since  time.Time // zero when the agent does not say
}

// node is one agent process.
type node struct {
	name   string
	dir    string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	// roster: HTTP, client gRPC and internal ports; serf: bind (gossip)
	// and RPC ports.
	http, grpc, internal, rpc int

	mu   sync.Mutex
	conn any // the agent's cached client for this node
}

func (n *node) pid() int { return n.cmd.Process.Pid }

// start runs the process with its output in its log file. It dies with
// the benchmark (Pdeathsig), so an interrupted run leaves nothing behind.
func (n *node) start(bin string, args []string, env []string) error {
	f, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Dir = n.dir
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.Env = env
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("bench: start %s: %w", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() {
		_ = n.cmd.Wait()
		_ = f.Close()
		close(n.exited)
	}()
	return nil
}

func (n *node) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (n *node) kill() error {
	if !n.running() {
		return fmt.Errorf("bench: %s had already exited: %s", n.name, logtail.Lines(n.log, 0, 3))
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("bench: kill %s: %w", n.name, err)
	}
	<-n.exited
	return nil
}

// interrupt sends SIGINT and waits up to within for the process to exit.
func (n *node) interrupt(within time.Duration) error {
	if !n.running() {
		return nil
	}
	if err := n.cmd.Process.Signal(os.Interrupt); err != nil {
		return fmt.Errorf("bench: interrupt %s: %w", n.name, err)
	}
	select {
	case <-n.exited:
		return nil
	case <-time.After(within):
		_ = n.cmd.Process.Kill()
		return fmt.Errorf("bench: %s did not exit within %s of SIGINT", n.name, within)
	}
}

// waitFor polls ready until it returns nil, the process exits, or within
// passes.
func (n *node) waitFor(ctx context.Context, within time.Duration, ready func() error) error {
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if !n.running() {
			return fmt.Errorf("bench: %s exited at start: %s", n.name, logtail.Lines(n.log, 0, 3))
		}
		if err = ready(); err == nil {
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("bench: %s not ready after %s (%v); see %s", n.name, within, err, n.log)
}

// ports hands out loopback ports below the kernel's ephemeral range
// (32768 and up on Linux), so that no node's outgoing connection can take
// a port before the node that was given it binds it, each port once per
// run.
type ports struct {
	mu   sync.Mutex
	next int
}

func newPorts() *ports {
	// A random start, so that two runs side by side rarely meet.
	return &ports{next: 10000 + rand.IntN(15000)}
}

// get returns a port free for TCP and, with udp, for UDP too.
func (p *ports) get(udp bool) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.next < 32768 {
		port := p.next
		p.next++
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ok := true
		if udp {
			pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				_ = pc.Close()
			} else {
				ok = false
			}
		}
		_ = l.Close()
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("bench: no free loopback port left below 32768")
}

// commandStart is the median wall time of n runs of cmd.
func commandStart(ctx context.Context, cmd []string, n int) (time.Duration, error) {
	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := runCommand(ctx, os.TempDir(), cmd[0], cmd[1:]...); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[n/2], nil
}

// runCommand runs a CLI command to completion; its output is returned in
// the error when it fails.
func runCommand(ctx context.Context, dir, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
