package node

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/internal/testkit"
)

func startSoloNode(t *testing.T) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name = "solo"
	cfg.ClientHost, cfg.InternalHost, cfg.BindAddress = "127.0.0.1", "127.0.0.1", "127.0.0.1"
	cfg.Port, cfg.InternalPort, cfg.HTTPPort = 0, 0, 0
	cfg.ControlDBPath = t.TempDir()
	cfg.Cluster.Name = "test"
	cfg.Cluster.GossipProfile = "local"
	n, err := Start(context.Background(), cfg, Options{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	return n
}

// A reader that falls behind is dropped by gossip; the backend subscribes
// again and says resync, so the reader rereads the list and misses nothing.
func TestSubscribeResyncsAReaderThatFellBehind(t *testing.T) {
	t.Parallel()
	n := startSoloNode(t)
	events, cancel := backend{n: n}.Subscribe(context.Background())
	defer cancel()

	// More changes than the buffer holds, while nobody reads.
	for i := 1; i <= eventBuffer+50; i++ {
		require.NoError(t, n.cluster.SetClients(i))
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the channel stays open")
			if ev.Type == api.EventResync {
				return
			}
			assert.Equal(t, api.EventUpdate, ev.Type)
		case <-deadline:
			t.Fatal("no resync after falling behind")
		}
	}
}

func TestSubscribeEndsWithCancelAndStop(t *testing.T) {
	t.Parallel()
	n := startSoloNode(t)
	events, cancel := backend{n: n}.Subscribe(context.Background())
	cancel()
	_, ok := testkit.Receive(t, events, 5*time.Second, "close by cancel")
	assert.False(t, ok, "closed by cancel")
	cancel() // twice is fine

	ctx, stopCtx := context.WithCancel(context.Background())
	events, cancel = backend{n: n}.Subscribe(ctx)
	defer cancel()
	stopCtx()
	_, ok = testkit.Receive(t, events, 5*time.Second, "close when the context ends")
	assert.False(t, ok, "closed when the context ends")

	events, cancel = backend{n: n}.Subscribe(context.Background())
	defer cancel()
	sctx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	require.NoError(t, n.Stop(sctx))
	_, ok = testkit.Receive(t, events, 5*time.Second, "close when the node stops")
	assert.False(t, ok, "closed when the node stops")
}

// The API's event types are gossip's, passed through as they are.
func TestEventTypesMatchGossip(t *testing.T) {
	t.Parallel()
	for g, a := range map[gossip.EventType]string{
		gossip.EventJoin: api.EventJoin, gossip.EventUpdate: api.EventUpdate, gossip.EventSuspect: api.EventSuspect,
		gossip.EventFail: api.EventFail, gossip.EventLeave: api.EventLeave, gossip.EventRemove: api.EventRemove,
	} {
		assert.Equal(t, a, toAPIEvent(gossip.Event{Type: g}).Type)
	}
}
