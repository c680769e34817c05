//go:build unix

package gossip

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// BenchmarkScale simulates clusters of 10 to 250 nodes in this process,
// each node a Cluster with its own UDP socket and TCP listener on
// loopback, with the lan profile: a wave of joins, an idle spell and a
// kill. It prints time and gossip bytes per node against N and asserts no
// timing:
//
//	go test -run '^$' -bench Scale -benchtime 1x -timeout 30m ./gossip
//	go test -run '^$' -bench 'Scale/nodes=100$' -benchtime 1x ./gossip
//	go test -run '^$' -bench Scale -benchtime 1x -timeout 30m ./gossip -args -sim.profile=memberlist-lan
//
// All nodes share this process's cores, so times at large N include the
// CPU the other simulated nodes spend; bytes per node do not depend on it.
// On two cores, 250 nodes with the lan profile's 125 ms probe timeout tip
// into false failures during the wave (a node waits longer than that for
// the CPU); -sim.profile=memberlist-lan keeps everything else and probes
// as memberlist's LAN configuration does.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10, 50, 100, 250} {
		b.Run("nodes="+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				simulate(b, n)
			}
		})
	}
}

// simIdle is the idle spell over which steady-state bytes are counted.
const simIdle = 10 * time.Second

// simQuiet is the traffic per node below which the gossip of the last
// joins is over (idle is about 430 B/s per node at any N): every member
// that learned of a join retransmits it RetransmitMult×log10(N+1) times,
// which at 100 nodes took about 2 s at 4 kB/s per node.
const simQuiet = 600.0 // bytes per second per node

// simJoinConcurrency is how many joins of the wave run at once. Each join
// costs the joiner a merge of up to joinFanout members' states (the price
// of telling them in one round trip), and here all nodes share two cores:
// with two at a time the 250-node wave tipped into false failures near 170
// nodes, with one near 220.
const simJoinConcurrency = 1

func simulate(b *testing.B, n int) {
	b.Helper()
	b.StopTimer()
	sim := newSim(b, n)
	defer sim.close()
	b.StartTimer()
	wave, last := sim.nodes[:n-1], sim.nodes[n-1]

	// A wave of joins forms a cluster of N-1: every node but the first
	// joins through a random node that has already joined,
	// simJoinConcurrency at a time.
	sent0 := sim.sent()
	start := time.Now()
	late := sim.joinWave(b, wave)
	joined := time.Since(start)
	waitFor(b, wave, 2*time.Minute, func(c *Cluster) bool { return countStatus(c, StatusAlive) == n-1 })
	converged := time.Since(start)
	waveBytes := float64(sim.sent()-sent0) / float64(n-1)

	// One more join, into N-1 nodes: until each has recorded it, by the
	// time it gives (Member.Since), as the benchmark of real processes
	// measures joins.
	sim.waitQuiet(b, time.Minute)
	sent1 := sim.sent()
	start = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	_, err := last.c.JoinVia(ctx, wave[rand.IntN(len(wave))].addr, JoinOptions{Mode: JoinRegister})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	joinReturned := time.Since(start)
	var joinSeen time.Duration
	waitFor(b, wave, time.Minute, func(c *Cluster) bool {
		m, ok := c.Member(last.c.cfg.Name)
		if ok && m.Status == StatusAlive {
			joinSeen = max(joinSeen, m.Since.Sub(start))
		}
		return ok && m.Status == StatusAlive
	})
	joinBytes := float64(sim.sent()-sent1) / float64(n)

	// Idle: steady-state traffic per node, once the join's gossip is over.
	b.StopTimer()
	sim.waitQuiet(b, time.Minute)
	sent2, t2, cpu2 := sim.sent(), time.Now(), cpuTime()
	time.Sleep(simIdle)
	idleRate := float64(sim.sent()-sent2) / time.Since(t2).Seconds() / float64(n)
	idleCPU := 100 * (cpuTime() - cpu2).Seconds() / time.Since(t2).Seconds() / float64(n)
	b.StartTimer()

	// A kill: the node stops without a word and its sockets close, as
	// with kill -9.
	vi := 1 + rand.IntN(n-1)
	victim := sim.nodes[vi]
	survivors := append(append([]*simNode(nil), sim.nodes[:vi]...), sim.nodes[vi+1:]...)
	sent3 := sim.sent()
	start = time.Now()
	victim.crash()
	name := victim.c.cfg.Name
	failed := waitFor(b, survivors, 2*time.Minute, func(c *Cluster) bool {
		m, ok := c.Member(name)
		return ok && m.Status == StatusFailed
	})
	killBytes := float64(sim.sent()-sent3) / float64(n-1)

	b.ReportMetric(converged.Seconds(), "wave-s")
	b.ReportMetric(joinSeen.Seconds()*1000, "join-ms")
	b.ReportMetric(failed.Seconds(), "kill-s")
	b.ReportMetric(idleRate, "idle-B/s/node")
	b.ReportMetric(idleCPU, "idle-CPU%/node")
	b.Logf("N=%d: a wave of %d joins converged in %s (joins returned after %s; %d found a member not alive within a minute), %.0f B sent per node; "+
		"one more join recorded by all %d in %s (JoinVia returned after %s), %.0f B per node; "+
		"idle %.0f B/s and %.2f%% CPU per node; kill -9 seen failed by all %d survivors in %s, %.0f B per survivor meanwhile",
		n, n-2, converged.Round(time.Millisecond), joined.Round(time.Millisecond), late, waveBytes,
		n-1, joinSeen.Round(100*time.Microsecond), joinReturned.Round(100*time.Microsecond), joinBytes,
		idleRate, idleCPU, n-1, failed.Round(time.Millisecond), killBytes)
}

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

type sim struct {
	nodes  []*simNode
	byAddr map[string]*simNode
	// hold, when set, runs at the start of every introduction: a test's
	// way to hold one up.
	hold atomic.Pointer[func(ctx context.Context, address string) error]
}

func newSim(b testing.TB, n int) *sim {
	b.Helper()
	profile, err := simProfileByName(*simProfile)
	if err != nil {
		b.Fatal(err)
	}
	return newSimWith(b, n, profile)
}

// simProfile is the gossip profile of BenchmarkScale's nodes.
var simProfile = flag.String("sim.profile", "lan", "gossip profile of the simulated nodes: lan, wan, local, or memberlist-lan "+
	"(lan with memberlist's LAN timings: probes every 1 s with a 500 ms timeout, gossip every 200 ms)")

// simProfileByName knows the named profiles and memberlist-lan: at 250
// nodes in one process each node has under 1% of this machine's two cores,
// and lan's 125 ms probe timeout is shorter than the time a node waits
// for the CPU during a wave of joins.
func simProfileByName(name string) (Profile, error) {
	if name != "memberlist-lan" {
		return ProfileByName(name)
	}
	p := fromMemberlist(name, memberlist.DefaultLANConfig())
	p.Compression = false // as lan: the same bytes and CPU per message
	return p, nil
}

// newSimWith is newSim with another gossip profile; each option changes
// every node's Config.
func newSimWith(b testing.TB, n int, profile Profile, options ...func(*Config)) *sim {
	b.Helper()
	s := &sim{byAddr: map[string]*simNode{}}
	dir := b.TempDir()
	for i := range n {
		packets, streams, port, err := listenPair()
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

// joinWave joins nodes[1:] through random nodes that have joined. It
// returns the number of joins that gave up waiting for every member to be
// alive (they did join): the convergence check that follows decides.
func (s *sim) joinWave(b *testing.B, nodes []*simNode) int {
	b.Helper()
	var (
		mu     sync.Mutex
		joined = []*simNode{nodes[0]}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, simJoinConcurrency)
		errs   = make(chan error, len(nodes))
		late   atomic.Int32
		start  = time.Now()
	)
	for _, nd := range nodes[1:] {
		sem <- struct{}{}
		mu.Lock()
		contact := joined[rand.IntN(len(joined))]
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			intro, err := nd.c.JoinVia(ctx, contact.addr, JoinOptions{Mode: JoinRegister})
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				if late.Add(1) <= 3 {
					// What it waited for: the next thing to look at.
					fmt.Fprintf(os.Stderr, "sim: %s through %s: %v\n", nd.c.cfg.Name, contact.c.cfg.Name, err)
					s.explain(nd, intro)
				}
			case err != nil:
				errs <- fmt.Errorf("%s through %s: %w", nd.c.cfg.Name, contact.c.cfg.Name, err)
				return
			}
			mu.Lock()
			joined = append(joined, nd)
			if k := len(joined); k%max(1, len(nodes)/10) == 0 {
				// Progress on stderr: a wave of 250 takes minutes.
				fmt.Fprintf(os.Stderr, "sim: %d of %d nodes joined after %s\n", k, len(nodes), time.Since(start).Round(time.Second))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return int(late.Load())
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

// waitQuiet polls the gossip bytes every 250 ms until a second's worth is
// below simQuiet per node, or limit passes (then it says so and the
// figures that follow include the tail).
func (s *sim) waitQuiet(b *testing.B, limit time.Duration) {
	b.Helper()
	const step, window = 250 * time.Millisecond, 4 // samples: one second
	start := time.Now()
	samples := []uint64{s.sent()}
	for time.Since(start) < limit {
		time.Sleep(step)
		samples = append(samples, s.sent())
		if k := len(samples); k > window {
			rate := float64(samples[k-1]-samples[k-1-window]) / float64(len(s.nodes))
			if rate < simQuiet {
				return
			}
		}
	}
	b.Logf("gossip still above %.0f B/s per node after %s", simQuiet, limit)
}

// waitFor polls nodes (every 10 ms) until cond holds for all of them and
// returns how long that took, or fails the benchmark after limit.
func waitFor(b testing.TB, nodes []*simNode, limit time.Duration, cond func(*Cluster) bool) time.Duration {
	b.Helper()
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
			return time.Since(start)
		}
		if time.Since(start) > limit {
			// Which nodes are not there yet, and what they see: the first
			// thing to look at.
			var lagging []string
			for _, nd := range nodes {
				if !cond(nd.c) && len(lagging) < 5 {
					lagging = append(lagging, fmt.Sprintf("%s (alive %d, suspect %d, failed %d)", nd.c.cfg.Name,
						countStatus(nd.c, StatusAlive), countStatus(nd.c, StatusSuspect), countStatus(nd.c, StatusFailed)))
				}
			}
			b.Fatalf("not converged after %s; for instance %v", limit, lagging)
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

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
