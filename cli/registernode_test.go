package cli

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

// joinedNode is the --server node of register-node ("new") in a cluster
// with one other node ("peer"); what peer answers to new's check is up to
// the test.
type joinedNode struct {
	backend *fakeBackend
	srv     *httptest.Server
	state   atomic.Value // api.ListedNode of peer
}

func newJoinedNode(t *testing.T) *joinedNode {
	t.Helper()
	j := &joinedNode{backend: newFakeBackend()}
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	newNode := api.Node{Name: "new", HostName: "127.0.0.1", Status: "alive", Connected: true, Since: since}
	peer := api.Node{Name: "peer", HostName: "peer.example.test", InternalHostName: "peer.internal", Status: "alive", Connected: true, Since: since}
	j.backend.List = []api.Node{newNode, peer}
	j.backend.Self = api.Me{Node: newNode}
	j.set(api.ListedPending, "does not list it yet")
	j.backend.listed = func(time.Duration) api.Listing {
		n := j.state.Load().(api.ListedNode)
		return api.Listing{Name: "new", Complete: n.State == api.ListedYes, Nodes: []api.ListedNode{n}}
	}
	j.srv = startAPI(t, j.backend, nil)
	return j
}

func (j *joinedNode) set(state, msg string) {
	j.state.Store(api.ListedNode{Name: "peer", Address: "peer.internal:8224", Status: "alive", State: state, Message: msg})
}

func (j *joinedNode) asked() int {
	j.backend.listedMu.Lock()
	defer j.backend.listedMu.Unlock()
	return j.backend.listedAsked
}

func TestRegisterNodeWaitsUntilTheServerNodeSaysEveryNodeListsIt(t *testing.T) {
	j := newJoinedNode(t)
	var out, errOut lockedBuffer
	root := NewRootCommand(&out, &errOut, WithWorkDir(t.TempDir()), withTerminal(true))
	code := make(chan int, 1)
	go func() {
		code <- Run(context.Background(), root, []string{"register-node", "-S", j.srv.URL, "-h", "seed", "-p", "9224"}, &errOut)
	}()

	// The --server node is asked, and its peer does not list it yet: still waiting.
	eventually(t, "check asked twice", func() bool { return j.asked() >= 2 })
	select {
	case c := <-code:
		t.Fatalf("register-node returned %d before the peer listed the new node: %s", c, errOut.String())
	default:
	}
	assert.Contains(t, errOut.String(), "new asks every node whether it lists new: peer …")

	j.set(api.ListedYes, "")
	select {
	case c := <-code:
		require.Equal(t, ExitOK, c, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("register-node still waits after the peer listed the new node")
	}
	assert.Equal(t, "node new joined the cluster through seed:9224; 2 nodes\n", out.String())
	assert.Equal(t, []string{"seed:9224"}, j.backend.Joins())
	progress := errOut.String()
	for _, step := range []string{
		tick + " contacted new at " + j.srv.URL + "\n",
		tick + " new joined through seed:9224; it lists 2 nodes\n",
		tick + " every node lists new\n",
	} {
		assert.Contains(t, progress, step)
	}
	assert.True(t, strings.HasSuffix(progress, tick+" every node lists new\n"), "no step left running: %q", progress)
}

func TestRegisterNodeTimeoutNamesTheNodesThatDoNotListIt(t *testing.T) {
	j := newJoinedNode(t)
	start := time.Now()
	r := run(t, "", "register-node", "-S", j.srv.URL, "-h", "seed", "--timeout", "500ms")
	assert.Less(t, time.Since(start), 5*time.Second, "--timeout bounds the wait")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: new joined through seed:8224, but within --timeout 500ms not every node lists it: peer (does not list it yet)\n", r.stderr)
	assert.Empty(t, r.stdout)

	// A node that does not answer the --server node is named, with its address.
	j.set(api.ListedNoAnswer, "no answer within 2s")
	r = run(t, "", "register-node", "-S", j.srv.URL, "-h", "seed", "--timeout", "500ms")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: new joined through seed:8224, but within --timeout 500ms not every node lists it: peer (no answer at peer.internal:8224: no answer within 2s)\n", r.stderr)
}

func TestRegisterNodeEndsAtOnceWhenANodeCannotBeAsked(t *testing.T) {
	j := newJoinedNode(t)
	j.set(api.ListedUnreachable, "unknown host peer.internal")
	start := time.Now()
	r := run(t, "", "register-node", "-S", j.srv.URL, "-h", "seed", "--timeout", "30s")
	assert.Less(t, time.Since(start), 5*time.Second, "no wait for what waiting does not mend")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: new joined through seed:8224, but new cannot ask every node whether it lists it: peer at peer.internal:8224 (unknown host peer.internal)\n", r.stderr)
}

func TestRegisterNodeAsksOnlyTheServerNode(t *testing.T) {
	// The peer's advertised host names resolve nowhere: register-node
	// must not need them (the --server node asks its peers itself).
	j := newJoinedNode(t)
	j.set(api.ListedYes, "")
	r := run(t, "", "register-node", "-S", j.srv.URL, "-h", "seed", "--timeout", "10s")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "node new joined the cluster through seed:8224; 2 nodes\n", r.stdout)
	assert.Equal(t, 1, j.asked())
}

func TestRegisterNodeTimeoutWhileContacting(t *testing.T) {
	// A server that accepts and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	r := run(t, "", "register-node", "-S", "http://"+l.Addr().String(), "-h", "seed", "--timeout", "200ms")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: contacting http://"+l.Addr().String()+": no answer within --timeout 200ms\n", r.stderr)

	r = run(t, "", "register-node", "-h", "seed", "--timeout", "0s")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "invalid --timeout 0s")
}

func TestRegisterNodeShowsNoProgressOffATerminal(t *testing.T) {
	j := newJoinedNode(t)
	j.set(api.ListedYes, "")
	r := run(t, "", "register-node", "-S", j.srv.URL, "-h", "seed")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr, "scripts get the result alone")
	assert.Equal(t, "node new joined the cluster through seed:8224; 2 nodes\n", r.stdout)
}

func TestRegisterNodeThroughANodeWithoutTheCheck(t *testing.T) {
	// A --server node of an older roster has no check: the join stands.
	f := newFakeBackend()
	h, _ := api.NewHandler(api.ServerOptions{Backend: f, Logger: zerolog.Nop()})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := run(t, "", "register-node", "-S", srv.URL, "-h", "seed")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "node a-node-with-a-long-name joined the cluster through seed:8224; 3 nodes\n", r.stdout)
}
