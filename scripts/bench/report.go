package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// result is what one agent measured.
type result struct {
	agent string
	label string // agent and version, for the table's header
	n     int
	// watched says how joins and failures were seen: members polled
	// every -poll, or streamed.
	watched string

	forming []joinResult // the joins that formed the cluster of N-1
	joins   []joinResult // measured joins into N-1 alive nodes
	kills   []time.Duration
	// killsSince: until the last survivor recorded the failure, by its
	// own clock (roster's "since"), free of the polling's resolution.
	killsSince []time.Duration

	cpu, rss, pss []float64 // per node over the idle window: %, bytes, bytes
	// rssFile and rssAnon split rss: mapped file pages (the executable and
	// shared libraries) and the process's own memory (heap, stacks).
	rssFile, rssAnon []float64
	bytesPerSec      float64 // gossip bytes sent per node per second, idle
	bytesOK          bool
	bytesNote        string

	rest      []time.Duration // GET /v1/public, one after another
	restNodes int             // nodes in that list

	health, platform float64 // client gRPC calls per second, median runs
	platformRatio    float64 // median over pairs of runs of platform/health

	falseFailures, suspicions int

	// cmdStart is the median time the agent's binary takes to start and
	// exit (idleCmd), before any node runs: every join command pays it.
	cmdStart time.Duration
	idleCmd  string
}

// The serf agent's figures as measured by this benchmark with 10 agents
// on its LAN profile (join seen by all, p90; kill seen failed by all,
// median; resident memory per agent), used as the reference when -serf is
// not given.
const (
	serfRefJoinP90    = 253 * time.Millisecond
	serfRefFailMedian = 5900 * time.Millisecond
	serfRefRSS        = 16.6 * 1024 * 1024
)

type machine struct {
	cpus               int
	loadStart, loadEnd string
	kernel, goVersion  string
	profile            string
	n                  int
}

func describeMachine(o options) *machine {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return &machine{cpus: runtime.NumCPU(), loadStart: loadAvg(), kernel: strings.TrimSpace(string(kernel)),
		goVersion: runtime.Version(), profile: o.profile, n: o.n}
}

func (m *machine) String() string {
	return fmt.Sprintf("bench: %d nodes on loopback, gossip profile %s; %d CPUs, Linux %s, %s; load average %s",
		m.n, m.profile, m.cpus, m.kernel, m.goVersion, m.loadStart)
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuSeconds is the process's user+system CPU time, from /proc/PID/stat
// (in clock ticks of USER_HZ, which is 100 on Linux).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return math.NaN()
	}
	// The command name may hold spaces: fields start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return math.NaN()
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return math.NaN()
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// memUse is a process's memory in bytes: its resident set (VmRSS), split
// into mapped file pages (RssFile: the executable and shared libraries,
// which the kernel maps in blocks around each page touched) and its own
// memory (RssAnon: heap and stacks), and its proportional set (Pss: pages
// shared with other processes, such as the binary's, split among them).
type memUse struct{ rss, file, anon, pss float64 }

func memory(pid int) memUse {
	status := "/proc/" + strconv.Itoa(pid) + "/status"
	return memUse{
		rss:  kbField(status, "VmRSS:"),
		file: kbField(status, "RssFile:"),
		anon: kbField(status, "RssAnon:"),
		pss:  kbField("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", "Pss:"),
	}
}

func kbField(path, key string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v * 1024
			}
		}
	}
	return math.NaN()
}

// pct is the p-th percentile by nearest rank.
func pct(v []time.Duration, p float64) time.Duration {
	if len(v) == 0 {
		return -1
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}

func seen(j []joinResult) []time.Duration {
	out := make([]time.Duration, len(j))
	for i, r := range j {
		out[i] = r.all
	}
	return out
}

func sinceTimes(j []joinResult) []time.Duration {
	var out []time.Duration
	for _, r := range j {
		if r.since >= 0 {
			out = append(out, r.since)
		}
	}
	return out
}

func cmdTimes(j []joinResult) []time.Duration {
	out := make([]time.Duration, len(j))
	for i, r := range j {
		out[i] = r.cmd
	}
	return out
}

func misses(j []joinResult) (missed, pairs int) {
	for _, r := range j {
		missed += r.misses
		pairs += r.nodes
	}
	return missed, pairs
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func fmtMiB(b float64) string {
	if math.IsNaN(b) {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", b/(1024*1024))
}

func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return medianF(v)
}

// row is one line of the table: a figure per agent, the target and
// whether roster meets it.
type row struct {
	what   string
	values []string
	target string
	ok     *bool
}

func verdict(ok bool) *bool { return &ok }

func printTable(out io.Writer, o options, env *machine, results []*result) {
	r := results[0]
	var s *result
	if len(results) > 1 {
		s = results[1]
	}
	val := func(f func(*result) string) []string {
		v := []string{f(r)}
		if s != nil {
			v = append(v, f(s))
		}
		return v
	}
	var rows []row
	section := func(title string) { rows = append(rows, row{what: title}) }
	add := func(what string, f func(*result) string, target string, ok *bool) {
		rows = append(rows, row{what: "  " + what, values: val(f), target: target, ok: ok})
	}

	// Join.
	section(fmt.Sprintf("join: register command start → every node lists it alive (%d joins into %d alive nodes)", len(r.joins), o.n-1))
	p90 := pct(seen(r.joins), 90)
	var joinTarget time.Duration
	var joinWhy string
	switch {
	case o.n >= 100:
		joinTarget, joinWhy = 100*time.Millisecond, "at 100 nodes"
	case s != nil:
		joinTarget, joinWhy = pct(seen(s.joins), 90)/10, "serf's / 10"
	default:
		joinTarget, joinWhy = serfRefJoinP90/10, "serf agent's measured 253 ms / 10"
	}
	add("seen by", func(x *result) string { return x.watched }, "", nil)
	add("median", func(x *result) string { return fmtDur(pct(seen(x.joins), 50)) }, "", nil)
	add("p90", func(x *result) string { return fmtDur(pct(seen(x.joins), 90)) },
		fmt.Sprintf("≤ %s (%s)", fmtDur(joinTarget), joinWhy), verdict(p90 <= joinTarget))
	add("max", func(x *result) string { return fmtDur(pct(seen(x.joins), 100)) }, "", nil)
	add("by the nodes' own clocks (since): median, p90", func(x *result) string {
		v := sinceTimes(x.joins)
		if len(v) == 0 {
			return "-"
		}
		return fmtDur(pct(v, 50)) + ", " + fmtDur(pct(v, 90))
	}, "", nil)
	add("join command returned (median)", func(x *result) string { return fmtDur(pct(cmdTimes(x.joins), 50)) }, "", nil)
	add("the binary starting and exiting, no node running (median of 11)", func(x *result) string {
		return fmtDur(x.cmdStart) + " (" + x.idleCmd + ")"
	}, "", nil)
	m, pairs := misses(append(append([]joinResult(nil), r.forming...), r.joins...))
	add(fmt.Sprintf("misses: a node saw it after %s", o.miss), func(x *result) string {
		m, pairs := misses(append(append([]joinResult(nil), x.forming...), x.joins...))
		return fmt.Sprintf("%d of %d", m, pairs)
	}, "0", verdict(m == 0))
	_ = pairs
	add(fmt.Sprintf("forming joins into 1..%d nodes: p90, max", o.n-2), func(x *result) string {
		return fmtDur(pct(seen(x.forming), 90)) + ", " + fmtDur(pct(seen(x.forming), 100))
	}, "", nil)

	// Failure.
	if o.kills > 0 {
		section(fmt.Sprintf("failure: kill -9 → every survivor lists it failed (%d kills, %d survivors)", len(r.kills), o.n-1))
		failTarget, failWhy := serfRefFailMedian/2, "serf agent's measured 5.9 s / 2"
		if s != nil {
			failTarget, failWhy = pct(s.kills, 50)/2, "serf's / 2"
		}
		add("median", func(x *result) string { return fmtDur(pct(x.kills, 50)) },
			fmt.Sprintf("≤ %s (%s)", fmtDur(failTarget), failWhy), verdict(pct(r.kills, 50) <= failTarget))
		add("p90", func(x *result) string { return fmtDur(pct(x.kills, 90)) }, "", nil)
		add("by the nodes' own clocks (since): median", func(x *result) string { return fmtDur(pct(x.killsSince, 50)) }, "", nil)
	}
	add("false failures (suspicions) of running nodes", func(x *result) string {
		if x.agent == "serf" {
			return fmt.Sprintf("%d (serf shows none)", x.falseFailures)
		}
		return fmt.Sprintf("%d (%d)", x.falseFailures, x.suspicions)
	}, "0", verdict(r.falseFailures == 0))

	// Idle.
	section(fmt.Sprintf("idle, per node (%d nodes, %s window)", o.n, o.idle))
	rssTarget, rssWhy := 1.2*serfRefRSS, "1.2 × serf agent's measured 16.6 MB"
	if s != nil && len(s.rss) > 0 {
		rssTarget, rssWhy = 1.2*medianFloat(s.rss), "1.2 × serf's"
	}
	add("resident memory (VmRSS), median", func(x *result) string { return fmtMiB(medianFloat(x.rss)) },
		fmt.Sprintf("≤ %s (%s)", fmtMiB(rssTarget), rssWhy), verdict(medianFloat(r.rss) <= rssTarget))
	add("  of which mapped files (RssFile), median", func(x *result) string { return fmtMiB(medianFloat(x.rssFile)) }, "", nil)
	add("  of which heap and stacks (RssAnon), median", func(x *result) string { return fmtMiB(medianFloat(x.rssAnon)) }, "", nil)
	add("  shared pages split (Pss), median", func(x *result) string { return fmtMiB(medianFloat(x.pss)) }, "", nil)
	add("CPU, median", func(x *result) string { return fmt.Sprintf("%.2f %%", medianFloat(x.cpu)) }, "reported", nil)
	add("gossip bytes sent per second", func(x *result) string {
		if !x.bytesOK {
			return "n/a"
		}
		return fmt.Sprintf("%.0f B/s", x.bytesPerSec)
	}, "reported", nil)

	// Clients.
	if len(r.rest) > 0 || r.health > 0 {
		section("clients (roster only)")
		if r.health > 0 {
			ratio := r.platformRatio
			rows = append(rows, row{what: fmt.Sprintf("  GetPlatformServer vs health Check, calls/s (median of %d pairs)", clientPairs),
				values: []string{fmt.Sprintf("%.0f vs %.0f: %.0f %%", r.platform, r.health, 100*ratio)}, target: "≥ 90 %", ok: verdict(ratio >= 0.9)})
		}
		if len(r.rest) > 0 {
			med := pct(r.rest, 50)
			var ok *bool
			target := "< 1 ms at 100 nodes"
			if r.restNodes >= 100 {
				ok = verdict(med < time.Millisecond)
			}
			rows = append(rows, row{what: fmt.Sprintf("  GET /v1/public, %d nodes listed: median, p90", r.restNodes),
				values: []string{fmtDur(med) + ", " + fmtDur(pct(r.rest, 90))}, target: target, ok: ok})
		}
	}

	// Columns sized to the widest cell; section titles run across.
	names := []string{r.agent}
	if s != nil {
		names = append(names, s.label)
	}
	widths := make([]int, len(results)+2)
	cells := func(rw row) []string {
		c := append([]string{rw.what}, rw.values...)
		for len(c) < len(results)+1 {
			c = append(c, "")
		}
		return append(c, rw.target)
	}
	all := append([]row{{what: "", values: names, target: "target"}}, rows...)
	for _, rw := range all {
		if rw.values == nil {
			continue
		}
		for i, c := range cells(rw) {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, rw := range all {
		if rw.values == nil {
			fmt.Fprintln(out, rw.what)
			continue
		}
		var b strings.Builder
		for i, c := range cells(rw) {
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		if rw.ok != nil {
			if *rw.ok {
				b.WriteString("met")
			} else {
				b.WriteString("NOT MET")
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(out, "load average at start %s, at end %s\n", env.loadStart, env.loadEnd)
	for _, x := range results {
		if x.bytesNote != "" {
			fmt.Fprintf(out, "%s gossip bytes: %s\n", x.agent, x.bytesNote)
		}
	}
}
