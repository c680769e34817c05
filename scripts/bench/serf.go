package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// serfAgent runs `serf agent` processes and drives them with `serf join`
// and the members call of their RPC port: the call `serf members` makes,
// without starting a process 50 times a second per node, which would
// measure fork and exec instead of the agent.
//
// Gossip bytes come from memberlist's own counters (memberlist.udp.sent and
// memberlist.tcp.sent: the payload handed to the sockets), which every
// agent sends to a statsd listener in this process.
type serfAgent struct {
	bin, dir, profile string
	version           string
	ports             *ports
	statsd            *statsd
	mu                sync.Mutex
	nodes             []*node
}

func newSerfAgent(bin, dir, profile string, p *ports) (*serfAgent, error) {
	// `serf version` of a go-installed v0.10.2 says 0.8.2-dev (its version
	// file was not bumped): the module version in the binary is the truth.
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", bin, err)
	}
	version := info.Main.Version
	sd, err := newStatsd()
	if err != nil {
		return nil, err
	}
	return &serfAgent{bin: bin, dir: dir, profile: profile, version: version, ports: p, statsd: sd}, nil
}

func (s *serfAgent) Name() string { return "serf" }

func (s *serfAgent) Idle() []string { return []string{s.bin, "version"} }

// Label names the agent with its version in the table.
func (s *serfAgent) Label() string { return "serf " + s.version }

func (s *serfAgent) Start(_ context.Context, i int) (*node, error) {
	nd := &node{name: "node" + strconv.Itoa(i+1), dir: filepath.Join(s.dir, "node"+strconv.Itoa(i+1))}
	if err := os.MkdirAll(nd.dir, 0o750); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	nd.log = filepath.Join(nd.dir, "agent.log")
	var err error
	if nd.internal, err = s.ports.get(true); err != nil {
		return nil, err
	}
	if nd.rpc, err = s.ports.get(false); err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(map[string]string{"statsd_addr": s.statsd.addr})
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(nd.dir, "telemetry.json")
	if err := os.WriteFile(cfgFile, cfg, 0o640); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	args := []string{"agent",
		"-node=" + nd.name,
		"-bind=127.0.0.1:" + strconv.Itoa(nd.internal),
		"-rpc-addr=127.0.0.1:" + strconv.Itoa(nd.rpc),
		"-profile=" + s.profile,
		"-config-file=" + cfgFile,
	}
	if err := nd.start(s.bin, args, os.Environ()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nodes = append(s.nodes, nd)
	s.mu.Unlock()
	return nd, nil
}

func (s *serfAgent) rpcAddr(nd *node) string { return "127.0.0.1:" + strconv.Itoa(nd.rpc) }

func (s *serfAgent) WaitReady(ctx context.Context, nd *node, within time.Duration) error {
	return nd.waitFor(ctx, within, func() error {
		_, err := s.Members(ctx, nd)
		return err
	})
}

// Join is what an operator types: serf join -rpc-addr=NEW CONTACT.
func (s *serfAgent) Join(ctx context.Context, nd, contact *node) error {
	return runCommand(ctx, nd.dir, s.bin, "join", "-rpc-addr="+s.rpcAddr(nd), "127.0.0.1:"+strconv.Itoa(contact.internal))
}

func (s *serfAgent) Members(ctx context.Context, nd *node) (map[string]member, error) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	c, _ := nd.conn.(*serfIPC)
	if c == nil {
		var err error
		if c, err = dialSerf(ctx, s.rpcAddr(nd)); err != nil {
			return nil, err
		}
		nd.conn = c
	}
	members, err := c.members()
	if err != nil {
		_ = c.close()
		nd.conn = nil
		return nil, err
	}
	out := make(map[string]member, len(members))
	for _, m := range members {
		st := m.Status
		if st == "leaving" {
			st = "left"
		}
		out[m.Name] = member{status: st}
	}
	return out, nil
}

// Stop interrupts the agent: serf leaves gracefully on SIGINT.
func (s *serfAgent) Stop(nd *node) error {
	s.dropConn(nd)
	return nd.interrupt(15 * time.Second)
}

func (s *serfAgent) dropConn(nd *node) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if c, ok := nd.conn.(*serfIPC); ok {
		_ = c.close()
		nd.conn = nil
	}
}

// GossipBytes is what every agent has reported to statsd so far. serf's
// telemetry carries no node name, so it is the sum over all agents: the
// caller divides by their number, and only the nodes passed are running.
func (s *serfAgent) GossipBytes(_ context.Context, _ []*node) (float64, error) {
	// go-metrics flushes to statsd every 100 ms: wait for the last flush.
	time.Sleep(300 * time.Millisecond)
	return s.statsd.total(), nil
}

func (s *serfAgent) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, nd := range s.nodes {
		s.dropConn(nd)
		if nd.running() {
			_ = nd.cmd.Process.Kill()
			<-nd.exited
		}
	}
	s.statsd.close()
}

// serfIPC is a client of the serf agent's RPC protocol (msgpack over TCP:
// a header, then a body), just the calls the benchmark needs.
type serfIPC struct {
	conn net.Conn
	w    *bufio.Writer
	enc  *codec.Encoder
	dec  *codec.Decoder
	seq  uint64
}

type serfRequestHeader struct {
	Command string
	Seq     uint64
}

type serfResponseHeader struct {
	Seq   uint64
	Error string
}

type serfMember struct {
	Name   string
	Status string
}

func dialSerf(ctx context.Context, addr string) (*serfIPC, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &codec.MsgpackHandle{WriteExt: true}
	c := &serfIPC{conn: conn, w: bufio.NewWriter(conn)}
	c.enc = codec.NewEncoder(c.w, h)
	c.dec = codec.NewDecoder(bufio.NewReader(conn), h)
	if err := c.call("handshake", map[string]int32{"Version": 1}, nil); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("serf rpc handshake with %s: %w", addr, err)
	}
	return c, nil
}

func (c *serfIPC) call(command string, body, out any) error {
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	c.seq++
	if err := c.enc.Encode(serfRequestHeader{Command: command, Seq: c.seq}); err != nil {
		return err
	}
	if body != nil {
		if err := c.enc.Encode(body); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var h serfResponseHeader
	if err := c.dec.Decode(&h); err != nil {
		return err
	}
	if h.Error != "" {
		return fmt.Errorf("serf rpc %s: %s", command, h.Error)
	}
	if out != nil {
		return c.dec.Decode(out)
	}
	return nil
}

func (c *serfIPC) members() ([]serfMember, error) {
	var resp struct{ Members []serfMember }
	if err := c.call("members", nil, &resp); err != nil {
		return nil, err
	}
	return resp.Members, nil
}

func (c *serfIPC) close() error { return c.conn.Close() }

// statsd receives the serf agents' telemetry and adds up memberlist's
// byte counters.
type statsd struct {
	conn net.PacketConn
	addr string
	mu   sync.Mutex
	sum  float64
	done chan struct{}
}

func newStatsd() (*statsd, error) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: statsd listener: %w", err)
	}
	s := &statsd{conn: conn, addr: conn.LocalAddr().String(), done: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *statsd) read() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			// serf-agent.<host>.memberlist.udp.sent:123.000000|c
			name, rest, ok := strings.Cut(line, ":")
			if !ok || !(strings.HasSuffix(name, "memberlist.udp.sent") || strings.HasSuffix(name, "memberlist.tcp.sent")) {
				continue
			}
			value, kind, _ := strings.Cut(rest, "|")
			if kind != "c" {
				continue
			}
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				s.mu.Lock()
				s.sum += v
				s.mu.Unlock()
			}
		}
	}
}

func (s *statsd) total() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

func (s *statsd) close() {
	_ = s.conn.Close()
	<-s.done
}
