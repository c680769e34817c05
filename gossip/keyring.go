package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/memberlist"
)

// keyringLocked builds memberlist's keyring. A keyring saved in the data
// directory (serf rewrites it on every key change) wins over the configured
// key, so a node restarted after a key rotation still talks to its cluster.
// A damaged one (serf rewrites it in place, and a crash in the middle cuts
// it) gives way to its backup.
func (c *Cluster) keyringLocked() (*memberlist.Keyring, error) {
	saved, err := readKeyringFile(c.KeyringPath())
	if err != nil {
		backup, berr := readKeyringFile(c.keyringBackupPath())
		if berr != nil || len(backup) == 0 {
			return nil, err
		}
		c.log.Warn().Err(err).Str("backup", c.keyringBackupPath()).Msg("gossip: the saved keyring is damaged; using its backup, one key change older at most")
		if err := writeKeyringFile(c.KeyringPath(), backup); err != nil {
			return nil, err
		}
		saved = backup
	}
	if len(saved) == 0 && len(c.cfg.Keys) == 0 {
		return nil, nil
	}
	if len(saved) == 0 {
		if err := writeKeyringFile(c.KeyringPath(), c.cfg.Keys); err != nil {
			return nil, err
		}
		saved = c.cfg.Keys
	} else if len(c.cfg.Keys) > 0 && !bytes.Equal(saved[0], c.cfg.Keys[0]) {
		// A fingerprint, never key material, goes into logs.
		setting := c.cfg.KeysSetting
		if setting == "" {
			setting = "the configured key"
		}
		c.keyWarn = fmt.Sprintf("gossip: the keyring saved in %s (primary key fingerprint %s) differs from %s (fingerprint %s); the saved keyring is used",
			c.KeyringPath(), keyFingerprint(saved[0]), setting, keyFingerprint(c.cfg.Keys[0]))
		c.log.Warn().Msg(c.keyWarn)
	}
	kr, err := memberlist.NewKeyring(saved, saved[0])
	if err != nil {
		return nil, fmt.Errorf("gossip: keyring %s: %w", c.KeyringPath(), err)
	}
	if err := c.backupKeyring(); err != nil {
		return nil, err
	}
	return kr, nil
}

// HasSavedKeyring tells whether a node with data directory dataDir has a
// gossip keyring of its own (saved by an earlier start with a key, or by a
// key rotation, or its backup): such a node encrypts gossip with it even
// when no key is configured.
func HasSavedKeyring(dataDir string) bool {
	path := filepath.Join(dataDir, keyringFileName)
	for _, p := range []string{path, path + ".bak"} {
		if keys, err := readKeyringFile(p); err == nil && len(keys) > 0 {
			return true
		}
	}
	return false
}

// keyringFileName is the keyring's file in the data directory.
const keyringFileName = "keyring.json"

// keyringBackupPath is where backupKeyring keeps a copy of the keyring.
func (c *Cluster) keyringBackupPath() string { return c.KeyringPath() + ".bak" }

// backupKeyring copies the saved keyring to its backup when the file
// changed since the last copy, atomically (new file, fsync, rename). serf
// saves the keyring itself, in its handlers of key operations, right
// after each change, but by truncating the file and writing it again: a
// crash in between would leave a node that knows none of its keys, so the
// backup stays whole. It reads the file, never memberlist's keyring,
// which key operations change in place. A file caught while serf writes
// it does not parse, and is copied at a later call. It runs at start,
// before a node answers the keyring query that ends every key operation,
// and a few times a second.
func (c *Cluster) backupKeyring() error {
	c.backupMu.Lock()
	defer c.backupMu.Unlock()
	fi, err := os.Stat(c.KeyringPath())
	if err != nil {
		return nil // no keyring
	}
	if last := c.backupOf; last != nil && os.SameFile(fi, last) && fi.ModTime().Equal(last.ModTime()) && fi.Size() == last.Size() {
		return nil
	}
	keys, err := readKeyringFile(c.KeyringPath())
	if err != nil || len(keys) == 0 {
		return nil // being written
	}
	if err := writeKeyringFile(c.keyringBackupPath(), keys); err != nil {
		return err
	}
	c.backupOf = fi
	return nil
}

// KeyWarning is the warning given at start when the saved keyring differs
// from the configured key, or empty.
func (c *Cluster) KeyWarning() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keyWarn
}

func readKeyringFile(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gossip: read keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, fmt.Errorf("gossip: keyring %s is not a JSON list of base64 keys: %w", path, err)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, e := range encoded {
		k, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			return nil, fmt.Errorf("gossip: keyring %s: key %d is not base64: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip: keyring %s holds no keys", path)
	}
	return keys, nil
}

func writeKeyringFile(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return fmt.Errorf("gossip: write keyring: %w", err)
	}
	if err := replaceFile(filepath.Dir(path), filepath.Base(path), b, ""); err != nil {
		return fmt.Errorf("gossip: write keyring: %w", err)
	}
	return nil
}

// keyFingerprint names a key without revealing it: the first 8 hex digits
// of its SHA-256.
func keyFingerprint(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:4])
}
