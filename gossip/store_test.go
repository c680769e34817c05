package gossip

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"
)

func sampleState(n int) state {
	st := state{Cluster: "c", Name: "n1", NodeID: "id1"}
	for i := 0; i < n; i++ {
		st.Members = append(st.Members, Member{Name: string(rune('a' + i)), Status: StatusAlive, Since: time.Unix(int64(i), 0).UTC()})
	}
	return st
}

func TestStoreSaveLoadAndBackup(t *testing.T) {
	s := store{dir: t.TempDir()}
	_, _, err := s.load()
	require.ErrorIs(t, err, errNoState)

	require.NoError(t, s.save(sampleState(2)))
	require.NoError(t, s.save(sampleState(3)))
	got, warn, err := s.load()
	require.NoError(t, err)
	require.Empty(t, warn)
	require.Len(t, got.Members, 3)

	// The previous version is the backup.
	bak, err := s.read(backupFile)
	require.NoError(t, err)
	require.Len(t, bak.Members, 2)
}

func TestStoreDamagedFileFallsBackOrRefuses(t *testing.T) {
	s := store{dir: t.TempDir()}
	require.NoError(t, s.save(sampleState(2)))
	require.NoError(t, s.save(sampleState(3)))
	main := filepath.Join(s.dir, stateFile)
	b, err := os.ReadFile(main)
	require.NoError(t, err)

	// A flipped byte inside the state: caught by the checksum.
	flipped := []byte(string(b))
	for i := range flipped {
		if flipped[i] == 'a' {
			flipped[i] = 'b'
			break
		}
	}
	require.NoError(t, os.WriteFile(main, flipped, 0o600))
	got, warn, err := s.load()
	require.NoError(t, err)
	require.Contains(t, warn, "using the backup")
	require.Len(t, got.Members, 2)

	// Main missing (crash between the renames): the backup, silently.
	require.NoError(t, os.Remove(main))
	got, warn, err = s.load()
	require.NoError(t, err)
	require.Empty(t, warn)
	require.Len(t, got.Members, 2)

	// Both damaged: an error naming the file, never an empty list.
	require.NoError(t, os.WriteFile(main, b[:len(b)/3], 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.dir, backupFile), []byte("{}"), 0o600))
	_, _, err = s.load()
	require.Error(t, err)
	require.Contains(t, err.Error(), main)
}

func TestRegistryTransitionsAndTombstones(t *testing.T) {
	s := store{dir: t.TempDir()}
	clock := time.Unix(1000, 0)
	r := newRegistry(s, state{Cluster: "c", Name: "self", NodeID: "s"}, func() time.Time { clock = clock.Add(time.Second); return clock })
	info := NodeInfo{ID: "x1", ClientHost: "h"}

	ev, changed := r.observe("x", info, "1.2.3.4:1", StatusAlive)
	require.True(t, changed)
	require.Equal(t, EventJoin, ev.Type)

	_, changed = r.observe("x", info, "1.2.3.4:1", StatusAlive)
	require.False(t, changed, "nothing new")

	ev, _ = r.observe("x", info, "1.2.3.4:1", StatusSuspect)
	require.Equal(t, EventSuspect, ev.Type)
	ev, _ = r.observe("x", info, "1.2.3.4:1", StatusAlive)
	require.Equal(t, EventUpdate, ev.Type, "a refuted suspicion")
	ev, _ = r.observe("x", info, "1.2.3.4:1", StatusFailed)
	require.Equal(t, EventFail, ev.Type)
	since := ev.Member.Since
	ev, _ = r.observe("x", info, "1.2.3.4:2", StatusFailed)
	require.Equal(t, EventUpdate, ev.Type)
	require.Equal(t, since, ev.Member.Since, "an address change is not a status change")

	// Unregistered: removed, and the same node id is refused afterwards.
	ev, changed, err := r.unregister(Tombstone{Name: "x", ID: "x1", At: clock})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, EventRemove, ev.Type)
	_, changed = r.observe("x", info, "1.2.3.4:1", StatusAlive)
	require.False(t, changed)
	require.True(t, r.refused("x", "x1"))
	// A new node under the name may come.
	_, changed = r.observe("x", NodeInfo{ID: "x2", ClientHost: "h"}, "1.2.3.4:1", StatusAlive)
	require.True(t, changed)

	// What gossip taught is written by the next flush (persist's work);
	// the unregistration was written before it returned.
	st, _, err := s.load()
	require.NoError(t, err)
	_, listed := newRegistry(s, st, time.Now).get("x")
	require.False(t, listed, "unregistered, and x2 not written yet")
	require.NoError(t, r.flush())

	// Everything survives a reload.
	st, _, err = s.load()
	require.NoError(t, err)
	r2 := newRegistry(s, st, time.Now)
	m, ok := r2.get("x")
	require.True(t, ok)
	require.Equal(t, "x2", m.Info.ID)
	require.True(t, r2.refused("x", "x1"))
}

func TestRegistryResetExilesFormerPeersUntilLifted(t *testing.T) {
	s := store{dir: t.TempDir()}
	r := newRegistry(s, state{Cluster: "c", Name: "self", NodeID: "s"}, time.Now)
	r.observe("peer", NodeInfo{ID: "p1", ClientHost: "h"}, "a", StatusAlive)
	require.NoError(t, r.reset(Member{Name: "self", Info: NodeInfo{ID: "s2"}, Status: StatusAlive}))
	require.Len(t, r.list(), 1)
	require.True(t, r.exiled("peer", "p1"))
	require.True(t, r.refused("peer", "p1"))
	require.NoError(t, r.lift([]Member{{Name: "peer", Info: NodeInfo{ID: "p1"}}}))
	require.False(t, r.refused("peer", "p1"))
}

func TestBroadcasterDropsSlowSubscriber(t *testing.T) {
	b := newBroadcaster()
	fast, cancelFast := b.subscribe(10)
	defer cancelFast()
	slow, cancelSlow := b.subscribe(1)
	defer cancelSlow()
	b.publish(Event{Type: EventJoin}, Event{Type: EventFail})
	receive := func(ch <-chan Event) (Event, bool) { return testkit.Receive(t, ch, 5*time.Second, "event") }
	ev, _ := receive(fast)
	require.Equal(t, EventJoin, ev.Type)
	ev, _ = receive(fast)
	require.Equal(t, EventFail, ev.Type)
	ev, _ = receive(slow)
	require.Equal(t, EventJoin, ev.Type)
	_, open := receive(slow)
	require.False(t, open, "a subscriber that fell behind is closed, not blocking")
}

func TestRegistryPersistWritesGossipChangesSoonAndAtStop(t *testing.T) {
	s := store{dir: t.TempDir()}
	r := newRegistry(s, state{Cluster: "c", Name: "self", NodeID: "s"}, time.Now)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		r.persist(stop, func(err error) { t.Error(err) })
	}()
	onDisk := func(name string) bool {
		st, _, err := s.load()
		if err != nil {
			return false
		}
		_, ok := newRegistry(s, st, time.Now).get(name)
		return ok
	}
	for i := range 50 { // a burst, as a join into a large cluster brings
		r.observe(fmt.Sprintf("m%d", i), NodeInfo{ID: fmt.Sprint(i), ClientHost: "h"}, "a", StatusAlive)
	}
	require.Eventually(t, func() bool { return onDisk("m49") }, 5*time.Second, 10*time.Millisecond)

	r.observe("last", NodeInfo{ID: "l", ClientHost: "h"}, "a", StatusAlive)
	close(stop)
	testkit.Receive(t, done, 10*time.Second, "end of persist")
	require.True(t, onDisk("last"), "written before persist returned")
}

func TestStoreWritesTheEnvelopeAsJSONMarshalWould(t *testing.T) {
	s := store{dir: t.TempDir()}
	st := state{Cluster: "c", Name: "self", NodeID: "s", Members: []Member{{Name: "self", Info: NodeInfo{ID: "s", ClientHost: "h"}, Addr: "1.2.3.4:8224", Status: StatusAlive}}}
	require.NoError(t, s.save(st))
	b, err := os.ReadFile(s.path(stateFile))
	require.NoError(t, err)
	var env envelope
	require.NoError(t, json.Unmarshal(b, &env))
	want, err := json.Marshal(env)
	require.NoError(t, err)
	require.Equal(t, string(want), string(b))
	got, _, err := s.load()
	require.NoError(t, err)
	require.Equal(t, st.Members[0].Addr, got.Members[0].Addr)
}
