package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

func TestClusterTable(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)

	r := run(t, "", "cluster", "-S", srv.URL)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)

	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Equal(t, []string{"Name", "Hostname", "gRPC", "Port", "HTTP", "Port", "Internal", "Hostname", "Internal", "Port", "Status"},
		strings.Fields(lines[0]))
	assert.Equal(t, []string{"a-node-with-a-long-name", "a-node-with-a-long-name.example.com", "8124", "8024",
		"a-node-with-a-long-name.internal", "8224", "alive"}, strings.Fields(lines[1]))
	assert.Equal(t, "node-b", strings.Fields(lines[2])[0])
	assert.Equal(t, "node-c", strings.Fields(lines[3])[0])
	assert.Equal(t, "suspect", strings.Fields(lines[3])[6])

	// Aligned: every column starts at the same offset on every line.
	for _, col := range []string{"Hostname", "gRPC Port", "HTTP Port", "Internal Hostname", "Internal Port", "Status"} {
		at := strings.Index(lines[0], col)
		require.Positive(t, at, col)
		for _, l := range lines[1:] {
			assert.NotEqual(t, ' ', l[at], "column %q misaligned in %q", col, l)
			assert.Equal(t, ' ', rune(l[at-1]), "column %q misaligned in %q", col, l)
		}
	}
	assert.NotContains(t, r.stdout, "\x1b[", "no colour when stdout is not a terminal")
}

func TestClusterJSON(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)

	r := run(t, "", "cluster", "-S", srv.URL, "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "[\n  {"), "pretty-printed: %s", r.stdout)

	var nodes []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &nodes))
	require.Len(t, nodes, 3)
	// As the API sent it: Axon's field names.
	for _, k := range []string{"name", "hostName", "grpcPort", "httpPort", "internalHostName", "grpcInternalPort", "connected", "status", "since"} {
		assert.Contains(t, nodes[0], k)
	}
}

// Without -S the admin commands talk to Axon's default address, over
// HTTPS with -s. Checked without a request, so that whatever listens on
// 8024 on the test machine changes nothing; what a refused address prints
// is TestRefusedAddressIsNamed's.
func TestDefaultServer(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "http://localhost:8024"},
		{[]string{"-s"}, "https://localhost:8024"},
	} {
		for _, name := range []string{"cluster", "register-node", "unregister-node", "keys list"} {
			root := NewRootCommand(io.Discard, io.Discard)
			path := strings.Fields(name)
			cmd, _, err := root.Find(path)
			require.NoError(t, err)
			require.Equal(t, path[len(path)-1], cmd.Name())
			require.NoError(t, cmd.ParseFlags(c.args))
			f := &adminFlags{https: c.args != nil}
			got, err := f.serverURL(cmd.Flags().Changed("server"))
			require.NoError(t, err)
			assert.Equal(t, c.want, got, "%s %v", name, c.args)
			assert.Equal(t, "http://localhost:8024", cmd.Flags().Lookup("server").DefValue, name)
		}
	}
}

func TestRefusedAddressIsNamed(t *testing.T) {
	hostPort := refusedAddr(t)
	addr := "http://" + hostPort

	r := run(t, "", "cluster", "-S", addr)
	assert.Equal(t, ExitFailure, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "roster: cluster: cannot reach "+addr+": connection refused\n", r.stderr)

	// host:port alone is accepted for -S.
	r = run(t, "", "cluster", "-S", hostPort)
	assert.Equal(t, "roster: cluster: cannot reach "+addr+": connection refused\n", r.stderr)
}

func TestHTTPSDefaultServer(t *testing.T) {
	// Against a refused port only the address matters: -s switches the scheme.
	hostPort := refusedAddr(t)
	r := run(t, "", "cluster", "-s", "-S", hostPort)
	assert.Equal(t, "roster: cluster: cannot reach https://"+hostPort+": connection refused\n", r.stderr)
}

func TestRegisterNode(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)

	r := run(t, "", "register-node", "-S", srv.URL, "-h", "node-b.internal")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "node a-node-with-a-long-name joined the cluster through node-b.internal:8224; 3 nodes\n", r.stdout)
	assert.Equal(t, []string{"node-b.internal:8224"}, f.Joins())

	r = run(t, "", "register-node", "-S", srv.URL, "--internal-host", "10.1.2.3", "--internal-port", "9224")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "through 10.1.2.3:9224;")

	r = run(t, "", "register-node", "-S", srv.URL, "-h", "::1", "-p", "9224", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var nodes []api.Node
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &nodes), r.stdout)
	assert.Len(t, nodes, 3)
	assert.Equal(t, []string{"node-b.internal:8224", "10.1.2.3:9224", "::1:9224"}, f.Joins())
}

func TestRegisterNodeServerError(t *testing.T) {
	f := newFakeBackend()
	f.JoinErr = api.Errorf(api.CodeAlreadyMember, "node n2 is already a member of the cluster")
	srv := startAPI(t, f, nil)

	r := run(t, "", "register-node", "-S", srv.URL, "-h", "n1")
	assert.Equal(t, ExitFailure, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "roster: register-node: AXONIQ-2306: node n2 is already a member of the cluster\n", r.stderr)

	// A bad host name is refused by the server in the same shape.
	f.JoinErr = nil
	r = run(t, "", "register-node", "-S", srv.URL, "-h", "bad host")
	assert.Equal(t, ExitFailure, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "roster: register-node: AXONIQ-2311: body.internalHostName: \"bad host\""), r.stderr)
	assert.Empty(t, f.Joins())
}

func TestRegisterNodeUsage(t *testing.T) {
	srv := startAPI(t, newFakeBackend(), nil)

	r := run(t, "", "register-node", "-S", srv.URL)
	assert.Equal(t, ExitUsage, r.code)
	assert.Equal(t, "roster: register-node: missing required flag -h/--internal-host (see roster register-node --help)\n", r.stderr)

	for _, p := range []string{"0", "70000"} {
		r = run(t, "", "register-node", "-S", srv.URL, "-h", "n1", "-p", p)
		assert.Equal(t, ExitUsage, r.code)
		assert.Contains(t, r.stderr, "roster: register-node: invalid -p/--internal-port "+p+": want 1-65535")
	}

	r = run(t, "", "register-node", "-h", "n1", "-p", "x")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, `"x"`)
}

func TestRegisterNodeHelp(t *testing.T) {
	r := run(t, "", "register-node", "--help")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "-h, --internal-host")
	assert.Contains(t, r.stdout, "-p, --internal-port")
	assert.Contains(t, r.stdout, "      --help")
	assert.NotContains(t, r.stdout, "-h, --help")
	for _, flag := range []string{"-S, --server", "-s, --https", "-i, --insecure-ssl", "-o, --output", "-t, --access-token"} {
		assert.Contains(t, r.stdout, flag)
	}

	// Other commands keep -h for help.
	r = run(t, "", "cluster", "-h")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "-h, --help")
}

func TestUnregisterNode(t *testing.T) {
	f := newFakeBackend()
	srv := startAPI(t, f, nil)

	r := run(t, "", "unregister-node", "-S", srv.URL, "-n", "node-b")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "node node-b unregistered from the cluster\n", r.stdout)
	assert.Equal(t, []string{"a-node-with-a-long-name", "node-c"}, f.sortedNames())

	r = run(t, "", "unregister-node", "-S", srv.URL, "--node", "node-c", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var nodes []api.Node
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &nodes), r.stdout)
	assert.Len(t, nodes, 1)

	r = run(t, "", "unregister-node", "-S", srv.URL, "-n", "ghost")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: unregister-node: AXONIQ-1301: node ghost not found\n", r.stderr)

	r = run(t, "", "unregister-node", "-S", srv.URL, "-n", "a-node-with-a-long-name")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: unregister-node: AXONIQ-2310: cannot remove the last node of the cluster\n", r.stderr)

	r = run(t, "", "unregister-node", "-S", srv.URL)
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, "roster: unregister-node: missing required flag -n/--node")
}

// tokenCheck is an access control that remembers the tokens it saw.
type tokenCheck struct {
	mu   sync.Mutex
	seen []string
}

func (c *tokenCheck) check(r *http.Request) *api.Error {
	tok := r.Header.Get(api.TokenHeader)
	c.mu.Lock()
	c.seen = append(c.seen, tok)
	c.mu.Unlock()
	switch tok {
	case "":
		return api.Errorf(api.CodeAuthTokenMissing, "access token missing")
	case "s3cret":
		return nil
	}
	return api.Errorf(api.CodeInvalidToken, "invalid access token")
}

func TestAccessToken(t *testing.T) {
	tc := &tokenCheck{}
	srv := startAPI(t, newFakeBackend(), tc.check)

	r := run(t, "", "cluster", "-S", srv.URL)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: cluster: AXONIQ-1000: access token missing\n", r.stderr)

	r = run(t, "", "cluster", "-S", srv.URL, "-t", "s3cret")
	assert.Equal(t, ExitOK, r.code, r.stderr)

	r = run(t, "", "cluster", "-S", srv.URL, "--access-token", "wrong")
	assert.Equal(t, "roster: cluster: AXONIQ-1001: invalid access token\n", r.stderr)

	// ./security/.token: first line, trimmed.
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "security"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "security", ".token"), []byte("  s3cret  \nsecond line\n"), 0o600))
	r = run(t, dir, "cluster", "-S", srv.URL)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	tc.mu.Lock()
	assert.Equal(t, "s3cret", tc.seen[len(tc.seen)-1])
	tc.mu.Unlock()

	// -t wins over the file.
	r = run(t, dir, "cluster", "-S", srv.URL, "-t", "wrong")
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "AXONIQ-1001")
}

func TestOutputFlagValidated(t *testing.T) {
	for _, cmd := range [][]string{{"cluster"}, {"register-node", "-h", "n1"}, {"unregister-node", "-n", "n1"}} {
		r := run(t, "", append(cmd, "-o", "yaml")...)
		assert.Equal(t, ExitUsage, r.code, cmd)
		assert.Contains(t, r.stderr, `"yaml"`)
		assert.Contains(t, r.stderr, "want txt or json")
		assert.True(t, strings.HasPrefix(r.stderr, "roster: "+cmd[0]+": "), r.stderr)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	}
}

func TestBadServerURL(t *testing.T) {
	r := run(t, "", "cluster", "-S", "ftp://x")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, `invalid -S/--server "ftp://x"`)
}
