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

	"github.com/hashicorp/memberlist"
)

// keyringLocked builds memberlist's keyring. A keyring saved in the data
// directory (serf rewrites it on every key change) wins over the configured
// key, so a node restarted after a key rotation still talks to its cluster.
func (c *Cluster) keyringLocked() (*memberlist.Keyring, error) {
	saved, err := readKeyringFile(c.KeyringPath())
	if err != nil {
		return nil, err
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
		c.keyWarn = fmt.Sprintf("gossip: the keyring saved in %s (primary key fingerprint %s) differs from axoniq.axonserver.cluster.encryption-key (fingerprint %s); the saved keyring is used",
			c.KeyringPath(), keyFingerprint(saved[0]), keyFingerprint(c.cfg.Keys[0]))
		c.log.Warn().Msg(c.keyWarn)
	}
	kr, err := memberlist.NewKeyring(saved, saved[0])
	if err != nil {
		return nil, fmt.Errorf("gossip: keyring %s: %w", c.KeyringPath(), err)
	}
	return kr, nil
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
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("gossip: write keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
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
