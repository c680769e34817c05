package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/api"
)

var (
	oldKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	newKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
)

// fakeKeys is an api.KeyBackend with two nodes and a fixed answer.
type fakeKeys struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeKeys) answer(action, key string, force bool) (api.KeyReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := action + " " + key
	if force {
		c += " force"
	}
	f.calls = append(f.calls, c)
	if f.err != nil {
		return api.KeyReport{}, f.err
	}
	return api.KeyReport{
		Action: action,
		Nodes: []api.KeyNode{
			{Name: "node-a", Status: "alive", OK: true, PrimaryKey: oldKey, Keys: []string{oldKey, newKey}},
			{Name: "node-b", Status: "alive", OK: true, PrimaryKey: oldKey, Keys: []string{oldKey, newKey},
				Warning: "the saved keyring differs from axoniq.axonserver.cluster.encryption-key"},
			{Name: "node-c", Status: "failed", Message: "not reached (failed)"},
		},
		Keys:        map[string]int{oldKey: 2, newKey: 2},
		PrimaryKeys: map[string]int{oldKey: 2},
	}, nil
}

func (f *fakeKeys) ListKeys(context.Context) (api.KeyReport, error) {
	return f.answer("list", "", false)
}
func (f *fakeKeys) InstallKey(_ context.Context, k string) (api.KeyReport, error) {
	return f.answer("install", k, false)
}
func (f *fakeKeys) UseKey(_ context.Context, k string) (api.KeyReport, error) {
	return f.answer("use", k, false)
}
func (f *fakeKeys) RemoveKey(_ context.Context, k string, force bool) (api.KeyReport, error) {
	return f.answer("remove", k, force)
}

func (f *fakeKeys) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func startKeysAPI(t *testing.T, fk *fakeKeys) *httptest.Server {
	t.Helper()
	h, _ := api.NewHandler(api.ServerOptions{Backend: newFakeBackend(), Keys: fk, Logger: zerolog.Nop(),
		AccessControl: (&tokenCheck{}).check})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestKeygen(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		r := run(t, "", "keygen")
		require.Equal(t, ExitOK, r.code, r.stderr)
		key := strings.TrimSuffix(r.stdout, "\n")
		b, err := base64.StdEncoding.DecodeString(key)
		require.NoError(t, err)
		assert.Len(t, b, 32)
		assert.False(t, seen[key], "a new key every time")
		seen[key] = true
	}
}

func TestKeysList(t *testing.T) {
	fk := &fakeKeys{}
	srv := startKeysAPI(t, fk)
	r := run(t, "", "keys", "list", "-S", srv.URL, "-t", "s3cret")
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	require.Len(t, lines, 9, r.stdout)
	assert.Equal(t, []string{"Key", "Installed", "on", "Primary", "on"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{oldKey, "2/2", "2/2"}, strings.Fields(lines[1]), "primary key first")
	assert.Equal(t, []string{newKey, "2/2", "0/2"}, strings.Fields(lines[2]))
	assert.Equal(t, "", strings.TrimSpace(lines[3]))
	assert.Equal(t, []string{"Node", "Status", "Result", "Primary", "key", "Keys", "Note"}, strings.Fields(lines[4]))
	assert.Equal(t, []string{"node-a", "alive", "ok", oldKey[:8] + "…", "2"}, strings.Fields(lines[5]))
	assert.Contains(t, lines[6], "differs from axoniq.axonserver.cluster.encryption-key")
	assert.Equal(t, []string{"node-c", "failed", "not", "reached", "0", "not", "reached", "(failed)"}, strings.Fields(lines[7]))
	assert.Equal(t, "2 of 3 registered nodes answered", lines[8])

	r = run(t, "", "keys", "list", "-S", srv.URL, "-t", "s3cret", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var rep api.KeyReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	assert.Equal(t, "list", rep.Action)
	assert.Len(t, rep.Nodes, 3)
}

func TestKeysInstallUseRemove(t *testing.T) {
	fk := &fakeKeys{}
	srv := startKeysAPI(t, fk)
	r := run(t, "", "keys", "install", newKey, "-S", srv.URL, "-t", "s3cret")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.True(t, strings.HasSuffix(r.stdout, "2 of 3 registered nodes have the key now\n"), r.stdout)

	r = run(t, "", "keys", "use", newKey, "-S", srv.URL, "-t", "s3cret")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "encrypt with the key now")

	// "-" reads the key from standard input, out of the shell history.
	var out, errOut bytes.Buffer
	root := NewRootCommand(&out, &errOut, WithWorkDir(t.TempDir()))
	root.SetIn(strings.NewReader(oldKey + "\n"))
	code := Run(context.Background(), root, []string{"keys", "remove", "-", "--force", "-S", srv.URL, "-t", "s3cret"}, &errOut)
	require.Equal(t, ExitOK, code, errOut.String())
	assert.Contains(t, out.String(), "no longer have the key")

	assert.Equal(t, []string{"install " + newKey, "use " + newKey, "remove " + oldKey + " force"}, fk.callList())
}

func TestKeysErrors(t *testing.T) {
	fk := &fakeKeys{err: api.Errorf(api.CodeInvalidValue, "the key is in use: it is the primary key of node-a, node-b; make another key primary first (roster keys use)")}
	srv := startKeysAPI(t, fk)
	r := run(t, "", "keys", "remove", oldKey, "-S", srv.URL, "-t", "s3cret")
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: keys remove: AXONIQ-2311: the key is in use: it is the primary key of node-a, node-b; make another key primary first (roster keys use)\n", r.stderr)

	r = run(t, "", "keys", "install", "-S", srv.URL)
	assert.Equal(t, ExitUsage, r.code)
	r = run(t, "", "keys", "list", "-S", srv.URL)
	assert.Equal(t, "roster: keys list: AXONIQ-1000: access token missing\n", r.stderr)
	r = run(t, "", "keys", "install", "not-a-key", "-S", srv.URL, "-t", "s3cret")
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "AXONIQ-2311")
	assert.NotContains(t, r.stderr, "not-a-key", "the key is secret")
}

func TestSchemeAndCertificateHints(t *testing.T) {
	h, _ := api.NewHandler(api.ServerOptions{Backend: newFakeBackend(), Logger: zerolog.Nop()})
	tlsSrv := httptest.NewTLSServer(h)
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(h)
	t.Cleanup(plainSrv.Close)
	tlsHostPort := strings.TrimPrefix(tlsSrv.URL, "https://")
	plainHostPort := strings.TrimPrefix(plainSrv.URL, "http://")

	r := run(t, "", "cluster", "-S", "http://"+tlsHostPort)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: cluster: http://"+tlsHostPort+" speaks HTTPS (TLS): use -s/--https or an https:// URL with -S\n", r.stderr)

	r = run(t, "", "cluster", "-s", "-S", plainHostPort)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: cluster: cannot reach https://"+plainHostPort+": the server speaks plain HTTP, not HTTPS: use an http:// URL with -S and no -s/--https\n", r.stderr)

	// httptest's certificate is signed by no CA this machine trusts.
	r = run(t, "", "cluster", "-s", "-S", tlsHostPort)
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "roster: cluster: cannot reach https://"+tlsHostPort+": the server's certificate is not signed by a CA this machine trusts")
	assert.Contains(t, r.stderr, "-i/--insecure-ssl")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"))

	assert.Contains(t, r.stderr, "--ca-cert ca.pem")

	r = run(t, "", "cluster", "-s", "-i", "-S", tlsHostPort)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	r = run(t, "", "cluster", "--insecure-ssl", "-S", tlsSrv.URL)
	assert.Equal(t, ExitOK, r.code, r.stderr)

	// --ca-cert trusts the CA that signed the server's certificate
	// (httptest's signs itself), for every request of the command.
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600))
	r = run(t, "", "cluster", "-s", "-S", tlsHostPort, "--ca-cert", ca)
	assert.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "node-b.example.com")

	// httptest's certificate holds example.com and the loopback IPs, not
	// localhost.
	_, port, err := net.SplitHostPort(tlsHostPort)
	require.NoError(t, err)
	r = run(t, "", "cluster", "-s", "-S", "localhost:"+port, "--ca-cert", ca)
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "roster: cluster: cannot reach https://localhost:"+port+": x509: certificate is valid for ")
	assert.Contains(t, r.stderr, "not localhost: use a name the certificate holds with -S, or skip the check with -i/--insecure-ssl")

	notPEM := filepath.Join(dir, "key.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ca-cert", filepath.Join(dir, "missing.pem")}, `roster: cluster: invalid --ca-cert "` + filepath.Join(dir, "missing.pem") + `": no such file or directory`},
		{[]string{"--ca-cert", notPEM}, `roster: cluster: invalid --ca-cert "` + notPEM + `": no PEM certificate in it`},
		{[]string{"--ca-cert", ca, "-i"}, "roster: cluster: --ca-cert and -i/--insecure-ssl contradict each other"},
	} {
		r = run(t, "", append([]string{"cluster", "-s", "-S", tlsHostPort}, c.args...)...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", c.args, r.stderr)
		assert.True(t, strings.HasPrefix(r.stderr, c.want), "%v: %q", c.args, r.stderr)
	}
}
