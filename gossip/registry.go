package gossip

import (
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// registry holds every registered member and the tombstones of unregistered
// ones.
//
// What gossip teaches it (observe, setStatus, merge, an unregistration
// another node announces) is in memory and reported at once, and written
// to disk by persist a second later: a burst of changes (a join into a
// large cluster brings one per member, a flood of unregistrations one per
// event) is one write, and no change waits for a disk. A crash loses at
// most that second, which gossip teaches again. A write that fails is
// tried again every second until it succeeds, and the failure is reported
// (writeFault) meanwhile. What a command decides (unregister, lift) is
// written before it returns, and rolled back if that fails, so a failed
// command changes nothing; reset, which gossip decides for this node, is
// kept in memory when it cannot be written, and written like gossip's
// changes. File writes are serialized by saveMu, taken before mu.
type registry struct {
	store  stateStore
	now    func() time.Time
	limits TombstoneLimits
	dirty  chan struct{} // a change awaits persist
	delay  time.Duration // persistDelay unless the profile says

	saveMu sync.Mutex // held while writing the file

	mu         sync.Mutex
	st         state              // persisted part: cluster, name, node id
	members    map[string]*Member // by name
	tombstones map[string]Tombstone
	exiles     map[string]Tombstone // local only, never handed to others
	version    uint64               // counts changes
	saved      uint64               // the version on disk
	// writeErr is the last failure to write the data directory, nil once
	// a write succeeds; written is when the last write succeeded.
	writeErr error
	written  time.Time
}

// stateStore is where the registry keeps its state: files (store), or a
// test's store that fails on demand.
type stateStore interface {
	save(state) error
	// probe checks that the directory takes a write, as save would.
	probe() error
}

// TombstoneLimits bound the tombstones (and exiles) a node keeps, so that
// no sequence of unregistrations grows its state without limit. The oldest
// go first. Expiry by age is safe: a node rejoins only through an
// introduction, and one away for half the TTL or more is admitted only by
// a peer that still has it registered (Cluster.Admit), so a node
// unregistered while it was away stays out after its tombstone expired.
// Only nodes that were registered get a tombstone, so Max is reached only
// by that many real unregistrations; a tombstone dropped for the count
// before half the TTL no longer keeps its node out.
type TombstoneLimits struct {
	// TTL is how long a tombstone is kept after the unregistration.
	TTL time.Duration
	// Max is the most tombstones kept.
	Max int
}

// DefaultTombstoneLimits are the limits when none are configured: a
// month, and 10,000 tombstones (about 1 MB of state).
var DefaultTombstoneLimits = TombstoneLimits{TTL: 30 * 24 * time.Hour, Max: 10000}

func tombKey(name, id string) string { return name + "\x00" + id }

func newRegistry(s stateStore, st state, now func() time.Time) *registry {
	r := &registry{store: s, st: st, now: now, limits: DefaultTombstoneLimits, dirty: make(chan struct{}, 1), delay: persistDelay,
		members: map[string]*Member{}, tombstones: map[string]Tombstone{}, exiles: map[string]Tombstone{}}
	for i := range st.Members {
		m := st.Members[i]
		r.members[m.Name] = &m
	}
	for _, t := range st.Unregistered {
		r.tombstones[tombKey(t.Name, t.ID)] = t
	}
	for _, t := range st.Exiled {
		r.exiles[tombKey(t.Name, t.ID)] = t
	}
	r.st.Members, r.st.Unregistered, r.st.Exiled = nil, nil, nil
	return r
}

// lastSeenRefresh is how often the time this node last had a live peer
// (state.LastSeen) is written while it has one: an hour, or a tenth of
// the tombstone TTL when that is shorter.
func (r *registry) lastSeenRefresh() time.Duration {
	return min(time.Hour, r.limits.TTL/10)
}

// seen records that this node has a live registered peer at now; the
// time is written when it is lastSeenRefresh newer than the one on disk.
func (r *registry) seen(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.st.LastSeen) >= r.lastSeenRefresh() {
		r.st.LastSeen = now
		r.changedLocked()
	}
}

// changedLocked records a change for persist to write.
func (r *registry) changedLocked() {
	r.version++
	r.wake()
}

// wake tells persist there is something to write.
func (r *registry) wake() {
	select {
	case r.dirty <- struct{}{}:
	default: // persist will see this change with the one pending
	}
}

// wroteLocked records the outcome of a write (or probe) of the data
// directory.
func (r *registry) wroteLocked(err error) {
	r.writeErr = err
	if err == nil {
		r.written = r.now()
	}
}

// writeFault is the last failure to write the data directory, or nil
// when the last write succeeded.
func (r *registry) writeFault() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writeErr
}

// saveLocked writes the whole registry now, with the change the caller
// made; the caller holds saveMu and mu. On failure the change stays to
// be written (the caller may roll it back).
func (r *registry) saveLocked() error {
	r.version++
	err := r.store.save(r.snapshotLocked())
	r.wroteLocked(err)
	if err != nil {
		r.wake()
		return err
	}
	r.saved = r.version
	return nil
}

// flush writes the registry if it changed since the last write.
func (r *registry) flush() error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	if r.version == r.saved {
		r.mu.Unlock()
		return nil
	}
	v, st := r.version, r.snapshotLocked()
	r.mu.Unlock()
	err := r.store.save(st)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wroteLocked(err)
	if err != nil {
		return err
	}
	r.saved = max(r.saved, v)
	return nil
}

// checkWritable writes what is pending, or probes the directory when
// nothing is: a command that must not start unless this node can record
// its outcome asks first.
func (r *registry) checkWritable() error {
	if err := r.flush(); err != nil {
		return err
	}
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	err := r.store.probe()
	r.mu.Lock()
	r.wroteLocked(err)
	r.mu.Unlock()
	return err
}

// persistDelay is how long a change gossip brings waits before it is
// written, with every change that follows it in that time: at most one
// write a second, and never in the middle of the burst that caused it. In
// a wave of joins or a flurry of failures a large cluster changes many
// times a second: rewriting the whole state file each time would cost
// every node CPU in proportion, and a write and fsync at the first change
// of a burst would land inside the join that caused it, while the last
// members have still to answer. It is also the wait before a failed write
// is tried again. Gossip teaches a restarted node what the last second
// lost. A profile may set another (Profile.PersistDelay).
const persistDelay = time.Second

// probeInterval is how long the data directory may go without a write
// before persist probes it, so that health notices a directory that
// became read-only or full while nothing changed, and notices that it
// recovered.
const probeInterval = 5 * time.Second

// persist writes the changes gossip brings until stop closes, then writes
// what is left. A failed write is reported and tried again until it
// succeeds; report(nil) says a write succeeded after failures.
func (r *registry) persist(stop <-chan struct{}, report func(error)) {
	failing := false
	outcome := func(err error) {
		if err != nil || failing {
			report(err)
		}
		failing = err != nil
	}
	write := func() {
		err := r.flush()
		outcome(err)
		if err != nil {
			r.wake()
		}
	}
	probe := time.NewTicker(probeInterval)
	defer probe.Stop()
	for {
		select {
		case <-stop:
			write()
			return
		case <-probe.C:
			r.mu.Lock()
			idle := r.version == r.saved && r.now().Sub(r.written) >= probeInterval
			r.mu.Unlock()
			if idle {
				outcome(r.checkWritable())
			}
			continue
		case <-r.dirty:
		}
		select {
		case <-stop:
			write()
			return
		case <-time.After(r.delay):
		}
		write()
	}
}

// snapshotLocked is the state to write.
func (r *registry) snapshotLocked() state {
	st := r.st
	st.Members = r.listLocked()
	st.Unregistered = make([]Tombstone, 0, len(r.tombstones))
	for _, t := range r.tombstones {
		st.Unregistered = append(st.Unregistered, t)
	}
	sort.Slice(st.Unregistered, func(i, j int) bool { return st.Unregistered[i].At.Before(st.Unregistered[j].At) })
	for _, t := range r.exiles {
		st.Exiled = append(st.Exiled, t)
	}
	sort.Slice(st.Exiled, func(i, j int) bool { return st.Exiled[i].Name < st.Exiled[j].Name })
	return st
}

func (r *registry) listLocked() []Member {
	out := r.unsortedLocked()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *registry) unsortedLocked() []Member {
	out := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, *m)
	}
	return out
}

// unsorted lists the members in no particular order, for loops that look
// at each and need no sorting.
func (r *registry) unsorted() []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unsortedLocked()
}

// absent lists the registered members other than self that present does
// not hold, in one pass under the lock, copying only those: the members
// a rejoin may be due for, which are few but in an outage.
func (r *registry) absent(self string, present map[string]bool) []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Member
	for name, m := range r.members {
		if name != self && !present[name] {
			out = append(out, *m)
		}
	}
	return out
}

// suspicions compares memberlist's nodes with the registry in one pass
// under the lock, copying no member: the registered members memberlist
// holds suspect while the registry has them alive, those it holds alive
// while the registry has them suspect, and whether any registered member
// other than self is alive.
func (r *registry) suspicions(self string, nodes []*memberlist.Node) (suspect, alive []string, connected bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range nodes {
		m, known := r.members[n.Name]
		if !known || n.Name == self {
			continue
		}
		connected = connected || n.State == memberlist.StateAlive
		switch {
		case n.State == memberlist.StateSuspect && m.Status == StatusAlive:
			suspect = append(suspect, n.Name)
		case n.State == memberlist.StateAlive && m.Status == StatusSuspect:
			alive = append(alive, n.Name)
		}
	}
	return suspect, alive, connected
}

func (r *registry) list() []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked()
}

func (r *registry) get(name string) (Member, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[name]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

func (r *registry) nodeID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.NodeID
}

// tombstone returns the tombstone of that node, if it was unregistered.
func (r *registry) tombstone(name, id string) (Tombstone, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tombstones[tombKey(name, id)]
	return t, ok
}

// refused tells whether gossip about that node must be refused: it was
// unregistered, or this node was unregistered from its cluster.
func (r *registry) refused(name, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := tombKey(name, id)
	_, dead := r.tombstones[key]
	_, exiled := r.exiles[key]
	return dead || exiled
}

func (r *registry) exiled(name, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.exiles[tombKey(name, id)]
	return ok
}

// exiledAlone reports whether this node was unregistered and has joined
// no cluster since: it knows exiles and no member but itself.
func (r *registry) exiledAlone() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.exiles) > 0 && len(r.members) <= 1
}

// lift forgets the exile of these members: an explicit register-node
// brings this node back into their cluster.
func (r *registry) lift(members []Member) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	lifted := map[string]Tombstone{}
	for _, m := range members {
		key := tombKey(m.Name, m.Info.ID)
		if t, ok := r.exiles[key]; ok {
			lifted[key] = t
			delete(r.exiles, key)
		}
	}
	if len(lifted) == 0 {
		return nil
	}
	if err := r.saveLocked(); err != nil {
		maps.Copy(r.exiles, lifted)
		return err
	}
	return nil
}

func (r *registry) tombstoneList() []Tombstone {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Tombstone, 0, len(r.tombstones))
	for _, t := range r.tombstones {
		out = append(out, t)
	}
	return out
}

func (r *registry) counts() map[Status]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := map[Status]int{}
	for _, m := range r.members {
		c[m.Status]++
	}
	return c
}

// observe records what gossip says about a member: its info, address and
// status. It returns the event to report, if anything changed.
func (r *registry) observe(name string, info NodeInfo, addr string, status Status) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dead := r.tombstones[tombKey(name, info.ID)]; dead {
		return Event{}, false
	}
	m, known := r.members[name]
	if !known && status != StatusAlive && status != StatusSuspect && r.tombstonedLocked(name) {
		// A node unregistered under this name runs standalone under a new
		// id; gossip about it leaving may reach nodes that never knew it.
		// A node registered again under the name is recorded when alive.
		return Event{}, false
	}
	if !known {
		m = &Member{Name: name}
	}
	prev := *m
	m.Info, m.Addr = info, addr
	var typ EventType
	switch {
	case !known || prev.Status != status:
		m.Status, m.Since = status, r.now()
		typ = transition(prev.Status, status, known)
	case prev.Info != info || prev.Addr != addr:
		typ = EventUpdate
	default:
		return Event{}, false
	}
	r.members[name] = m
	r.changedLocked()
	return Event{Type: typ, Member: *m}, true
}

// tombstonedLocked reports whether any node of this name was unregistered.
func (r *registry) tombstonedLocked(name string) bool {
	for _, t := range r.tombstones {
		if t.Name == name {
			return true
		}
	}
	return false
}

// setStatus changes only the status of a known member.
func (r *registry) setStatus(name string, status Status) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[name]
	if !ok || m.Status == status {
		return Event{}, false
	}
	prev := *m
	m.Status, m.Since = status, r.now()
	r.changedLocked()
	return Event{Type: transition(prev.Status, status, true), Member: *m}, true
}

func transition(from, to Status, known bool) EventType {
	switch to {
	case StatusAlive:
		if known && from == StatusSuspect {
			return EventUpdate
		}
		return EventJoin
	case StatusSuspect:
		return EventSuspect
	case StatusFailed:
		return EventFail
	default:
		return EventLeave
	}
}

// unregister removes a member for good and records its tombstone, on a
// command of this node: it is written before unregister returns, and a
// failed write changes nothing. A member already removed (by another
// node's command) is no change; one never registered is ErrNoSuchMember.
func (r *registry) unregister(t Tombstone) (Event, bool, error) {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	key := tombKey(t.Name, t.ID)
	_, had := r.tombstones[key]
	m, ok := r.members[t.Name]
	removing := ok && m.Info.ID == t.ID
	if !removing {
		if had {
			return Event{}, false, nil
		}
		return Event{}, false, fmt.Errorf("gossip: %s (id %s): %w", t.Name, t.ID, ErrNoSuchMember)
	}
	r.tombstones[key] = t
	ev := Event{Type: EventRemove, Member: *m}
	delete(r.members, t.Name)
	if err := r.saveLocked(); err != nil {
		delete(r.tombstones, key)
		r.members[t.Name] = &ev.Member
		return Event{}, false, err
	}
	r.pruneLocked()
	return ev, true, nil
}

// remove applies an unregistration another node announced: the member
// goes and its tombstone is recorded, in memory at once and on disk with
// the next write. Only a registered member (same name and id) is removed
// and tombstoned: an announcement about any other node changes nothing,
// so that announcements cannot fill the state with names.
func (r *registry) remove(t Tombstone) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[t.Name]
	if !ok || m.Info.ID != t.ID || t.Name == r.st.Name {
		return Event{}, false
	}
	r.tombstones[tombKey(t.Name, t.ID)] = r.clampLocked(t)
	ev := Event{Type: EventRemove, Member: *m}
	delete(r.members, t.Name)
	r.pruneLocked()
	r.changedLocked()
	return ev, true
}

// clampLocked keeps a tombstone's time from lying in the future (another
// node's clock, or a forged time), which would keep it past its TTL.
func (r *registry) clampLocked(t Tombstone) Tombstone {
	if now := r.now(); t.At.After(now) {
		t.At = now
	}
	return t
}

// prune drops the tombstones and exiles beyond the limits, and says
// whether it dropped any; the change is written with the next write.
func (r *registry) prune() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pruneLocked() {
		r.changedLocked()
		return true
	}
	return false
}

// pruneLocked drops tombstones and exiles older than the TTL, then the
// oldest beyond the maximum count.
func (r *registry) pruneLocked() bool {
	now := r.now()
	a := pruneSet(r.tombstones, r.limits, now)
	b := pruneSet(r.exiles, r.limits, now)
	return a || b
}

func pruneSet(set map[string]Tombstone, l TombstoneLimits, now time.Time) bool {
	dropped := false
	if l.TTL > 0 {
		for k, t := range set {
			if now.Sub(t.At) > l.TTL {
				delete(set, k)
				dropped = true
			}
		}
	}
	if l.Max <= 0 || len(set) <= l.Max {
		return dropped
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return set[keys[i]].At.Before(set[keys[j]].At) })
	for _, k := range keys[:len(keys)-l.Max] {
		delete(set, k)
	}
	return true
}

// merge adds what another node's registry knows and this one does not:
// members never seen here and tombstones. Gossip corrects statuses later;
// members this node already tracks keep their own view. Entries with an
// invalid name are skipped.
func (r *registry) merge(members []Member, tombs []Tombstone) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var events []Event
	changed := false
	for _, t := range tombs {
		key := tombKey(t.Name, t.ID)
		if _, ok := r.tombstones[key]; ok || ValidNodeName(t.Name) != nil {
			continue
		}
		r.tombstones[key] = r.clampLocked(t)
		changed = true
		// The member itself, or a later incarnation that has left: a node
		// unregistered while live runs standalone under a new id, and
		// gossip of it leaving may come before its tombstone.
		if m, ok := r.members[t.Name]; ok && t.Name != r.st.Name && (m.Info.ID == t.ID || m.Status == StatusLeft) {
			events = append(events, Event{Type: EventRemove, Member: *m})
			delete(r.members, t.Name)
		}
	}
	for _, in := range members {
		if _, ok := r.members[in.Name]; ok || ValidNodeName(in.Name) != nil {
			continue
		}
		if _, dead := r.tombstones[tombKey(in.Name, in.Info.ID)]; dead {
			continue
		}
		m := in
		r.members[m.Name] = &m
		changed = true
		events = append(events, Event{Type: transition("", m.Status, false), Member: m})
	}
	if r.pruneLocked() {
		changed = true
	}
	if !changed {
		return nil
	}
	r.changedLocked()
	return events
}

// reset forgets the cluster: only this node remains, under a new id, and
// the former peers are exiled so their gossip (they may keep sending to
// this address for a while) does not pull it back in. The change holds in
// memory whether or not it could be written: a failed write is tried
// again until it succeeds, and the error is returned to be reported.
func (r *registry) reset(self Member) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, m := range r.members {
		if m.Name != self.Name {
			r.exiles[tombKey(m.Name, m.Info.ID)] = Tombstone{Name: m.Name, ID: m.Info.ID, At: now}
		}
	}
	r.st.NodeID = self.Info.ID
	r.members = map[string]*Member{self.Name: &self}
	r.tombstones = map[string]Tombstone{}
	r.pruneLocked()
	return r.saveLocked()
}
