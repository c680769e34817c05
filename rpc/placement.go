package rpc

import (
	"math"
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
	// Tags are the node's placement tags (axoniq.axonserver.tags.*).
	Tags map[string]string
	// Load is the number of clients the node last gossiped.
	Load int
	// Draining is set while the node stops: it is placed on no client.
	Draining bool
}

// sameNode reports whether t and o advertise the same node to clients:
// then its hash and NodeInfo can be reused.
func (t Target) sameNode(o Target) bool {
	return t.Name == o.Name && t.Host == o.Host && t.GRPCPort == o.GRPCPort && t.HTTPPort == o.HTTPPort && t.Version == o.Version
}

// AvoidTag is the ClientIdentification tag in which a client lists (comma
// separated) the nodes it could not reach; placement skips them, as every
// node will once gossip declares them dead.
const AvoidTag = "roster.avoid"

// Placement decides which alive node serves a client, as Axon Server EE
// does with tags, and by rendezvous (highest random weight) hashing of the
// client's id where Axon would pick any node:
//
//   - the nodes with the most tags matching the client's (same name, names
//     compared without case, and the same value) are the candidates;
//   - among several, the least loaded ones (the client counts gossiped),
//     counting loads within a quarter of the least as equal, so that
//     answers do not change with every client that comes or goes;
//   - among those, or among all nodes when no tag matches, the highest
//     rendezvous score of the client's id wins.
//
// Every node that knows the same alive nodes gives the same answer,
// clients spread evenly, and when a node goes only its clients move (each
// to its second choice) while the others stay. Draining nodes are placed
// on no client.
//
// The table is replaced as a whole on membership changes and read without
// locks, so a pick for a client without tags allocates nothing.
type Placement struct {
	table atomic.Pointer[[]placed]
}

type placed struct {
	name   string
	seed   uint64
	info   *controlpb.NodeInfo // shared by every answer: never modified
	target Target              // what seed and info were made from
	tags   map[string]string   // names in lower case
	load   int
}

// NewPlacement returns a placement over no node.
func NewPlacement() *Placement {
	p := &Placement{}
	p.Update(nil)
	return p
}

// Update replaces the alive nodes. Callers pass every alive node (and no
// other) each time membership, a node's tags or its load changes; draining
// ones are left out here.
//
// A node that advertises the same as at the last update keeps its hash
// and NodeInfo: every membership event on every node comes here, and
// rebuilding all N of them each time would make a join cost each member
// O(N) here, as much as the gossip exchange that told it.
func (p *Placement) Update(alive []Target) {
	t := make([]placed, 0, len(alive))
	for _, a := range alive {
		if a.Draining {
			continue
		}
		pl := placed{name: a.Name, target: a, load: a.Load}
		if len(a.Tags) > 0 {
			pl.tags = make(map[string]string, len(a.Tags))
			for k, v := range a.Tags {
				pl.tags[strings.ToLower(k)] = v
			}
		}
		t = append(t, pl)
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
		if j < len(old) && old[j].target.sameNode(t[i].target) {
			t[i].seed, t[i].info = old[j].seed, old[j].info
			continue
		}
		t[i].seed = rendezvous.Mix(rendezvous.Hash(t[i].name))
		t[i].info = t[i].target.nodeInfo()
	}
	p.table.Store(&t)
}

// Pick is the node for key (a client id without tags) among the alive
// nodes; false when there is none.
func (p *Placement) Pick(key string) (string, bool) {
	return p.PickTagged(key, nil)
}

// PickTagged is the node for a client with id key and tags, as
// GetPlatformServer answers it; false when there is none.
func (p *Placement) PickTagged(key string, tags map[string]string) (string, bool) {
	n := p.pick(key, tags, "", "", true)
	if n == nil {
		return "", false
	}
	return n.name, true
}

// Places reports whether clients may be placed on the named node: it is
// alive and not draining.
func (p *Placement) Places(name string) bool {
	for _, n := range *p.table.Load() {
		if n.name == name {
			return true
		}
	}
	return false
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

// pick is the node for the client with id key and tags among the nodes
// that are neither skip nor listed in avoid (a comma-separated list of
// names). byLoad breaks ties between tag-matching nodes by their load; a
// rebalance leaves it out, so that a joined node takes a fair share of the
// clients that match it rather than all of them.
func (p *Placement) pick(key string, tags map[string]string, skip, avoid string, byLoad bool) *placed {
	t := *p.table.Load()
	usable := func(n *placed) bool {
		return n.name != skip && (avoid == "" || !listed(avoid, n.name))
	}
	// The most matching tags, and the least load among those nodes.
	most, least := -1, math.MaxInt
	for i := range t {
		n := &t[i]
		if !usable(n) {
			continue
		}
		switch m := n.matches(tags); {
		case m > most:
			most, least = m, n.load
		case m == most:
			least = min(least, n.load)
		}
	}
	limit := math.MaxInt
	if most > 0 && byLoad {
		limit = least + max(1, least/4)
	}
	h := rendezvous.Hash(key)
	var best *placed
	var bestScore uint64
	for i := range t {
		n := &t[i]
		if !usable(n) || n.load > limit || n.matches(tags) != most {
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

// matches counts the client's tags that the node has with the same value
// (names compared without case, as Axon Server EE does). The client's
// list of unreachable nodes is no tag.
func (n *placed) matches(tags map[string]string) int {
	if len(n.tags) == 0 {
		return 0
	}
	m := 0
	for k, v := range tags {
		if k == AvoidTag {
			continue
		}
		if nv, ok := n.tags[strings.ToLower(k)]; ok && nv == v {
			m++
		}
	}
	return m
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
