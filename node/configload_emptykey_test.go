package node

import (
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// An explicitly empty gossip key stops start-up, naming the key, where it
// was set and roster keygen, whichever source set it.
func TestEmptyEncryptionKeyIsAnError(t *testing.T) {
	t.Parallel()
	const want = "config: axoniq.axonserver.cluster.encryption-key: empty value set "
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"axonserver.properties": "axoniq.axonserver.cluster.encryption-key=\n"})
	_, _, err := LoadConfig(LoadOptions{WorkDir: dir, LookupEnv: fakeEnv{}.lookup, Hostname: fakeHostname})
	require.ErrorContains(t, err, want+"in "+filepath.Join(dir, "axonserver.properties")+": give a gossip key (roster keygen prints one")

	_, _, err = load(t, t.TempDir(), fakeEnv{"AXONIQ_AXONSERVER_CLUSTER_ENCRYPTION_KEY": " "})
	require.ErrorContains(t, err, want+"by environment variable AXONIQ_AXONSERVER_CLUSTER_ENCRYPTION_KEY")
	require.ErrorContains(t, err, "roster was not on the PATH")

	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--axoniq.axonserver.cluster.encryption-key="}))
	_, _, err = LoadConfig(LoadOptions{WorkDir: t.TempDir(), Flags: fs, LookupEnv: fakeEnv{}.lookup, Hostname: fakeHostname})
	require.ErrorContains(t, err, want+"by flag --axoniq.axonserver.cluster.encryption-key")

	// Not setting it at all is fine: no gossip encryption.
	cfg, _, err := load(t, t.TempDir(), fakeEnv{})
	require.NoError(t, err)
	require.Empty(t, cfg.Cluster.EncryptionKey)
}

func TestNearestNamesTheFlagMeant(t *testing.T) {
	t.Parallel()
	require.Equal(t, "axoniq.axonserver.port", Nearest("axoniq.axonserver.prot", knownKeyNames()))
	require.Equal(t, "", Nearest("no-such-thing-at-all", knownKeyNames()))
}
