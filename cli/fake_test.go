package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rosterhq/roster/api"
)

// fakeBackend is an in-memory api.Backend for driving the commands.
type fakeBackend struct {
	mu      sync.Mutex
	nodes   []api.Node
	me      api.Me
	joinErr error
	joins   []string
	unregs  []string
	bus     fakeBus // Subscribe (fakebus_test.go)
	// hangAfter > 0 makes every list after the first hangAfter wait
	// until its request is given up, as a node too busy to answer.
	hangAfter, lists int
	// listed answers api.ListedPath; nil: every other node lists it.
	listed func(wait time.Duration) api.Listing
	// listedAsked counts the checks asked for.
	listedAsked int
}

func newFakeBackend() *fakeBackend {
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	mk := func(name, status string) api.Node {
		return api.Node{Name: name, HostName: name + ".example.com", GrpcPort: 8124, HTTPPort: 8024,
			InternalHostName: name + ".internal", GrpcInternalPort: 8224, Connected: status == "alive",
			Status: status, Since: since}
	}
	// Unsorted on purpose: the table sorts by name.
	nodes := []api.Node{mk("node-b", "failed"), mk("a-node-with-a-long-name", "alive"), mk("node-c", "suspect")}
	return &fakeBackend{nodes: nodes, me: api.Me{Node: nodes[1], Clustered: true}}
}

func (f *fakeBackend) Nodes(ctx context.Context) []api.Node {
	f.mu.Lock()
	f.lists++
	hang := f.hangAfter > 0 && f.lists > f.hangAfter
	nodes := append([]api.Node(nil), f.nodes...)
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
	}
	return nodes
}

func (f *fakeBackend) Me(context.Context) api.Me { return f.me }

func (f *fakeBackend) Join(_ context.Context, host string, port int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.joinErr != nil {
		return f.joinErr
	}
	f.joins = append(f.joins, host+":"+strconv.Itoa(port))
	return nil
}

func (f *fakeBackend) Unregister(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, n := range f.nodes {
		if n.Name == name {
			if len(f.nodes) == 1 {
				return api.Errorf(api.CodeCannotRemoveLast, "cannot remove the last node of the cluster")
			}
			f.nodes = append(f.nodes[:i], f.nodes[i+1:]...)
			f.unregs = append(f.unregs, name)
			return nil
		}
	}
	return api.Errorf(api.CodeNoSuchNode, "node %s not found", name)
}

func (f *fakeBackend) Health(context.Context) api.Health { return api.Health{Status: "UP"} }

func (f *fakeBackend) Listed(_ context.Context, wait time.Duration) api.Listing {
	f.mu.Lock()
	f.listedAsked++
	listed, me, nodes := f.listed, f.me, append([]api.Node(nil), f.nodes...)
	f.mu.Unlock()
	if listed != nil {
		return listed(wait)
	}
	l := api.Listing{Name: me.Name, Complete: true}
	for _, n := range nodes {
		if n.Name != me.Name {
			l.Nodes = append(l.Nodes, api.ListedNode{Name: n.Name, Address: n.InternalHostName + ":8224", Status: n.Status, State: api.ListedYes})
		}
	}
	return l
}

func (f *fakeBackend) GossipState(context.Context) any { return map[string]any{} }

func (f *fakeBackend) sortedNames() []string {
	var names []string
	for _, n := range f.Nodes(context.Background()) {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return names
}

// startAPI serves the real REST API on f; check, when set, is its access control.
func startAPI(t *testing.T, f *fakeBackend, check func(*http.Request) *api.Error) *httptest.Server {
	t.Helper()
	h, humaAPI := api.NewHandler(api.ServerOptions{Backend: f, Logger: zerolog.Nop(), AccessControl: check})
	api.RegisterListed(humaAPI, f, check != nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type result struct {
	code   int
	stdout string
	stderr string
}

// run runs roster in-process with args; ./security/.token is looked for in
// workDir (a fresh temporary directory when empty).
func run(t *testing.T, workDir string, args ...string) result {
	t.Helper()
	if workDir == "" {
		workDir = t.TempDir()
	}
	var out, errOut bytes.Buffer
	root := NewRootCommand(&out, &errOut, WithWorkDir(workDir))
	code := Run(context.Background(), root, args, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}
