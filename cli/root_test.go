package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/node"
)

func TestUsageErrorsFromCobra(t *testing.T) {
	cases := map[string][]string{
		"unknown command": {"nope"},
		"unknown flag":    {"cluster", "--nope"},
		"stray argument":  {"cluster", "extra"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			r := run(t, "", args...)
			assert.Equal(t, ExitUsage, r.code)
			assert.True(t, strings.HasPrefix(r.stderr, "roster: "), r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
		})
	}
	r := run(t, "", "nope")
	assert.Equal(t, "roster: unknown command \"nope\" for \"roster\" (see roster --help)\n", r.stderr)
}

func TestNoArgumentsPrintsHelp(t *testing.T) {
	r := run(t, "")
	assert.Equal(t, ExitOK, r.code)
	for _, c := range []string{"register-node", "unregister-node", "cluster"} {
		assert.Contains(t, r.stdout, c)
	}
}

func TestAdminFlagsAreNotOnRoot(t *testing.T) {
	root := NewRootCommand(&bytes.Buffer{}, &bytes.Buffer{})
	assert.Nil(t, root.PersistentFlags().Lookup("server"))
	assert.Nil(t, root.Flags().Lookup("server"))
}

// A command added by the caller (as "server" will be) gets the same error
// handling: its RunE's failure exits 1, cobra's complaints exit 2.
func TestAddedCommandsShareErrorHandling(t *testing.T) {
	var out, errOut bytes.Buffer
	root := NewRootCommand(&out, &errOut)
	var port int
	srvCmd := &cobra.Command{
		Use:  "extra",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("listen tcp :8024: address already in use")
		},
	}
	srvCmd.Flags().IntVar(&port, "port", 0, "")
	root.AddCommand(srvCmd)

	code := Run(context.Background(), root, []string{"extra"}, &errOut)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "roster: extra: listen tcp :8024: address already in use\n", errOut.String())

	errOut.Reset()
	code = Run(context.Background(), root, []string{"extra", "--port", "x"}, &errOut)
	assert.Equal(t, ExitUsage, code)
	assert.True(t, strings.HasPrefix(errOut.String(), "roster: extra: invalid argument"), errOut.String())

	// Running the same root again does not wrap twice.
	errOut.Reset()
	code = Run(context.Background(), root, []string{"extra"}, &errOut)
	assert.Equal(t, ExitFailure, code)
	assert.Equal(t, "roster: extra: listen tcp :8024: address already in use\n", errOut.String())

	// UsageError from RunE exits 2.
	srvCmd.RunE = func(*cobra.Command, []string) error { return UsageError(errors.New("bad mix of flags")) }
	root.Annotations = nil
	srvCmd.Annotations = nil
	errOut.Reset()
	code = Run(context.Background(), root, []string{"extra"}, &errOut)
	assert.Equal(t, ExitUsage, code)
	assert.Equal(t, "roster: extra: bad mix of flags (see roster extra --help)\n", errOut.String())
}

func TestExecute(t *testing.T) {
	srv := startAPI(t, newFakeBackend(), nil)
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), []string{"cluster", "-S", srv.URL, "-t", "x"}, &out, &errOut)
	require.Equal(t, ExitOK, code, errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "Name"), out.String())
}

func TestForeignServerErrorReadsWell(t *testing.T) {
	// A proxy answering in its own format: no code, no ": " left dangling.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	r := run(t, "", "cluster", "-S", srv.URL)
	assert.Equal(t, ExitFailure, r.code)
	assert.Equal(t, "roster: cluster: 503 service unavailable: no healthy upstream\n", r.stderr)
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, "a; b", oneLine("a\n\n  b \n"))
}

func TestVersionFlag(t *testing.T) {
	for _, flag := range []string{"--version", "-v"} {
		r := run(t, "", flag)
		assert.Equal(t, ExitOK, r.code, r.stderr)
		assert.Equal(t, "roster version "+node.Version+"\n", r.stdout)
	}
}
