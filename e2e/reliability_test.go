//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rosterhq/roster/e2e/figures"
)

// TestReliability runs one 5-node cluster through the faults operators
// meet, in order, and records what was seen.
func TestReliability(t *testing.T) {
	if err := dockerAvailable(); err != nil {
		t.Skipf("no Docker engine answers (%v): the container suite needs one", err)
	}
	res := &results{figures.Results{Started: time.Now().UTC(), Soak: soak.String()}}
	defer res.write(t)
	buildImage(t)
	buildLoadgen(t)
	tb := newTestbed(t, 5)
	all := tb.hosts
	n1 := all[0]

	t.Run("register-node through the CLI, by host name", func(t *testing.T) {
		start := time.Now()
		for _, h := range all[1:] {
			out := mustDocker(t, "exec", h.container, "/roster", "register-node", "-S", "http://localhost:8024", "-h", n1.name+"."+domain)
			if !strings.Contains(out, h.name) {
				t.Fatalf("register-node on %s said %q", h.name, out)
			}
		}
		d := waitAllAlive(t, start, time.Minute, all, all...)
		res.add(t, "register-node", "`roster register-node -h node1.roster.test` run inside node2..node5", fmt.Sprintf("all 5 alive on every node %s after the first command", ms(d)))
		for _, o := range all {
			for _, n := range nodes(o) {
				want := n.Name + "." + domain
				if n.HostName != want || n.InternalHostName != want || n.GrpcPort != 8124 || n.GrpcInternalPort != 8224 {
					t.Fatalf("%s lists %s as %s:%d / %s:%d, want %s:8124 / %s:8224", o.name, n.Name, n.HostName, n.GrpcPort, n.InternalHostName, n.GrpcInternalPort, want, want)
				}
			}
		}
	})

	var fleet string
	t.Run("clients told nodeN.roster.test:8124", func(t *testing.T) {
		fleet = tb.startFleet(t, 50, axonClients)
		var cs []fleetClient
		waitFor(t, time.Minute, "50 clients connected and calling, 20 connector-like connected", func() bool {
			cs = fleetState(t, fleet)
			if len(cs) != 50+axonClients {
				return false
			}
			for _, c := range cs {
				if c.Server == "" || c.Kind == "go" && c.Calls == 0 {
					return false
				}
			}
			return true
		})
		perNode := map[string]int{}
		for _, c := range cs {
			if c.Address != c.Server+"."+domain+":8124" {
				t.Fatalf("client %s was sent to %q, want %s.%s:8124", c.ID, c.Address, c.Server, domain)
			}
			if c.Kind == "go" {
				perNode[c.Server]++
			}
		}
		var spread []string
		for _, h := range all {
			spread = append(spread, fmt.Sprintf("%s %d", h.name, perNode[h.name]))
			if perNode[h.name] == 0 {
				t.Errorf("no client placed on %s", h.name)
			}
		}
		res.add(t, "clients", fmt.Sprintf("50 Go clients (rpc/client) and %d that behave as AxonIQ's connector, in a container, seeded with nodeN.roster.test:8124", axonClients),
			fmt.Sprintf("each told its node's advertised name and connected to it; Go clients' spread %s", strings.Join(spread, ", ")))
	})

	t.Run("docker kill, docker start", func(t *testing.T) {
		victim := all[4]
		start := time.Now()
		mustDocker(t, "kill", victim.container)
		failed := waitSeen(t, start, time.Minute, victim.name, "failed", others(all, victim)...)
		start = time.Now()
		mustDocker(t, "start", victim.container)
		back := waitAllAlive(t, start, time.Minute, all, all...)
		res.add(t, "kill -9", "`docker kill node5`", fmt.Sprintf("failed on all 4 survivors after %s", ms(failed)))
		res.add(t, "restart", "`docker start node5` (same volume, no command)", fmt.Sprintf("alive on every node after %s", ms(back)))
	})

	t.Run("docker pause past the suspicion timeout", func(t *testing.T) {
		victim := all[3]
		start := time.Now()
		mustDocker(t, "pause", victim.container)
		failed := waitSeen(t, start, time.Minute, victim.name, "failed", others(all, victim)...)
		paused := time.Since(start)
		start = time.Now()
		mustDocker(t, "unpause", victim.container)
		back := waitAllAlive(t, start, time.Minute, all, all...)
		res.add(t, "pause", fmt.Sprintf("`docker pause node4` for %s, then unpause", ms(paused)),
			fmt.Sprintf("failed everywhere after %s; after unpause it refuted and was alive everywhere in %s, all 5 still registered", ms(failed), ms(back)))
	})

	t.Run("partition 2 | 3 for 60 s", func(t *testing.T) {
		a, b := all[:2], all[2:]
		start := time.Now()
		for _, x := range a {
			for _, y := range b {
				cut(t, x, y)
				cut(t, y, x)
			}
		}
		var seenA, seenB time.Duration
		for _, y := range b {
			if d := waitSeen(t, start, 2*time.Minute, y.name, "failed", a...); d > seenA {
				seenA = d
			}
		}
		for _, x := range a {
			if d := waitSeen(t, start, 2*time.Minute, x.name, "failed", b...); d > seenB {
				seenB = d
			}
		}
		hold := 60*time.Second - time.Since(start)
		if hold > 0 {
			time.Sleep(hold) // the partition is held on purpose
		}
		start = time.Now()
		for _, h := range all {
			heal(t, h)
		}
		healed := waitAllAlive(t, start, 3*time.Minute, all, all...)
		res.add(t, "partition", "iptables drop between {node1,node2} and {node3,node4,node5}, held 60 s",
			fmt.Sprintf("each side saw the other failed (after %s and %s); healed: all 5 alive on every node in %s, same 5 registered", ms(seenA), ms(seenB), ms(healed)))
	})

	t.Run("10% packet loss on every node", func(t *testing.T) {
		how := loss(t, all, 10)
		falseFailures, suspicions := watchFailures(t, all, *soak)
		for _, h := range all {
			heal(t, h)
		}
		res.add(t, "packet loss", fmt.Sprintf("10%% random loss (%s) on every node for %s", how, soak.String()),
			fmt.Sprintf("%d false failures; %d suspicions seen in 100 ms polls", falseFailures, suspicions))
		if falseFailures > 0 {
			t.Errorf("%d nodes were reported failed under 10%% packet loss", falseFailures)
		}
	})

	t.Run("recreated with a new IP address", func(t *testing.T) {
		victim := all[2]
		mustDocker(t, "rm", "-f", victim.container)
		victim.ip = tb.subnet + ".60"
		start := time.Now()
		tb.run(victim)
		back := waitAllAlive(t, start, 2*time.Minute, all, all...)
		waitFor(t, time.Minute, "new address gossiped", func() bool {
			for _, o := range others(all, victim) {
				if !strings.HasPrefix(gossipAddr(t, o, victim.name), victim.ip+":") {
					return false
				}
			}
			return true
		})
		res.add(t, "new address", "node3 removed and recreated with its volume at a new IP", fmt.Sprintf("took its old place: alive on every node at the new address after %s", ms(back)))
	})

	t.Run("SIGTERM", func(t *testing.T) {
		victim := all[1]
		before := waitFleetPlaced(t, fleet, n1)
		resetFleet(t, fleet)
		before = fleetState(t, fleet)
		var onVictim []string
		for _, c := range before {
			if c.Server == victim.name {
				onVictim = append(onVictim, c.ID)
			}
		}
		start := time.Now()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); mustDocker(t, "stop", victim.container) }()
		left := waitSeen(t, start, 30*time.Second, victim.name, "left", others(all, victim)...)
		wg.Wait()
		stopped := time.Since(start)
		var leftAt time.Time
		for _, n := range nodes(all[0]) {
			if n.Name == victim.name {
				leftAt = n.Since
			}
		}
		var after []fleetClient
		waitFor(t, 30*time.Second, "clients off "+victim.name, func() bool {
			after = fleetState(t, fleet)
			for _, c := range after {
				if c.Server == victim.name {
					return false
				}
			}
			return true
		})
		moved := checkStopMoves(t, victim.name, before, after)
		movedFirst, goOnVictim := 0, 0
		for _, c := range after {
			if c.Kind != "go" || !contains(onVictim, c.ID) {
				continue
			}
			goOnVictim++
			for _, m := range c.Moves {
				if m.From == victim.name && !m.At.After(leftAt) {
					movedFirst++
					break
				}
			}
		}
		calls, failures, worst, _, lastErr := fleetSummary(after)
		if movedFirst != goOnVictim {
			t.Errorf("%d of the %d Go clients on %s moved before it was seen left", movedFirst, goOnVictim, victim.name)
		}
		if failures > 0 {
			t.Errorf("%d of %d calls failed during the stop (last: %s)", failures, calls, lastErr)
		}
		t.Logf("MOVES SIGTERM %s: %d clients on it (%s), each moved once, none back", victim.name, len(onVictim), kinds(moved))
		mustDocker(t, "start", victim.container)
		waitAllAlive(t, time.Now(), time.Minute, all, all...)
		res.add(t, "SIGTERM", fmt.Sprintf("`docker stop node2` with 50 Go clients calling and %d connector-like ones", axonClients),
			fmt.Sprintf("its %d clients (%s) each moved exactly once, none back to it; the Go ones before it left; left on every other node after %s; process exited after %s; %d failed calls of %d, longest gap %.0f ms; rejoined when started",
				len(onVictim), kinds(moved), ms(left), ms(stopped), failures, calls, worst))
	})

	t.Run("rolling restart with 50 clients calling", func(t *testing.T) {
		waitAllAlive(t, time.Now(), time.Minute, all, all...)
		waitFleetPlaced(t, fleet, n1)
		resetFleet(t, fleet)
		start := time.Now()
		var perStop []string
		movedOnce, cameBack := 0, 0
		for i, h := range all {
			via := all[(i+1)%len(all)]
			before := waitFleetPlaced(t, fleet, via)
			mustDocker(t, "stop", h.container)
			var off []fleetClient
			waitFor(t, 30*time.Second, "clients off "+h.name, func() bool {
				off = fleetState(t, fleet)
				for _, c := range off {
					if c.Server == h.name {
						return false
					}
				}
				return true
			})
			moved := checkStopMoves(t, h.name, before, off)
			mustDocker(t, "start", h.container)
			waitAllAlive(t, time.Now(), 2*time.Minute, all, all...)
			back := checkReturnMoves(t, h.name, off, waitFleetPlaced(t, fleet, via))
			movedOnce += moved["go"] + moved["axon"]
			cameBack += back
			perStop = append(perStop, fmt.Sprintf("%s %d (%s), %d back", h.name, moved["go"]+moved["axon"], kinds(moved), back))
		}
		took := time.Since(start)
		t.Logf("MOVES rolling restart: per stopped node, clients moved once each: %s", strings.Join(perStop, "; "))
		cs := fleetState(t, fleet)
		calls, failures, worst, median, lastErr := fleetSummary(cs)
		res.add(t, "rolling restart", fmt.Sprintf("each of the 5 nodes stopped (SIGTERM) and started in turn while 50 Go clients called every 20 ms, with %d connector-like clients", axonClients),
			fmt.Sprintf("%d failed calls of %d in %s; longest gap between successful calls per client: median %.0f ms, worst %.0f ms; each stop moved each of its clients exactly once (%d moves in all: %s), none back to it; rebalancing moved %d back, only to the node that returned",
				failures, calls, ms(took), median, worst, movedOnce, strings.Join(perStop, "; "), cameBack))
		if failures > 0 {
			t.Errorf("%d of %d calls failed (last: %s)", failures, calls, lastErr)
		}
	})
}

// axonClients is how many of the fleet's clients behave as AxonIQ's Java
// connector: after request_reconnect they ask a random node where to go.
const axonClients = 20

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cut drops all traffic from b at a (both directions are cut by calling
// it twice).
func cut(t testing.TB, a, b *host) {
	inNetns(t, a.container, "iptables", "-I", "INPUT", "-s", b.ip, "-j", "DROP")
	inNetns(t, a.container, "iptables", "-I", "OUTPUT", "-d", b.ip, "-j", "DROP")
}

// heal removes every fault the suite put into h's network namespace.
func heal(t testing.TB, h *host) {
	inNetns(t, h.container, "iptables", "-F")
	pid := mustDocker(t, "inspect", "-f", "{{.State.Pid}}", h.container)
	_ = exec.Command("nsenter", "-t", pid, "-n", "tc", "qdisc", "del", "dev", "eth0", "root").Run()
}

// loss drops percent of the packets every node receives: tc netem where the
// kernel has it, else iptables' statistic match (same random loss).
func loss(t testing.TB, hosts []*host, percent int) string {
	pid := mustDocker(t, "inspect", "-f", "{{.State.Pid}}", hosts[0].container)
	useNetem := exec.Command("nsenter", "-t", pid, "-n", "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", fmt.Sprintf("%d%%", percent)).Run() == nil
	for i, h := range hosts {
		if useNetem {
			if i > 0 {
				inNetns(t, h.container, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", fmt.Sprintf("%d%%", percent))
			}
			continue
		}
		inNetns(t, h.container, "iptables", "-I", "INPUT", "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.2f", float64(percent)/100), "-j", "DROP")
	}
	if useNetem {
		return "tc netem"
	}
	return "iptables statistic, this kernel has no netem"
}

// watchFailures polls every node's view for d and counts transitions of any
// member into failed (false failures: no node is down) and into suspect.
func watchFailures(t testing.TB, hosts []*host, d time.Duration) (failures, suspicions int) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, o := range hosts {
		wg.Add(1)
		go func(o *host) {
			defer wg.Done()
			last := map[string]string{}
			for ctx.Err() == nil {
				for name, st := range statuses(o) {
					if st != last[name] {
						mu.Lock()
						switch st {
						case "failed":
							failures++
							t.Logf("false failure: %s saw %s failed", o.name, name)
						case "suspect":
							suspicions++
						}
						mu.Unlock()
						last[name] = st
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}(o)
	}
	wg.Wait()
	return failures, suspicions
}
