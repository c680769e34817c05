package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Under go run the binary is deleted when dev ends: dev keeps a copy for
// its nodes and the commands it prints; an installed binary is used as it is.
func TestDevKeepsGoRunsBinary(t *testing.T) {
	tmp := t.TempDir()
	goRun := filepath.Join(tmp, "go-build1234", "b001", "exe", "roster")
	require.NoError(t, os.MkdirAll(filepath.Dir(goRun), 0o750))
	require.NoError(t, os.WriteFile(goRun, []byte("#!/bin/sh\necho roster\n"), 0o755)) //nolint:gosec // an executable
	dir := t.TempDir()

	kept, copied, err := devBinary(goRun, dir)
	require.NoError(t, err)
	assert.True(t, copied)
	assert.Equal(t, filepath.Join(dir, "bin", "roster"), kept)
	b, err := os.ReadFile(kept)
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\necho roster\n", string(b))
	st, err := os.Stat(kept)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&0o100, "executable")

	// Again (the next dev): replaced, not refused.
	_, _, err = devBinary(goRun, dir)
	require.NoError(t, err)

	installed := filepath.Join(tmp, "bin", "roster")
	kept, copied, err = devBinary(installed, dir)
	require.NoError(t, err)
	assert.False(t, copied)
	assert.Equal(t, installed, kept)
}

func TestShellCommandQuotes(t *testing.T) {
	assert.Equal(t, "/usr/bin/roster server --x=/a/b", shellCommand([]string{"/usr/bin/roster", "server", "--x=/a/b"}))
	assert.Equal(t, `'/my dir/roster' '--name=it'\''s'`, shellCommand([]string{"/my dir/roster", "--name=it's"}))
}
