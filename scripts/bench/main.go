// Command bench measures how fast roster's gossip membership is, the way a
// user feels it, on real node processes on loopback, and compares it with
// the serf agent doing the same job.
//
//	go run ./scripts/bench -n 10                         # roster alone, serf's measured figures as reference
//	go run ./scripts/bench -n 10 -serf .bench/bin/serf   # roster and the serf agent side by side
//	go run ./scripts/bench -n 3 -joins 2 -kills 1 -quick # what CI runs
//
// Each agent gets the same script: N-1 nodes form a cluster, one join at a
// time through a random member (the forming joins); then, R times, a fresh
// node joins (a measured join into N-1 alive nodes) and is killed with
// SIGKILL (a measured failure) or, once there are more joins than kills,
// stopped with SIGINT. After the first measured join, with exactly N nodes
// alive, the cluster idles and each node's memory, CPU and gossip bytes are
// read. roster nodes are driven only through the CLI (register-node) and
// the REST API (GET /v1/public polled every 20 ms on every node at once);
// serf agents through their CLI (serf join) and their RPC port (the members
// call that `serf members` makes). The figures are printed as a table, next
// to targets drawn from serf's figures (measured in the same run, or the
// reference figures in report.go). Timings are printed, never asserted: the
// exit code is non-zero only when the run itself failed (a node that would
// not start, a join that errored, a cluster that never converged).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	n, joins, kills int
	profile         string
	roster, serf    string
	poll            time.Duration
	watch           string
	miss, converge  time.Duration
	settle, idle    time.Duration
	clients         time.Duration
	restSamples     int
	dir             string
	keep            bool
	seed            uint64
	quick           bool
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 10, "cluster size: the measured joins and the idle window are at N nodes")
	flag.IntVar(&o.joins, "joins", 5, "measured joins into a cluster of N-1 alive nodes")
	flag.IntVar(&o.kills, "kills", 3, "measured kill -9s (each kills the node that just joined)")
	flag.StringVar(&o.profile, "profile", "lan", "gossip profile of both agents: lan, wan or local")
	flag.StringVar(&o.roster, "roster", "", "roster binary to run (default: build ./cmd/roster as the image does)")
	flag.StringVar(&o.serf, "serf", "", "serf agent binary (v0.10.2, see scripts/bench/get-serf.sh): run the same script against it")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often every node's member list is read while waiting")
	flag.StringVar(&o.watch, "watch", "poll", "how joins and failures are seen: poll (every node every -poll, both agents) or stream (roster's event stream on every node, no polling; serf is polled)")
	flag.DurationVar(&o.miss, "miss", 10*time.Second, "a node that sees a join later than this is a miss")
	flag.DurationVar(&o.converge, "converge", 60*time.Second, "give up on a join or a failure that is not seen everywhere by then")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "quiet time after a join before the idle window")
	flag.DurationVar(&o.idle, "idle", 20*time.Second, "idle window for CPU and bytes")
	flag.DurationVar(&o.clients, "clients", 3*time.Second, "length of each gRPC throughput run (0 skips them)")
	flag.IntVar(&o.restSamples, "rest", 300, "GET /v1/public requests timed one after another")
	flag.StringVar(&o.dir, "dir", "", "parent of the nodes' data directories (default: the system's temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directories and logs")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the choice of contacts")
	flag.BoolVar(&o.quick, "quick", false, "short windows, for CI: keeps the benchmark working, its figures are rough")
	flag.Parse()
	if o.quick {
		o.settle, o.idle, o.restSamples = time.Second, 3*time.Second, 50
		if o.clients > 500*time.Millisecond {
			o.clients = 500 * time.Millisecond
		}
	}
	// The agents run in their own directories: a relative binary path
	// must not depend on that.
	for _, bin := range []*string{&o.roster, &o.serf} {
		if *bin != "" && !filepath.IsAbs(*bin) && strings.ContainsRune(*bin, filepath.Separator) {
			if abs, err := filepath.Abs(*bin); err == nil {
				*bin = abs
			}
		}
	}
	if err := validate(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

func validate(o options) error {
	switch {
	case o.n < 2:
		return fmt.Errorf("-n %d: at least 2 nodes", o.n)
	case o.joins < 1:
		return fmt.Errorf("-joins %d: at least 1", o.joins)
	case o.kills < 0:
		return fmt.Errorf("-kills %d: not negative", o.kills)
	case o.watch != "poll" && o.watch != "stream":
		return fmt.Errorf("-watch %q: poll or stream", o.watch)
	case o.poll <= 0 || o.miss <= 0 || o.converge < o.miss:
		return fmt.Errorf("-poll, -miss and -converge must be positive, -converge at least -miss")
	case runtime.GOOS != "linux":
		return fmt.Errorf("needs Linux (/proc for memory and CPU)")
	}
	return nil
}

func run(ctx context.Context, o options, out io.Writer) error {
	parent := o.dir
	if parent == "" {
		parent = os.TempDir()
	}
	work, err := os.MkdirTemp(parent, "roster-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	failed := true
	defer func() {
		if o.keep || failed {
			fmt.Fprintf(os.Stderr, "bench: data and logs kept in %s\n", work)
			return
		}
		_ = os.RemoveAll(work)
	}()

	bin := o.roster
	if bin == "" {
		if bin, err = buildRoster(ctx, filepath.Join(work, "bin")); err != nil {
			return err
		}
	}
	env := describeMachine(o)
	fmt.Fprintln(out, env.String())

	var results []*result
	p := newPorts()
	r, err := measure(ctx, o, newRosterAgent(bin, filepath.Join(work, "roster"), o.profile, p))
	if err != nil {
		return err
	}
	results = append(results, r)
	if o.serf != "" {
		s, err := newSerfAgent(o.serf, filepath.Join(work, "serf"), o.profile, p)
		if err != nil {
			return err
		}
		r, err := measure(ctx, o, s)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	env.loadEnd = loadAvg()
	printTable(out, o, env, results)
	failed = false
	return nil
}

// measure runs the whole script against one agent.
func measure(ctx context.Context, o options, a agent) (res *result, err error) {
	defer a.Close()
	res = &result{agent: a.Name(), label: a.Name(), n: o.n}
	if l, ok := a.(interface{ Label() string }); ok {
		res.label = l.Label()
	}
	rng := rand.New(rand.NewPCG(o.seed, 0))
	log := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s: %s\n", time.Now().Format("15:04:05.000"), a.Name(), fmt.Sprintf(format, args...))
	}

	nothing := a.Idle()
	if res.cmdStart, err = commandStart(ctx, nothing, 11); err != nil {
		return nil, err
	}
	res.idleCmd = strings.Join(append([]string{filepath.Base(nothing[0])}, nothing[1:]...), " ")

	base := make([]*node, o.n-1)
	log("starting %d nodes", len(base))
	if err := startAll(ctx, a, base, 0); err != nil {
		return nil, err
	}
	w := &watcher{a: a, every: o.poll, res: res}
	res.watched = "members polled every " + o.poll.String()
	if st, ok := a.(streamer); ok && o.watch == "stream" {
		w.stream, res.watched = st, "event stream of every node"
	}
	// Streams end with their nodes, or here.
	streams, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	for _, nd := range base {
		if err := w.follow(streams, nd); err != nil {
			return nil, err
		}
	}
	alive := []*node{base[0]}
	for _, nd := range base[1:] {
		contact := alive[rng.IntN(len(alive))]
		jr, err := join(ctx, o, a, w, nd, contact, alive)
		if err != nil {
			return nil, err
		}
		res.forming = append(res.forming, jr)
		alive = append(alive, nd)
	}
	log("formed a cluster of %d; forming joins p90 %s", len(alive), fmtDur(pct(seen(res.forming), 90)))

	rounds := max(o.joins, o.kills)
	for i := range rounds {
		fresh := make([]*node, 1)
		if err := startAll(ctx, a, fresh, o.n-1+i); err != nil {
			return nil, err
		}
		nd := fresh[0]
		if err := w.follow(streams, nd); err != nil {
			return nil, err
		}
		contact := alive[rng.IntN(len(alive))]
		jr, err := join(ctx, o, a, w, nd, contact, alive)
		if err != nil {
			return nil, err
		}
		res.joins = append(res.joins, jr)
		log("join %d of %d: %s seen alive by all %d nodes after %s (recorded by %s; join command took %s)", i+1, rounds, nd.name, len(alive)+1, fmtDur(jr.all), fmtDur(jr.since), fmtDur(jr.cmd))
		if i == 0 {
			if err := idle(ctx, o, a, append(append([]*node(nil), alive...), nd), res, log); err != nil {
				return nil, err
			}
		}
		if i < o.kills {
			d, since, err := kill(ctx, o, a, w, nd, alive)
			if err != nil {
				return nil, err
			}
			res.kills = append(res.kills, d)
			if since >= 0 {
				res.killsSince = append(res.killsSince, since)
			}
			log("kill %d of %d: %s seen failed by all %d survivors after %s", i+1, o.kills, nd.name, len(alive), fmtDur(d))
		} else {
			w.expectDown(nd.name)
			if err := a.Stop(nd); err != nil {
				return nil, err
			}
		}
	}
	if cl, ok := a.(clientBench); ok && o.clients > 0 {
		log("client gRPC throughput on %s", base[0].name)
		if err := cl.ClientThroughput(ctx, base[0], o.clients, res); err != nil {
			return nil, err
		}
	}
	res.falseFailures, res.suspicions = w.falseCounts()
	return res, ctx.Err()
}

// startAll starts len(nodes) nodes numbered from first and waits until
// each answers.
func startAll(ctx context.Context, a agent, nodes []*node, first int) error {
	for i := range nodes {
		nd, err := a.Start(ctx, first+i)
		if err != nil {
			return err
		}
		nodes[i] = nd
	}
	errs := make(chan error, len(nodes))
	for _, nd := range nodes {
		go func() { errs <- a.WaitReady(ctx, nd, time.Minute) }()
	}
	var all []error
	for range nodes {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

type joinResult struct {
	all    time.Duration // until every node listed it alive, as polled
	since  time.Duration // until the last node recorded it, by their own "since"; -1: not told
	cmd    time.Duration // until the join command returned
	misses int           // nodes that saw it later than -miss
	nodes  int
}

// join runs the agent's join command on nd through contact and waits until
// nd and every node in members list nd alive.
func join(ctx context.Context, o options, a agent, w *watcher, nd, contact *node, members []*node) (joinResult, error) {
	observers := append(append([]*node(nil), members...), nd)
	start := time.Now()
	cmdDone := make(chan error, 1)
	var cmdTook time.Duration
	go func() {
		err := a.Join(ctx, nd, contact)
		cmdTook = time.Since(start)
		cmdDone <- err
	}()
	seen := w.until(ctx, observers, start, o.converge, func(st map[string]member) bool { return st[nd.name].status == "alive" })
	if err := <-cmdDone; err != nil {
		return joinResult{}, fmt.Errorf("%s: join of %s through %s: %w", a.Name(), nd.name, contact.name, err)
	}
	jr := joinResult{cmd: cmdTook, nodes: len(observers)}
	for i, s := range seen {
		if s.at < 0 {
			return joinResult{}, fmt.Errorf("%s: %s never saw %s join within %s", a.Name(), observers[i].name, nd.name, o.converge)
		}
		if s.at > o.miss {
			jr.misses++
		}
		jr.all = max(jr.all, s.at)
	}
	jr.since = lastSince(seen[:len(seen)-1], nd.name, start) // the new node lists itself from its start
	return jr, nil
}

// lastSince is the latest time, from start, at which an observer recorded
// name's current status by its own clock (the "since" field), or -1 when
// the agent does not say.
func lastSince(seen []seenBy, name string, start time.Time) time.Duration {
	last := time.Duration(-1)
	for _, s := range seen {
		t := s.list[name].since
		if t.IsZero() {
			return -1
		}
		last = max(last, t.Sub(start))
	}
	return last
}

// kill sends SIGKILL to victim and waits until every survivor lists it
// failed: as polled, and by the survivors' own "since".
func kill(ctx context.Context, o options, a agent, w *watcher, victim *node, survivors []*node) (time.Duration, time.Duration, error) {
	w.expectDown(victim.name)
	start := time.Now()
	if err := victim.kill(); err != nil {
		return 0, 0, err
	}
	seen := w.until(ctx, survivors, start, o.converge, func(st map[string]member) bool { return st[victim.name].status == "failed" })
	var all time.Duration
	for i, s := range seen {
		if s.at < 0 {
			return 0, 0, fmt.Errorf("%s: %s never saw the killed %s failed within %s", a.Name(), survivors[i].name, victim.name, o.converge)
		}
		all = max(all, s.at)
	}
	return all, lastSince(seen, victim.name, start), nil
}

// idle lets the cluster of nodes settle, then reads each node's CPU time
// and gossip bytes over the idle window, and its resident memory at the
// end.
func idle(ctx context.Context, o options, a agent, nodes []*node, res *result, log func(string, ...any)) error {
	log("settling %s, then idle for %s with %d nodes", o.settle, o.idle, len(nodes))
	if err := sleep(ctx, o.settle); err != nil {
		return err
	}
	cpu0 := make([]float64, len(nodes))
	for i, nd := range nodes {
		cpu0[i] = cpuSeconds(nd.pid())
	}
	bytes0, bytesErr := a.GossipBytes(ctx, nodes)
	t0 := time.Now()
	if err := sleep(ctx, o.idle); err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	bytes1, err := a.GossipBytes(ctx, nodes)
	if bytesErr == nil && err == nil {
		res.bytesPerSec = (bytes1 - bytes0) / wall / float64(len(nodes))
		res.bytesOK = true
	} else {
		res.bytesNote = errors.Join(bytesErr, err).Error()
	}
	for i, nd := range nodes {
		res.cpu = append(res.cpu, 100*(cpuSeconds(nd.pid())-cpu0[i])/wall)
		m := memory(nd.pid())
		res.rss = append(res.rss, m.rss)
		res.pss = append(res.pss, m.pss)
		res.rssFile = append(res.rssFile, m.file)
		res.rssAnon = append(res.rssAnon, m.anon)
	}
	if rb, ok := a.(restBench); ok {
		lat, size, err := rb.RESTLatency(ctx, nodes[0], o.restSamples)
		if err != nil {
			return err
		}
		res.rest, res.restNodes = lat, size
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
