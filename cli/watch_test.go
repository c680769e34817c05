package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

// lockedBuffer is an output written by a running command and read by the
// test at the same time.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// background runs roster with args until the test cancels it.
type background struct {
	out, errOut *lockedBuffer
	cancel      context.CancelFunc
	code        chan int
}

func startBackground(t *testing.T, opts []Option, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{out: &lockedBuffer{}, errOut: &lockedBuffer{}, cancel: cancel, code: make(chan int, 1)}
	root := NewRootCommand(b.out, b.errOut, append([]Option{WithWorkDir(t.TempDir())}, opts...)...)
	go func() { b.code <- Run(ctx, root, args, b.errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.code:
		case <-time.After(10 * time.Second):
			t.Error("command did not end after cancel")
		}
	})
	return b
}

// stop cancels the command (Ctrl-C) and returns its exit code.
func (b *background) stop(t *testing.T) int {
	t.Helper()
	b.cancel()
	select {
	case code := <-b.code:
		b.code <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("command did not end after cancel")
		return -1
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, what)
}

func failed(name string) api.NodeEvent {
	return api.NodeEvent{Type: api.EventFail, Node: api.Node{Name: name, HostName: name + ".example.com", GrpcPort: 8124,
		HTTPPort: 8024, InternalHostName: name + ".internal", GrpcInternalPort: 8224, Status: "failed"}}
}

func TestClusterWatchPrintsATablePerChange(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)
	b := startBackground(t, nil, "cluster", "--watch", "-S", srv.URL)

	eventually(t, "first table", func() bool { return strings.Count(b.out.String(), "Name ") == 1 && f.Subscribers() == 1 })
	first := b.out.String()
	assert.Contains(t, first, "nodes of "+srv.URL)
	assert.Regexp(t, `node-c\s+node-c\.example\.com.*suspect`, first)

	f.Change(failed("node-c"))
	eventually(t, "second table", func() bool { return strings.Count(b.out.String(), "Name ") == 2 })
	second := strings.TrimPrefix(b.out.String(), first)
	assert.Contains(t, second, "node-c failed")
	assert.Regexp(t, `node-c\s+node-c\.example\.com.*failed`, second)
	assert.NotContains(t, second, "\x1b[", "no escape codes when not on a terminal")

	// A change the table does not show prints nothing; the next one does.
	n := failed("node-c").Node
	n.Clients = 7
	f.Change(api.NodeEvent{Type: api.EventUpdate, Node: n})
	f.Change(api.NodeEvent{Type: api.EventRemove, Node: n})
	eventually(t, "third table", func() bool { return strings.Count(b.out.String(), "Name ") == 3 })
	third := b.out.String()[len(first)+len(second):]
	assert.Contains(t, third, "node-c was unregistered")
	assert.NotContains(t, third, "node-c.example.com")

	// The node stops: say so, reconnect, carry on.
	f.EndSubscriptions()
	eventually(t, "reconnected", func() bool {
		return strings.Contains(b.errOut.String(), "lost the event stream of "+srv.URL) && f.Subscribers() == 1
	})
	back := failed("node-b")
	back.Type, back.Node.Status = api.EventJoin, "alive"
	f.Change(back)
	eventually(t, "table after reconnecting", func() bool { return strings.Contains(b.out.String(), "node-b is alive") })

	assert.Equal(t, ExitOK, b.stop(t), "Ctrl-C ends a watch normally: %s", b.errOut.String())
}

func TestClusterWatchJSONLines(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)
	b := startBackground(t, nil, "cluster", "-w", "-o", "json", "-S", srv.URL)
	eventually(t, "first line", func() bool { return strings.Count(b.out.String(), "\n") == 1 && f.Subscribers() == 1 })
	f.Change(failed("node-c"))
	eventually(t, "second line", func() bool { return strings.Count(b.out.String(), "\n") == 2 })
	assert.Equal(t, ExitOK, b.stop(t))

	lines := strings.Split(strings.TrimSpace(b.out.String()), "\n")
	var before, after []api.Node
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &before))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &after))
	require.Len(t, after, 3)
	assert.Equal(t, "a-node-with-a-long-name", after[0].Name, "sorted by name")
	assert.Equal(t, "suspect", before[2].Status)
	assert.Equal(t, "failed", after[2].Status)
}

func TestClusterWatchRedrawsOnATerminal(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)
	b := startBackground(t, []Option{withTerminal(true)}, "cluster", "--watch", "-S", srv.URL)
	eventually(t, "first screen", func() bool { return strings.Count(b.out.String(), clearScreen) == 1 && f.Subscribers() == 1 })
	f.Change(failed("node-c"))
	eventually(t, "redrawn", func() bool { return strings.Count(b.out.String(), clearScreen) == 2 })
	screens := strings.Split(b.out.String(), clearScreen)
	last := screens[len(screens)-1]
	assert.True(t, strings.HasPrefix(last, srv.URL+"  "), last)
	assert.Contains(t, last, "(Ctrl-C to stop)")
	assert.Contains(t, last, "node-c failed")
	assert.Equal(t, 1, strings.Count(last, "Name "), "one table a screen")
	assert.Equal(t, ExitOK, b.stop(t))
}

func TestClusterWatchStopsOnFirstFailure(t *testing.T) {
	r := run(t, "", "cluster", "--watch", "-S", "http://127.0.0.1:1")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: cluster: cannot reach http://127.0.0.1:1: connection refused\n", r.stderr)

	srv := startAPI(t, newFakeBackend(), (&tokenCheck{}).check)
	r = run(t, "", "cluster", "--watch", "-S", srv.URL)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: cluster: AXONIQ-1000: access token missing\n", r.stderr)
}
