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
)

// TestReliability runs one 5-node cluster through the faults operators
// meet, in order, and records what was seen.
func TestReliability(t *testing.T) {
	if err := dockerAvailable(); err != nil {
		t.Skipf("no Docker engine answers (%v): the container suite needs one", err)
	}
	res := &results{Started: time.Now().UTC(), Soak: soak.String()}
	defer res.write(t)
	buildImage(t)
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
			fmt.Sprintf("%d false failures, %d suspicions (refuted)", falseFailures, suspicions))
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
		start := time.Now()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); mustDocker(t, "stop", victim.container) }()
		left := waitSeen(t, start, 30*time.Second, victim.name, "left", others(all, victim)...)
		wg.Wait()
		stopped := time.Since(start)
		mustDocker(t, "start", victim.container)
		waitAllAlive(t, time.Now(), time.Minute, all, all...)
		res.add(t, "SIGTERM", "`docker stop node2`", fmt.Sprintf("left on every other node after %s; process exited after %s; rejoined when started", ms(left), ms(stopped)))
	})
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
