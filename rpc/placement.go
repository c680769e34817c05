package rpc

import (
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rosterhq/roster/internal/rendezvous"
	"github.com/rosterhq/roster/rpc/controlpb"
)

// Target is a node that clients may be sent to: its name and what it
// advertises to clients.
type Target struct {
	Name     string
	Host     string // client address: hostname.domain, hostname or an IP
	GRPCPort int
	HTTPPort int
	Version  string // roster version, "major.minor.patch"
}

// AvoidTag is the ClientIdentification tag in which a client lists (comma
// separated) the nodes it could not reach; placement skips them, as every
// node will once gossip declares them dead.
const AvoidTag = "roster.avoid"

// Placement decides which alive node serves a client, by rendezvous
// (highest random weight) hashing of the client's id over the alive nodes'
// names: every node that knows the same alive nodes gives the same answer,
// clients spread evenly, and when a node goes only its clients move (each
// to its second choice) while the others stay.
//
// The table is replaced as a whole on membership changes and read without
// locks, so Pick allocates nothing.
type Placement struct {
	table atomic.Pointer[[]placed]
}

type placed struct {
	name   string
	seed   uint64
	info   *controlpb.NodeInfo // shared by every answer: never modified
	target Target              // what seed and info were made from
}

// NewPlacement returns a placement over no node.
func NewPlacement() *Placement {
	p := &Placement{}
	p.Update(nil)
	return p
}

// Update replaces the alive nodes. Callers pass every alive node (and no
// other) each time membership changes.
//
// A node unchanged since the last update keeps its hash and NodeInfo:
// every membership event on every node comes here, and rebuilding all N
// of them each time would make a join cost each member O(N) here, as
// much as the gossip exchange that told it.
func (p *Placement) Update(alive []Target) {
	t := make([]placed, 0, len(alive))
	for _, a := range alive {
		t = append(t, placed{name: a.Name, target: a})
	}
	sort.Slice(t, func(i, j int) bool { return t[i].name < t[j].name })
	var old []placed
	if prev := p.table.Load(); prev != nil {
		old = *prev
	}
	j := 0
	for i := range t {
		for j < len(old) && old[j].name < t[i].name {
			j++
		}
		if j < len(old) && old[j].target == t[i].target {
			t[i].seed, t[i].info = old[j].seed, old[j].info
			continue
		}
		t[i].seed = rendezvous.Mix(rendezvous.Hash(t[i].name))
		t[i].info = t[i].target.nodeInfo()
	}
	p.table.Store(&t)
}

// Pick is the node for key (a client id) among the alive nodes; false when
// there is none.
func (p *Placement) Pick(key string) (string, bool) {
	n := p.pick(key, "", "")
	if n == nil {
		return "", false
	}
	return n.name, true
}

// Nodes lists the alive nodes' names, sorted.
func (p *Placement) Nodes() []string {
	t := *p.table.Load()
	out := make([]string, len(t))
	for i := range t {
		out[i] = t[i].name
	}
	return out
}

// pick is the highest-scoring node for key that is neither skip nor listed
// in avoid (a comma-separated list of names).
func (p *Placement) pick(key, skip, avoid string) *placed {
	t := *p.table.Load()
	h := rendezvous.Hash(key)
	var best *placed
	var bestScore uint64
	for i := range t {
		n := &t[i]
		if n.name == skip || (avoid != "" && listed(avoid, n.name)) {
			continue
		}
		// Ties are practically impossible; the sorted table still breaks
		// them the same way on every node.
		if s := rendezvous.Mix(h ^ n.seed); best == nil || s > bestScore {
			best, bestScore = n, s
		}
	}
	return best
}

// listed reports whether name is one of the comma-separated names in list,
// without allocating.
func listed(list, name string) bool {
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		if strings.TrimSpace(item) == name {
			return true
		}
	}
	return false
}

func (t Target) nodeInfo() *controlpb.NodeInfo {
	return &controlpb.NodeInfo{
		HostName: t.Host,
		GrpcPort: int32(t.GRPCPort),
		HttpPort: int32(t.HTTPPort),
		Version:  VersionNumber(t.Version),
		NodeName: t.Name,
	}
}

// VersionNumber encodes a "major.minor.patch" version for NodeInfo.version
// (an int32 in Axon's API) as major*10000 + minor*100 + patch: 0.1.0 is 100,
// 1.12.3 is 11203. A pre-release or build suffix is ignored; anything
// unparsable is 0.
func VersionNumber(v string) int32 {
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 {
		return 0
	}
	var n int32
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		// Minor and patch take two digits; the major part must keep the
		// result in an int32.
		if err != nil || x < 0 || (i > 0 && x > 99) || x > 200000 {
			return 0
		}
		n = n*100 + int32(x)
	}
	return n
}
