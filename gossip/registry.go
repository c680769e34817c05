package gossip

import (
	"sort"
	"sync"
	"time"
)

// registry holds every registered member and the tombstones of unregistered
// ones.
//
// What gossip teaches it (observe, setStatus, merge) is in memory and
// reported at once, and written to disk by persist a second later: a burst
// of changes (a join into a large cluster brings one per member) is one
// write, and no change waits for a disk. A crash loses at most that
// second, which gossip teaches again. What a command decides
// (unregister, reset, lift) is written before it returns, and rolled back
// if that fails. File writes are serialized by saveMu, taken before mu.
type registry struct {
	store store
	now   func() time.Time
	dirty chan struct{} // a change awaits persist

	saveMu sync.Mutex // held while writing the file

	mu         sync.Mutex
	st         state              // persisted part: cluster, name, node id
	members    map[string]*Member // by name
	tombstones map[string]Tombstone
	exiles     map[string]Tombstone // local only, never handed to others
	version    uint64               // counts changes
	saved      uint64               // the version on disk
}

func tombKey(name, id string) string { return name + "\x00" + id }

func newRegistry(s store, st state, now func() time.Time) *registry {
	r := &registry{store: s, st: st, now: now, dirty: make(chan struct{}, 1),
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

// saveLocked writes the whole registry now, with the change the caller
// made; the caller holds saveMu and mu.
func (r *registry) saveLocked() error {
	r.version++
	if err := r.store.save(r.snapshotLocked()); err != nil {
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
	if err := r.store.save(st); err != nil {
		return err
	}
	r.mu.Lock()
	r.saved = max(r.saved, v)
	r.mu.Unlock()
	return nil
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
// lost.
const persistDelay = time.Second

// persist writes the changes gossip brings until stop closes, then writes
// what is left. A failed write is reported and tried again.
func (r *registry) persist(stop <-chan struct{}, report func(error)) {
	write := func() {
		if err := r.flush(); err != nil {
			report(err)
			r.wake()
		}
	}
	for {
		select {
		case <-stop:
			write()
			return
		case <-r.dirty:
		}
		select {
		case <-stop:
			write()
			return
		case <-time.After(persistDelay):
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

func (r *registry) tombstoned(name, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.tombstones[tombKey(name, id)]
	return ok
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

// lift forgets the exile of these members: an explicit register-node
// brings this node back into their cluster.
func (r *registry) lift(members []Member) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, m := range members {
		key := tombKey(m.Name, m.Info.ID)
		if _, ok := r.exiles[key]; ok {
			delete(r.exiles, key)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return r.saveLocked()
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

// unregister removes a member for good and records its tombstone.
func (r *registry) unregister(t Tombstone) (Event, bool, error) {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	key := tombKey(t.Name, t.ID)
	_, had := r.tombstones[key]
	m, ok := r.members[t.Name]
	removing := ok && m.Info.ID == t.ID
	if had && !removing {
		return Event{}, false, nil
	}
	r.tombstones[key] = t
	var ev Event
	if removing {
		ev = Event{Type: EventRemove, Member: *m}
		delete(r.members, t.Name)
	}
	if err := r.saveLocked(); err != nil {
		delete(r.tombstones, key)
		if removing {
			r.members[t.Name] = &ev.Member
		}
		return Event{}, false, err
	}
	return ev, removing, nil
}

// merge adds what another node's registry knows and this one does not:
// members never seen here and tombstones. Gossip corrects statuses later;
// members this node already tracks keep their own view.
func (r *registry) merge(members []Member, tombs []Tombstone) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var events []Event
	changed := false
	for _, t := range tombs {
		key := tombKey(t.Name, t.ID)
		if _, ok := r.tombstones[key]; ok {
			continue
		}
		r.tombstones[key] = t
		changed = true
		if m, ok := r.members[t.Name]; ok && m.Info.ID == t.ID && t.Name != r.st.Name {
			events = append(events, Event{Type: EventRemove, Member: *m})
			delete(r.members, t.Name)
		}
	}
	for _, in := range members {
		if _, ok := r.members[in.Name]; ok {
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
	if !changed {
		return nil
	}
	r.changedLocked()
	return events
}

// reset forgets the cluster: only this node remains, under a new id, and
// the former peers are exiled so their gossip (they may keep sending to
// this address for a while) does not pull it back in.
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
	return r.saveLocked()
}
