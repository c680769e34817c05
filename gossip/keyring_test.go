package gossip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKeyringBackedUpOnEveryChange checks that a node whose saved keyring
// was cut (serf rewrites the file in place after every key change, and a
// crash in the middle leaves it damaged) starts from a backup that follows
// every change: replaced atomically, up to date by the time a key
// operation's report is out, and also after a change that reached the
// node some other way (serf's own key queries).
func TestKeyringBackedUpOnEveryChange(t *testing.T) {
	newKey := func() []byte {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		require.NoError(t, err)
		return k
	}
	k1, k2, k3 := newKey(), newKey(), newKey()
	enc := base64.StdEncoding.EncodeToString
	_, a, b := newSimPair(t, func(c *Config) { c.Keys = [][]byte{k1} })
	nodes := []*simNode{a, b}

	saved := func(path string) []string {
		keys, err := readKeyringFile(path)
		require.NoError(t, err)
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = enc(k)
		}
		return out
	}
	for _, nd := range nodes {
		require.Equal(t, []string{enc(k1)}, saved(nd.c.KeyringPath()), "%s saves its configured key at start", nd.c.cfg.Name)
		require.Equal(t, []string{enc(k1)}, saved(nd.c.keyringBackupPath()), "%s backs it up", nd.c.cfg.Name)
	}
	backup, err := os.Stat(a.c.keyringBackupPath())
	require.NoError(t, err)

	// Through serf's key manager alone: no keyring query follows.
	sf, err := a.c.current()
	require.NoError(t, err)
	_, err = sf.KeyManager().InstallKey(enc(k2))
	require.NoError(t, err)
	for _, nd := range nodes {
		require.Eventually(t, func() bool {
			keys, err := readKeyringFile(nd.c.keyringBackupPath())
			return err == nil && len(keys) == 2 && bytes.Equal(keys[0], k1) && bytes.Equal(keys[1], k2)
		}, 10*time.Second, 20*time.Millisecond, "%s backs up a change it was not asked about", nd.c.cfg.Name)
	}
	now, err := os.Stat(a.c.keyringBackupPath())
	require.NoError(t, err)
	require.False(t, os.SameFile(backup, now), "the backup was rewritten in place, not replaced")

	// Through roster's key operations: backed up by the time the report is out.
	report, err := b.c.UseKey(enc(k2))
	require.NoError(t, err)
	for _, n := range report.Nodes {
		require.True(t, n.OK, "%s: %s", n.Name, n.Message)
	}
	for _, nd := range nodes {
		require.Equal(t, []string{enc(k2), enc(k1)}, saved(nd.c.keyringBackupPath()), "%s after use", nd.c.cfg.Name)
	}
	_, err = a.c.InstallKey(enc(k3))
	require.NoError(t, err)
	_, err = a.c.RemoveKey(enc(k1), false)
	require.NoError(t, err)
	for _, nd := range nodes {
		require.Equal(t, []string{enc(k2), enc(k3)}, saved(nd.c.keyringBackupPath()), "%s after install and remove", nd.c.cfg.Name)
	}

	// A crash while serf rewrites the keyring: the restart uses the
	// backup (over the configured key), and saves it whole again.
	a.crash()
	require.NoError(t, os.WriteFile(a.c.KeyringPath(), []byte(`[
  "cut sho`), 0o600))
	restart := func() (*Cluster, error) {
		packets, streams, port, err := listenPair()
		require.NoError(t, err)
		t.Cleanup(func() { _ = packets.Close(); _ = streams.Close() })
		cfg := a.c.cfg
		cfg.Packets, cfg.Streams, cfg.AdvertisePort = packets, streams, port
		cfg.Info.InternalPort = port
		c, err := New(cfg)
		require.NoError(t, err)
		if err := c.Start(); err != nil {
			return nil, err
		}
		t.Cleanup(func() { _ = c.Shutdown() })
		return c, nil
	}
	restarted, err := restart()
	require.NoError(t, err)
	require.Contains(t, restarted.KeyWarning(), "differs")
	require.Equal(t, k2, restarted.keyring.GetPrimaryKey())
	require.Len(t, restarted.keyring.GetKeys(), 2)
	require.Equal(t, []string{enc(k2), enc(k3)}, saved(a.c.KeyringPath()))
	require.NoError(t, restarted.Shutdown())

	// Both damaged: the node refuses to start, naming the file, rather
	// than start with the configured key alone.
	for _, p := range []string{a.c.KeyringPath(), a.c.keyringBackupPath()} {
		require.NoError(t, os.WriteFile(p, []byte(`["cut`), 0o600))
	}
	_, err = restart()
	require.ErrorContains(t, err, a.c.KeyringPath())
}
