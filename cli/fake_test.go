package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/api/apitest"
)

// fakeBackend is the in-memory api.Backend of apitest with the check of
// api.ListedPath, for driving the commands.
type fakeBackend struct {
	*apitest.Backend
	listedMu sync.Mutex
	// listed answers api.ListedPath; nil: every other node lists it.
	listed func(wait time.Duration) api.Listing
	// listedAsked counts the checks asked for.
	listedAsked int
}

func newFakeBackend() *fakeBackend {
	since := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	// Unsorted on purpose: the table sorts by name.
	nodes := []api.Node{apitest.Node("node-b", "failed", since), apitest.Node("a-node-with-a-long-name", "alive", since),
		apitest.Node("node-c", "suspect", since)}
	return &fakeBackend{Backend: apitest.New(api.Me{Node: nodes[1], Clustered: true}, nodes...)}
}

func (f *fakeBackend) Listed(ctx context.Context, wait time.Duration) api.Listing {
	f.listedMu.Lock()
	f.listedAsked++
	listed := f.listed
	f.listedMu.Unlock()
	if listed != nil {
		return listed(wait)
	}
	me := f.Me(ctx)
	f.Lock()
	nodes := append([]api.Node(nil), f.List...)
	f.Unlock()
	l := api.Listing{Name: me.Name, Complete: true}
	for _, n := range nodes {
		if n.Name != me.Name {
			l.Nodes = append(l.Nodes, api.ListedNode{Name: n.Name, Address: n.InternalHostName + ":8224", Status: n.Status, State: api.ListedYes})
		}
	}
	return l
}

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
