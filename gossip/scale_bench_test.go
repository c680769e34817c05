//go:build unix

package gossip

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/rosterhq/roster/gossip/internal/simnet"
)

// BenchmarkScale simulates clusters of 10 to 1000 nodes in this process,
// each node a Cluster (serf, memberlist, registry, persistence to a
// temporary directory) on an in-memory network (simnet), with the lan
// profile: a wave of joins, a few more joins, an idle spell and a kill.
// It prints one line per run and asserts no timing:
//
//	go test -run '^$' -bench 'Scale/nodes=100$' -benchtime 1x ./gossip
//	nice go test -run '^$' -bench 'Scale/nodes=1000$' -benchtime 1x -timeout 60m ./gossip
//	go test -run '^$' -bench 'Scale/nodes=300$' -benchtime 1x ./gossip -args -sim.dilation=1 -sim.loss=0.05
//
// All nodes share this process's cores. Where they do not fit in real
// time, the run is on a dilated clock: every timing of the profile is
// multiplied by k (Profile.Dilate), every time measured is divided by k,
// and rates per second are per dilated second; the line then ends with
// dilation=k. docs/scaling.md has the method and the figures.
func BenchmarkScale(b *testing.B) {
	sizes, err := parseSizes(*simSizes)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range sizes {
		b.Run("nodes="+strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				fmt.Println(simulate(b, n))
			}
		})
	}
}

var (
	simSizes   = flag.String("sim.sizes", "10,100,300,1000", "cluster sizes, comma-separated (the sub-benchmarks nodes=N)")
	simProfile = flag.String("sim.profile", "lan", "gossip profile of the simulated nodes: lan, wan, local, or memberlist-lan "+
		"(lan with memberlist's LAN timings: probes every 1 s with a 500 ms timeout, gossip every 200 ms)")
	simNet      = flag.String("sim.net", "mem", "network of the simulated nodes: mem (in memory) or loopback (UDP and TCP sockets)")
	simDilation = flag.Int("sim.dilation", 0, "multiply every timing by this; 0: by cluster size (scaleDilation)")
	simIdle     = flag.Duration("sim.idle", 10*time.Second, "idle spell over which steady-state bytes and CPU are measured (profile time)")
	simLoss     = flag.Float64("sim.loss", 0, "probability that a packet is lost (in-memory network)")
	simLatency  = flag.Duration("sim.latency", 0, "one-way delay of each packet and dial (in-memory network; profile time)")
	simJoins    = flag.Int("sim.joins", 4, "joins of the wave that run at once")
	simRate     = flag.Float64("sim.rate", 50, "joins of the wave started per second at most (profile time)")
)

// parseSizes reads -sim.sizes.
func parseSizes(list string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 3 {
			return nil, fmt.Errorf("-sim.sizes: %q is not a cluster size of 3 or more", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// scaleDilation is the dilation at n nodes unless -sim.dilation says:
// those of the runs docs/scaling.md reports (at 1000 nodes the cluster
// does not hold yet on two cores). The cost of a wave of joins grows with
// n on every node, so larger clusters need more of it.
func scaleDilation(n int) int {
	if *simDilation > 0 {
		return *simDilation
	}
	switch {
	case n <= 100:
		return 1
	case n <= 300:
		return 4
	default:
		return 30
	}
}

// simFinalJoins is how many joins follow the wave, one at a time, to
// measure how long members take to record a join.
const simFinalJoins = 3

// simQuiet is the UDP traffic per node and second below which the gossip
// of the last joins is over: idle, probes are nearly all of it (about
// 430 B/s per node at any N); push-pulls go over streams and grow with N.
const simQuiet = 600.0

// scaleResult is one run's figures, times in profile time.
type scaleResult struct {
	n             int
	profile       string
	dilation      int
	converged     bool
	wave, kill    time.Duration
	joinP90       time.Duration
	falseFailures int
	idleBytes     float64 // per node and second, sent
	idleCPU       float64 // percent of a core per node
}

func (r scaleResult) String() string {
	s := fmt.Sprintf("scale nodes=%d profile=%s converged=%t wave_s=%.2f join_p90_ms=%.0f kill_s=%.2f false_failures=%d idle_bytes_per_node_s=%.0f idle_cpu_pct_per_node=%.3f",
		r.n, r.profile, r.converged, r.wave.Seconds(), float64(r.joinP90)/float64(time.Millisecond), r.kill.Seconds(),
		r.falseFailures, r.idleBytes, r.idleCPU)
	if r.dilation > 1 {
		s += fmt.Sprintf(" dilation=%d", r.dilation)
	}
	return s
}

func simulate(b *testing.B, n int) (r scaleResult) {
	b.Helper()
	b.StopTimer()
	k := scaleDilation(n)
	dk := time.Duration(k)
	base, err := simProfileByName(*simProfile)
	if err != nil {
		b.Fatal(err)
	}
	r = scaleResult{n: n, profile: base.Name, dilation: k, wave: -1, kill: -1, joinP90: -1, idleBytes: math.NaN(), idleCPU: math.NaN()}
	var network *simnet.Network
	switch *simNet {
	case "mem":
		network = simnet.New(simnet.Options{})
		network.SetLoss(*simLoss)
		network.SetLatency(*simLatency * dk)
	case "loopback":
	default:
		b.Fatalf("-sim.net: %q is neither mem nor loopback", *simNet)
	}
	setup := time.Now()
	if n >= 300 {
		// A thousand nodes' state in one heap: collecting it as often as
		// one node's would take most of the CPU.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	sim := newSimOn(b, network, n, base.Dilate(k), func(c *Config) { c.NoSerfSnapshot = true })
	defer sim.close()
	watch := sim.watchFailures()
	defer func() { r.falseFailures = watch.stop() }()
	progress("%d nodes started in %s (dilation %d)", n, time.Since(setup).Round(time.Millisecond), k)
	b.StartTimer()
	finals := min(simFinalJoins, n-2)
	wave, rest := sim.nodes[:n-finals], sim.nodes[n-finals:]

	// A wave of joins forms a cluster of the first n-finals nodes: every
	// node but the first joins through a random node that has joined,
	// -sim.joins at a time.
	start := time.Now()
	late := sim.joinWave(b, wave, k)
	joined := time.Since(start)
	_, lagging := waitUntil(wave, 2*time.Minute*dk, func(c *Cluster) bool { return countStatus(c, StatusAlive) == len(wave) })
	if lagging != nil {
		progress("the wave did not converge; for instance %v", lagging)
		return r
	}
	r.wave = time.Since(start) / dk
	progress("wave of %d converged in %s (joins returned after %s, %d waited past their deadline)",
		len(wave), time.Since(start).Round(time.Millisecond), joined.Round(time.Millisecond), late)

	// More joins, one at a time, into the formed cluster: how long each
	// member takes to record one, by the time it gives (Member.Since), as
	// the benchmark of real processes measures joins.
	watch.enter("joins")
	members := append([]*simNode(nil), wave...)
	var seen []time.Duration
	for _, nd := range rest {
		sim.waitQuiet(k, 20*time.Second*dk)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute*dk)
		_, err := nd.c.JoinVia(ctx, members[rand.IntN(len(members))].addr, JoinOptions{Mode: JoinRegister})
		cancel()
		if err != nil {
			progress("join of %s: %v", nd.c.cfg.Name, err)
			return r
		}
		returned := time.Since(start)
		name := nd.c.cfg.Name
		_, lagging := waitUntil(members, time.Minute*dk, func(c *Cluster) bool {
			m, ok := c.Member(name)
			return ok && m.Status == StatusAlive
		})
		if lagging != nil {
			progress("join of %s not recorded by all; for instance %v", name, lagging)
			return r
		}
		var last time.Duration
		for _, o := range members {
			m, _ := o.c.Member(name)
			seen = append(seen, m.Since.Sub(start))
			last = max(last, m.Since.Sub(start))
		}
		progress("join of %s recorded by all %d in %s (JoinVia returned after %s)", name, len(members), last.Round(time.Millisecond), returned.Round(time.Millisecond))
		members = append(members, nd)
	}
	r.joinP90 = percentile(seen, 0.9) / dk

	// Idle: steady-state traffic and CPU per node, once the joins' gossip
	// is over.
	b.StopTimer()
	sim.waitQuiet(k, 20*time.Second*dk)
	watch.enter("idle")
	sent0, t0, cpu0 := sim.sent(), time.Now(), cpuTime()
	time.Sleep(*simIdle * dk)
	elapsed := time.Since(t0).Seconds() / float64(k)
	r.idleBytes = float64(sim.sent()-sent0) / elapsed / float64(n)
	r.idleCPU = 100 * (cpuTime() - cpu0).Seconds() / elapsed / float64(n)
	b.StartTimer()

	// The size of one push-pull at N members (both states, as the
	// streams' bytes count them), for the scaling model.
	if srf, err := sim.nodes[0].c.current(); err == nil {
		counts := sim.nodes[0].c.metrics.bytes
		tcp := func() uint64 { return counts.n[bytesSent][bytesTCP].Load() + counts.n[bytesReceived][bytesTCP].Load() }
		before := tcp()
		if _, err := srf.Memberlist().Join([]string{sim.nodes[1].addr}); err == nil {
			pp := tcp() - before
			progress("one push-pull at %d members: %d bytes, %.0f per member", n, pp, float64(pp)/2/float64(n))
		}
	}

	// A kill: the node stops without a word and its sockets close, as
	// with kill -9.
	vi := 1 + rand.IntN(n-1)
	victim := sim.nodes[vi]
	survivors := append(append([]*simNode(nil), sim.nodes[:vi]...), sim.nodes[vi+1:]...)
	name := victim.c.cfg.Name
	watch.kill(name)
	watch.enter("kill")
	start = time.Now()
	victim.crash()
	_, lagging = waitUntil(survivors, 2*time.Minute*dk, func(c *Cluster) bool {
		m, ok := c.Member(name)
		return ok && m.Status == StatusFailed
	})
	if lagging != nil {
		progress("the kill of %s was not seen by all; for instance %v", name, lagging)
		return r
	}
	r.kill = time.Since(start) / dk
	r.converged = true
	if network != nil {
		progress("packets dropped by the network (loss, full queues): %d", network.Dropped())
	}
	return r
}

// progress writes a line on stderr: a run at 1000 nodes takes many
// minutes, and stdout has the result line only.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sim: "+format+"\n", args...)
}

// percentile is the p-th (0 to 1) of ds by nearest rank; -1 when empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// simProfileByName knows the named profiles and memberlist-lan: lan with
// memberlist's own LAN timings.
func simProfileByName(name string) (Profile, error) {
	if name != "memberlist-lan" {
		return ProfileByName(name)
	}
	p := fromMemberlist(name, memberlist.DefaultLANConfig())
	p.Compression = false // as lan: the same bytes and CPU per message
	return p, nil
}

// joinWave joins nodes[1:] through random nodes that have joined, -sim.joins
// at a time and -sim.rate a second at most, on a clock dilated k times: in
// one process a join takes milliseconds of the shared CPU, so an unpaced
// wave would start hundreds of joins in a second of profile time, a burst
// no real cluster sees. It returns the number of joins
// that gave up waiting for every member to be alive (they did join): the
// convergence check that follows decides.
func (s *sim) joinWave(b *testing.B, nodes []*simNode, k int) int {
	b.Helper()
	var (
		mu     sync.Mutex
		joined = []*simNode{nodes[0]}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, max(1, *simJoins))
		errs   = make(chan error, len(nodes))
		late   atomic.Int32
		start  = time.Now()
		pace   = time.NewTicker(time.Duration(float64(time.Second) / *simRate * float64(k)))
	)
	defer pace.Stop()
	for _, nd := range nodes[1:] {
		<-pace.C
		sem <- struct{}{}
		mu.Lock()
		contact := joined[rand.IntN(len(joined))]
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute*time.Duration(k))
			defer cancel()
			intro, err := nd.c.JoinVia(ctx, contact.addr, JoinOptions{Mode: JoinRegister})
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				if late.Add(1) <= 3 {
					// What it waited for: the next thing to look at.
					progress("%s through %s: %v", nd.c.cfg.Name, contact.c.cfg.Name, err)
					s.explain(nd, intro)
				}
			case err != nil:
				errs <- fmt.Errorf("%s through %s: %w", nd.c.cfg.Name, contact.c.cfg.Name, err)
				return
			}
			mu.Lock()
			joined = append(joined, nd)
			if k := len(joined); k%max(1, len(nodes)/10) == 0 {
				progress("%d of %d nodes joined after %s", k, len(nodes), time.Since(start).Round(time.Second))
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

// waitQuiet polls the UDP gossip bytes every quarter of a (dilated)
// second until the last second's are below simQuiet per node, or the last
// three seconds' rates are within a tenth of each other (the gossip of
// the joins is over, what remains is steady), or limit passes.
func (s *sim) waitQuiet(k int, limit time.Duration) {
	step := 250 * time.Millisecond * time.Duration(k)
	const window = 4 // samples: one second
	start := time.Now()
	samples := []uint64{s.sentUDP()}
	rate := func(i int) float64 { // the second ending at sample i
		return float64(samples[i]-samples[i-window]) / float64(len(s.nodes))
	}
	for time.Since(start) < limit {
		time.Sleep(step)
		samples = append(samples, s.sentUDP())
		n := len(samples) - 1
		if n < window {
			continue
		}
		if rate(n) < simQuiet {
			return
		}
		if n >= 3*window {
			r0, r1, r2 := rate(n), rate(n-window), rate(n-2*window)
			if max(r0, r1, r2) <= 1.1*min(r0, r1, r2) {
				return
			}
		}
	}
	progress("gossip still above %.0f B/s per node and changing after %s", simQuiet, limit)
}

// sentUDP is the gossip bytes all nodes have sent in packets so far.
func (s *sim) sentUDP() uint64 {
	var total uint64
	for _, nd := range s.nodes {
		total += nd.c.metrics.bytes.n[bytesSent][bytesUDP].Load()
	}
	return total
}

// failWatch counts the members each node declares failed, from its
// events: every one is false but the killed node's after its kill.
type failWatch struct {
	mu       sync.Mutex
	killed   string
	phase    string
	fails    map[string]int // false failures by member
	byPhase  map[string]int // false failures by phase of the run
	suspects int
	lost     atomic.Int32 // subscriptions of live nodes dropped for falling behind
	stopping atomic.Bool
	cancels  []func()
	wg       sync.WaitGroup
}

func (s *sim) watchFailures() *failWatch {
	w := &failWatch{fails: map[string]int{}, byPhase: map[string]int{}, phase: "wave"}
	for _, nd := range s.nodes {
		ch, cancel := nd.c.Subscribe(1024)
		w.cancels = append(w.cancels, cancel)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for ev := range ch {
				w.mu.Lock()
				switch {
				case ev.Type == EventSuspect:
					w.suspects++
				case ev.Type == EventFail && ev.Member.Name != w.killed:
					w.fails[ev.Member.Name]++
					w.byPhase[w.phase]++
				}
				w.mu.Unlock()
			}
			if !w.stopping.Load() && !nd.down.Load() {
				w.lost.Add(1)
			}
		}()
	}
	return w
}

// enter names the phase of the run the next false failures count in.
func (w *failWatch) enter(phase string) {
	w.mu.Lock()
	w.phase = phase
	w.mu.Unlock()
}

// kill records the node about to be killed: its failure is true.
func (w *failWatch) kill(name string) {
	w.mu.Lock()
	w.killed = name
	w.mu.Unlock()
}

// stop ends the watch and returns the false failures, events of one
// node declaring another failed.
func (w *failWatch) stop() int {
	w.stopping.Store(true)
	for _, cancel := range w.cancels {
		cancel()
	}
	w.wg.Wait()
	total := 0
	var names []string
	for name, k := range w.fails {
		total += k
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) > 5 {
		names = names[:5]
	}
	if total > 0 || w.suspects > 0 || w.lost.Load() > 0 {
		progress("%d false failures (of %d members, such as %s; by phase %v), %d suspicions, %d subscriptions fell behind",
			total, len(w.fails), strings.Join(names, " "), w.byPhase, w.suspects, w.lost.Load())
	}
	return total
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
