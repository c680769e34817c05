//go:build unix

package gossip

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rosterhq/roster/gossip/internal/simnet"
)

// simNode is one simulated node: a Cluster and the sockets it owns.
type simNode struct {
	c       *Cluster
	packets net.PacketConn
	streams net.Listener
	addr    string
	down    atomic.Bool // crashed: it answers no introduction either
}

func (s *simNode) crash() {
	s.down.Store(true)
	_ = s.c.Shutdown()
	_ = s.packets.Close()
	_ = s.streams.Close()
}

// sim is nodes in this process, each a Cluster with its own internal
// port: sockets on loopback, or nodes of an in-memory network.
type sim struct {
	nodes  []*simNode
	byAddr map[string]*simNode
	// hold, when set, runs at the start of every introduction: a test's
	// way to hold one up.
	hold atomic.Pointer[func(ctx context.Context, address string) error]
}

// newSimWith is a simulation of n nodes on loopback with profile; each
// option changes every node's Config.
func newSimWith(b testing.TB, n int, profile Profile, options ...func(*Config)) *sim {
	return newSimOn(b, nil, n, profile, options...)
}

// newSimOn is newSimWith on network, or on loopback sockets when network
// is nil.
func newSimOn(b testing.TB, network *simnet.Network, n int, profile Profile, options ...func(*Config)) *sim {
	b.Helper()
	s := &sim{byAddr: map[string]*simNode{}}
	dir := simDataDir(b)
	for i := range n {
		var (
			packets net.PacketConn
			streams net.Listener
			dialer  Dialer
			port    int
			err     error
		)
		if network == nil {
			packets, streams, port, err = listenPair()
		} else {
			port = 10000 + i
			var nd *simnet.Node
			nd, err = network.Node(net.IPv4(127, 0, 0, 1), port)
			if err == nil {
				packets, streams, dialer = nd.PacketConn(), nd.Listener(), nd.Dial
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		name := "node" + strconv.Itoa(i+1)
		cfg := Config{
			Name:        name,
			ClusterName: "sim",
			Info: NodeInfo{ClientHost: "127.0.0.1", GRPCPort: 8124, HTTPPort: 8024,
				InternalHost: "127.0.0.1", InternalPort: port, Version: "sim"},
			DataDir:       filepath.Join(dir, name),
			Profile:       profile,
			Packets:       packets,
			Streams:       streams,
			Dialer:        dialer,
			AdvertiseIP:   net.IPv4(127, 0, 0, 1),
			AdvertisePort: port,
			Introducer:    simIntroducer{s: s},
			Logger:        zerolog.Nop(),
		}
		for _, o := range options {
			o(&cfg)
		}
		c, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		nd := &simNode{c: c, packets: packets, streams: streams, addr: joinHostPort("127.0.0.1", port)}
		s.nodes = append(s.nodes, nd)
		s.byAddr[nd.addr] = nd
	}
	return s
}

// simDataDir is a temporary directory for the nodes' data directories:
// in memory (/dev/shm) where there is one, so that a thousand nodes
// writing their state each second do not wait on a disk's syncs.
func simDataDir(b testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "roster-sim-"); err == nil {
			b.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return b.TempDir()
}

// newSimPair is a simulated cluster of two nodes with the local profile,
// b joined through a.
func newSimPair(t *testing.T, options ...func(*Config)) (s *sim, a, b *simNode) {
	t.Helper()
	s = newSimWith(t, 2, localProfile(), options...)
	t.Cleanup(s.close)
	a, b = s.nodes[0], s.nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.c.JoinVia(ctx, a.addr, JoinOptions{Mode: JoinRegister}); err != nil {
		t.Fatal(err)
	}
	return s, a, b
}

// listenPair binds UDP and TCP on the same loopback port, as a node's
// internal port.
func listenPair() (net.PacketConn, net.Listener, int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", joinHostPort("127.0.0.1", port))
		if err == nil {
			return pc, l, port, nil
		}
		_ = l.Close()
	}
	return nil, nil, 0, fmt.Errorf("no loopback port free for both TCP and UDP")
}

func (s *sim) close() {
	var wg sync.WaitGroup
	for _, nd := range s.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd.crash()
		}()
	}
	wg.Wait()
}

// sent is the gossip bytes all nodes have sent so far.
func (s *sim) sent() uint64 {
	var total uint64
	for _, nd := range s.nodes {
		total += nd.c.metrics.bytes.total(bytesSent)
	}
	return total
}

// explain prints, for each member the contact listed alive that nd does
// not hold alive, how nd, the member itself and the whole simulation see
// it.
func (s *sim) explain(nd *simNode, intro Introduction) {
	for _, want := range intro.Members {
		if want.Status != StatusAlive || want.Name == nd.c.cfg.Name {
			continue
		}
		if cur, ok := nd.c.Member(want.Name); ok && cur.Status == StatusAlive {
			continue
		}
		views := map[string]int{}
		var self string
		for _, o := range s.nodes {
			srf, err := o.c.current()
			if err != nil {
				continue
			}
			for _, m := range srf.Members() {
				if m.Name != want.Name {
					continue
				}
				if o.c.cfg.Name == want.Name {
					self = m.Status.String()
				} else {
					views[m.Status.String()]++
				}
			}
		}
		reg, _ := nd.c.Member(want.Name)
		srf, _ := nd.c.current()
		var here string
		if srf != nil {
			if m, ok := findSerfMember(srf, want.Name); ok {
				here = m.Status.String()
			}
		}
		fmt.Fprintf(os.Stderr, "sim:   %s: registry here %q, serf here %q, itself %q, the others' serf %v\n",
			want.Name, reg.Status, here, self, views)
	}
}

// waitFor polls nodes (every 10 ms) until cond holds for all of them and
// returns how long that took, or fails the benchmark after limit.
func waitFor(b testing.TB, nodes []*simNode, limit time.Duration, cond func(*Cluster) bool) time.Duration {
	b.Helper()
	d, lagging := waitUntil(nodes, limit, cond)
	if lagging != nil {
		b.Fatalf("not converged after %s; for instance %v", limit, lagging)
	}
	return d
}

// waitUntil polls nodes (every 10 ms) until cond holds for all of them
// and returns how long that took; after limit it returns, for a few nodes
// where cond does not hold, what they see: the first thing to look at.
func waitUntil(nodes []*simNode, limit time.Duration, cond func(*Cluster) bool) (time.Duration, []string) {
	start := time.Now()
	for {
		all := true
		for _, nd := range nodes {
			if !cond(nd.c) {
				all = false
				break
			}
		}
		if all {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			lagging := []string{}
			for _, nd := range nodes {
				if !cond(nd.c) && len(lagging) < 5 {
					lagging = append(lagging, fmt.Sprintf("%s (alive %d, suspect %d, failed %d)", nd.c.cfg.Name,
						countStatus(nd.c, StatusAlive), countStatus(nd.c, StatusSuspect), countStatus(nd.c, StatusFailed)))
				}
			}
			return time.Since(start), lagging
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countStatus(c *Cluster, st Status) int {
	k := 0
	for _, m := range c.Members() {
		if m.Status == st {
			k++
		}
	}
	return k
}

// simIntroducer answers introductions from the contact's registry in this
// process, as the internal gRPC service does between real nodes.
type simIntroducer struct{ s *sim }

func (i simIntroducer) Introduce(ctx context.Context, address string, self Member, returning bool) (Introduction, error) {
	if hold := i.s.hold.Load(); hold != nil {
		if err := (*hold)(ctx, address); err != nil {
			return Introduction{}, err
		}
	}
	nd, ok := i.s.byAddr[address]
	if !ok || nd.down.Load() {
		return Introduction{}, fmt.Errorf("sim: no node answers at %s", address)
	}
	c := nd.c
	if err := c.Admit(self, returning); err != nil {
		return Introduction{}, err
	}
	local := c.Local()
	return Introduction{Name: local.Name, NodeID: local.Info.ID, Members: c.Members(), Tombstones: c.Tombstones()}, nil
}
