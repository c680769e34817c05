package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

// peerCluster is the node to add (the -S server, "new") and one node
// already in the cluster ("peer"), each on its own API server; peer lists
// new only when the test says so.
type peerCluster struct {
	newNode, peer *fakeBackend
	srv           *httptest.Server
	peerAsked     atomic.Int32
}

func newPeerCluster(t *testing.T) *peerCluster {
	t.Helper()
	pc := &peerCluster{newNode: newFakeBackend(), peer: newFakeBackend()}
	peerAPI, _ := api.NewHandler(api.ServerOptions{Backend: pc.peer, Logger: zerolog.Nop()})
	peerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc.peerAsked.Add(1)
		peerAPI.ServeHTTP(w, r)
	}))
	t.Cleanup(peerSrv.Close)
	port := serverPort(t, peerSrv)

	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	newNode := api.Node{Name: "new", HostName: "127.0.0.1", HTTPPort: 1, Status: "alive", Connected: true, Since: since}
	peer := api.Node{Name: "peer", HostName: "127.0.0.1", HTTPPort: port, Status: "alive", Connected: true, Since: since}
	pc.newNode.nodes = []api.Node{newNode, peer}
	pc.newNode.me = api.Me{Node: newNode}
	pc.peer.nodes = []api.Node{peer}
	pc.peer.me = api.Me{Node: peer}
	pc.srv = startAPI(t, pc.newNode, nil)
	return pc
}

// serverPort is the port a test server listens on.
func serverPort(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	_, portText, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	return port
}

func TestRegisterNodeWaitsUntilEveryNodeListsIt(t *testing.T) {
	pc := newPeerCluster(t)
	var out, errOut lockedBuffer
	root := NewRootCommand(&out, &errOut, WithWorkDir(t.TempDir()), withTerminal(true))
	code := make(chan int, 1)
	go func() {
		code <- Run(context.Background(), root, []string{"register-node", "-S", pc.srv.URL, "-h", "seed", "-p", "9224"}, &errOut)
	}()

	// The peer is asked and does not list the new node yet: still waiting.
	eventually(t, "peer asked twice", func() bool { return pc.peerAsked.Load() >= 2 })
	select {
	case c := <-code:
		t.Fatalf("register-node returned %d before the peer listed the new node: %s", c, errOut.String())
	default:
	}
	assert.Contains(t, errOut.String(), "waiting until every node lists new: peer …")

	pc.peer.change(api.NodeEvent{Type: api.EventJoin, Node: pc.newNode.me.Node})
	select {
	case c := <-code:
		require.Equal(t, ExitOK, c, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("register-node still waits after the peer listed the new node")
	}
	assert.Equal(t, "node new joined the cluster through seed:9224; 2 nodes\n", out.String())
	assert.Equal(t, []string{"seed:9224"}, pc.newNode.joins)
	progress := errOut.String()
	for _, step := range []string{
		tick + " contacted new at " + pc.srv.URL + "\n",
		tick + " new joined through seed:9224; it lists 2 nodes\n",
		tick + " every node lists new\n",
	} {
		assert.Contains(t, progress, step)
	}
	assert.True(t, strings.HasSuffix(progress, tick+" every node lists new\n"), "no step left running: %q", progress)
}

func TestRegisterNodeTimeoutNamesTheNodesThatDoNotListIt(t *testing.T) {
	pc := newPeerCluster(t)
	start := time.Now()
	r := run(t, "", "register-node", "-S", pc.srv.URL, "-h", "seed", "--timeout", "500ms")
	assert.Less(t, time.Since(start), 5*time.Second, "--timeout bounds the wait")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: new joined through seed:8224, but within --timeout not every node lists it: peer (does not list it)\n", r.stderr)
	assert.Empty(t, r.stdout)

	// A node that cannot be reached is named with the reason.
	pc.newNode.nodes[1].HTTPPort = 1
	r = run(t, "", "register-node", "-S", pc.srv.URL, "-h", "seed", "--timeout", "500ms")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: new joined through seed:8224, but within --timeout not every node lists it: peer (cannot reach http://127.0.0.1:1: connection refused)\n", r.stderr)
}

func TestRegisterNodeTimeoutCuttingAListStillNamesThePendingNodes(t *testing.T) {
	// The --server node answers the join's list and the first round's,
	// then hangs: the deadline cuts a list, and what is known from the
	// earlier round is still the answer.
	pc := newPeerCluster(t)
	pc.newNode.hangAfter = 2
	r := run(t, "", "register-node", "-S", pc.srv.URL, "-h", "seed", "--timeout", "500ms")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: register-node: new joined through seed:8224, but within --timeout not every node lists it: peer (does not list it)\n", r.stderr)
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
	pc := newPeerCluster(t)
	pc.peer.nodes = append(pc.peer.nodes, pc.newNode.me.Node)
	r := run(t, "", "register-node", "-S", pc.srv.URL, "-h", "seed")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr, "scripts get the result alone")
	assert.Equal(t, "node new joined the cluster through seed:8224; 2 nodes\n", r.stdout)
}

func TestRegisterNodeAsksTheNodesAtOnce(t *testing.T) {
	// Four nodes that answer only once all four are being asked at the
	// same time: asked one after another, each would hang until its 2 s
	// limit, and register-node would never see every node list the new one.
	const peers = 4
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	newNode := api.Node{Name: "new", HostName: "127.0.0.1", HTTPPort: 1, Status: "alive", Connected: true, Since: since}
	var (
		inFlight atomic.Int32
		release  sync.Once
	)
	allAsked := make(chan struct{})
	members := []api.Node{newNode}
	for i := range peers {
		peer := newFakeBackend()
		h, _ := api.NewHandler(api.ServerOptions{Backend: peer, Logger: zerolog.Nop()})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if inFlight.Add(1) == peers {
				release.Do(func() { close(allAsked) })
			}
			defer inFlight.Add(-1)
			select {
			case <-allAsked:
			case <-r.Context().Done():
				return
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		node := newNode
		node.Name, node.HTTPPort = "peer"+strconv.Itoa(i), serverPort(t, srv)
		peer.nodes = []api.Node{node, newNode}
		members = append(members, node)
	}
	server := newFakeBackend()
	server.nodes, server.me = members, api.Me{Node: newNode}
	srv := startAPI(t, server, nil)

	r := run(t, "", "register-node", "-S", srv.URL, "-h", "seed", "--timeout", "10s")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "node new joined the cluster through seed:8224; 5 nodes\n", r.stdout)
}
