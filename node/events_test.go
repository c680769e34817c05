package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/internal/testkit"
)

// streamEvents reads n's event stream in the background until the test
// ends; the returned channel ends with the stream's error.
type streamed struct {
	events chan api.StreamEvent
	done   chan error
}

func streamEvents(t *testing.T, c *api.Client) *streamed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &streamed{events: make(chan api.StreamEvent, 1024), done: make(chan error, 1)}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s.done <- c.Events(ctx, func(ev api.StreamEvent) error {
			select {
			case s.events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		testkit.Receive(t, finished, 10*time.Second, "end of the event stream")
	})
	return s
}

// waitChange waits for a change of node to status (skipping others).
func (s *streamed) waitChange(t *testing.T, within time.Duration, typ, node string) api.NodeEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-s.events:
			if ev.Name == api.SSEChange && ev.Change.Type == typ && ev.Change.Node.Name == node {
				return ev.Change
			}
		case err := <-s.done:
			t.Fatalf("stream ended while waiting for %s %s: %v", typ, node, err)
		case <-deadline:
			t.Fatalf("no %s event for %s within %s", typ, node, within)
		}
	}
}

func TestEventStreamFollowsMembership(t *testing.T) {
	t.Parallel()
	nodes := runCluster(t, 3)
	n1, n3 := nodes[0], nodes[2]
	s := streamEvents(t, client(n1))

	select {
	case ev := <-s.events:
		require.Equal(t, api.SSENodes, ev.Name, "the full list comes first")
		require.Equal(t, "n1,n2,n3", names(ev.Nodes))
		for _, n := range ev.Nodes {
			assert.Equal(t, "alive", n.Status, n.Name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no node list within 5s")
	}

	start := time.Now()
	n3.Kill()
	fail := s.waitChange(t, 20*time.Second, api.EventFail, "n3")
	t.Logf("kill seen on the stream as fail after %s", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, "failed", fail.Node.Status)
	assert.False(t, fail.Node.Connected)

	require.NoError(t, client(n1).Unregister(context.Background(), "n3"))
	removed := s.waitChange(t, 10*time.Second, api.EventRemove, "n3")
	assert.Equal(t, "n3", removed.Node.Name)
}

// A node that stops ends its streams at once: open dashboards must not
// hold the graceful stop up until shutdown-timeout.
func TestStopEndsEventStreams(t *testing.T) {
	t.Parallel()
	n := runNode(t, testConfig(t, "solo", t.TempDir()))
	s := streamEvents(t, client(n))
	select {
	case ev := <-s.events:
		require.Equal(t, api.SSENodes, ev.Name)
	case <-time.After(5 * time.Second):
		t.Fatal("no node list within 5s")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
	assert.Less(t, time.Since(start), 5*time.Second, "stop is not held up by the stream")
	select {
	case err := <-s.done:
		assert.True(t, errors.Is(err, api.ErrStreamEnded), "stream ended by the node: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after stop")
	}
}
