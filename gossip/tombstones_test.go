package gossip

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"
)

// fakeClock is a registry's clock that tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// faultyStore is a store whose writes fail while fail is set; it counts
// the writes that reached the files.
type faultyStore struct {
	store
	mu     sync.Mutex
	fail   error
	writes int
}

func (f *faultyStore) setFail(err error) { f.mu.Lock(); defer f.mu.Unlock(); f.fail = err }

func (f *faultyStore) save(st state) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.writes++
	return f.store.save(st)
}

func (f *faultyStore) probe() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	return f.store.probe()
}

func (f *faultyStore) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.writes }

func TestValidNodeName(t *testing.T) {
	for _, ok := range []string{"n1", "a", "node-1.eu_west", "N0", "a123456789012345678901234567890123456789012345678901234567890bc"} {
		require.NoError(t, ValidNodeName(ok), ok)
	}
	for name, why := range map[string]string{
		"":      "empty",
		".":     `starts with '.'`,
		"..":    `starts with '.'`,
		"-n":    `starts with '-'`,
		"_n":    `starts with '_'`,
		"a/b":   `contains '/'`,
		"a b":   `contains ' '`,
		"a%2e":  `contains '%'`,
		"nöde":  `contains 'ö'`,
		"a\x00": `contains '\x00'`,
		"a123456789012345678901234567890123456789012345678901234567890bcd": "longer than 63 characters",
	} {
		err := ValidNodeName(name)
		require.Error(t, err, "%q", name)
		require.Contains(t, err.Error(), why, "%q", name)
		require.Contains(t, err.Error(), "allowed: 1 to 63 letters", "%q", name)
	}
}

// TestTombstonesAreBoundedByAgeAndCount: however many unregistrations a
// node hears of, it keeps at most Max tombstones, the newest, and none
// older than the TTL; exiles likewise.
func TestTombstonesAreBoundedByAgeAndCount(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := store{dir: t.TempDir()}
	r := newRegistry(s, state{Cluster: "c", Name: "self", NodeID: "s"}, clock.now)
	r.limits = TombstoneLimits{TTL: time.Hour, Max: 5}

	var tombs []Tombstone
	for i := range 50 {
		tombs = append(tombs, Tombstone{Name: fmt.Sprintf("gone%02d", i), ID: fmt.Sprint(i), At: clock.now().Add(time.Duration(i-50) * time.Second)})
	}
	r.merge(nil, tombs)
	got := r.tombstoneList()
	require.Len(t, got, 5, "at most Max")
	for _, tb := range got {
		require.GreaterOrEqual(t, tb.Name, "gone45", "the newest are kept")
	}

	// One from the future (a skewed clock, a forged time) counts from now.
	r.merge(nil, []Tombstone{{Name: "future", ID: "f", At: clock.now().Add(1000 * time.Hour)}})
	require.True(t, r.refused("future", "f"))

	clock.add(59 * time.Minute)
	require.False(t, r.prune(), "nothing older than an hour yet")
	clock.add(2 * time.Minute)
	require.True(t, r.prune())
	require.Empty(t, r.tombstoneList(), "all older than the TTL")

	// Exiles are bounded the same way.
	for i := range 20 {
		r.observe(fmt.Sprintf("peer%02d", i), NodeInfo{ID: fmt.Sprint(i), ClientHost: "h"}, "a", StatusAlive)
	}
	require.NoError(t, r.reset(Member{Name: "self", Info: NodeInfo{ID: "s2"}, Status: StatusAlive}))
	require.Len(t, r.snapshotLocked().Exiled, 5)

	// What is on disk is bounded too, and a reload keeps the bound.
	require.NoError(t, r.flush())
	st, _, err := s.load()
	require.NoError(t, err)
	require.LessOrEqual(t, len(st.Unregistered)+len(st.Exiled), 10)
}

// TestAnnouncedUnregistrationOfAnUnknownNodeChangesNothing: an
// unregistration announced by gossip is recorded only for a registered
// member with that id; names never registered leave no tombstone and
// cause no write.
func TestAnnouncedUnregistrationOfAnUnknownNodeChangesNothing(t *testing.T) {
	f := &faultyStore{store: store{dir: t.TempDir()}}
	r := newRegistry(f, state{Cluster: "c", Name: "self", NodeID: "s"}, time.Now)
	r.observe("x", NodeInfo{ID: "x1", ClientHost: "h"}, "a", StatusAlive)
	require.NoError(t, r.flush())
	before := f.count()

	for i := range 1000 {
		_, changed := r.remove(Tombstone{Name: fmt.Sprintf("ghost%d", i), ID: "g", At: time.Now()})
		require.False(t, changed)
	}
	_, changed := r.remove(Tombstone{Name: "x", ID: "another", At: time.Now()})
	require.False(t, changed, "x with another id is not the member")
	_, changed = r.remove(Tombstone{Name: "self", ID: "s", At: time.Now()})
	require.False(t, changed, "this node is not removed from its own list")
	require.NoError(t, r.flush())
	require.Equal(t, before, f.count(), "nothing to write")
	require.Empty(t, r.tombstoneList())

	ev, changed := r.remove(Tombstone{Name: "x", ID: "x1", At: time.Now()})
	require.True(t, changed)
	require.Equal(t, EventRemove, ev.Type)
	require.Len(t, r.tombstoneList(), 1)
}

// TestFailedWritesAreKeptAndRetried: a change gossip brings while the
// data directory takes no writes (an unregistration announced by another
// node) holds in memory, is reported, and is written once the directory
// works again; a command's change (unregister) that cannot be written is
// refused and changes nothing; a reset is kept in memory and written
// later.
func TestFailedWritesAreKeptAndRetried(t *testing.T) {
	f := &faultyStore{store: store{dir: t.TempDir()}}
	r := newRegistry(f, state{Cluster: "c", Name: "self", NodeID: "s"}, time.Now)
	for _, n := range []string{"x", "y", "z"} {
		r.observe(n, NodeInfo{ID: n + "1", ClientHost: "h"}, "a", StatusAlive)
	}
	require.NoError(t, r.flush())
	full := errors.New("no space left on device")
	f.setFail(full)

	reports := make(chan error, 100)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		r.persist(stop, func(err error) { reports <- err })
	}()
	defer func() { close(stop); testkit.Receive(t, done, 10*time.Second, "end of persist") }()

	// Announced by another node: removed in memory at once.
	_, changed := r.remove(Tombstone{Name: "x", ID: "x1", At: time.Now()})
	require.True(t, changed)
	_, listed := r.get("x")
	require.False(t, listed)
	report, _ := testkit.Receive(t, reports, 5*time.Second, "report of the failed write")
	require.ErrorIs(t, report, full, "the failed write is reported")
	require.ErrorIs(t, r.writeFault(), full)

	// A command: refused, nothing changed.
	_, _, err := r.unregister(Tombstone{Name: "y", ID: "y1", At: time.Now()})
	require.ErrorIs(t, err, full)
	_, listed = r.get("y")
	require.True(t, listed, "a command that cannot be written changes nothing")
	_, _, err = r.unregister(Tombstone{Name: "nobody", ID: "n", At: time.Now()})
	require.ErrorIs(t, err, ErrNoSuchMember)

	f.setFail(nil)
	require.Eventually(t, func() bool { return r.writeFault() == nil }, 5*time.Second, 10*time.Millisecond, "written once the directory works")
	st, _, err := f.load()
	require.NoError(t, err)
	for _, m := range st.Members {
		require.NotEqual(t, "x", m.Name, "the unregistration reached the disk")
	}
	require.Len(t, st.Unregistered, 1)

	// A reset that cannot be written holds in memory and is written later.
	f.setFail(full)
	require.ErrorIs(t, r.reset(Member{Name: "self", Info: NodeInfo{ID: "s2"}, Status: StatusAlive}), full)
	require.Len(t, r.list(), 1)
	require.Equal(t, "s2", r.nodeID())
	f.setFail(nil)
	require.Eventually(t, func() bool {
		st, _, err := f.load()
		return err == nil && st.NodeID == "s2" && len(st.Members) == 1
	}, 5*time.Second, 10*time.Millisecond)
}

// TestProbeNoticesAnUnwritableDirectoryWhileNothingChanges: health must
// not wait for the next change to learn that the directory went bad, nor
// that it recovered.
func TestProbeNoticesAnUnwritableDirectoryWhileNothingChanges(t *testing.T) {
	f := &faultyStore{store: store{dir: t.TempDir()}}
	r := newRegistry(f, state{Cluster: "c", Name: "self", NodeID: "s"}, time.Now)
	require.NoError(t, r.checkWritable())
	f.setFail(errors.New("read-only file system"))
	require.Error(t, r.checkWritable())
	require.Error(t, r.writeFault())
	f.setFail(nil)
	require.NoError(t, r.checkWritable())
	require.NoError(t, r.writeFault())
}

func TestDropAliveLinesKeepsSerfsClocks(t *testing.T) {
	in := "alive: n2 127.0.0.1:7946\nclock: 12\nevent-clock: 3\nalive: n3 127.0.0.1:7947\nnot-alive: n3\nquery-clock: 4\n"
	out, dropped := dropAliveLines([]byte(in))
	require.True(t, dropped)
	require.Equal(t, "clock: 12\nevent-clock: 3\nnot-alive: n3\nquery-clock: 4\n", string(out))
	_, dropped = dropAliveLines(out)
	require.False(t, dropped)
}
