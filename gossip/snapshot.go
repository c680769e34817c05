package gossip

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// prepareSnapshot readies serf's snapshot for a new serf and returns its
// path, or "" to run serf without one.
//
// serf's snapshot keeps its Lamport clocks, which roster wants, and the
// nodes it last saw alive, which serf joins by itself at start straight
// through gossip. roster rejoins only through introductions (rejoin.go),
// which a node that no longer has this one registered refuses (Admit), so
// a node unregistered while it was down cannot slip back in through its
// old snapshot: the alive lines are dropped before serf reads the file.
// When the file cannot be prepared (a read-only or full data directory),
// serf runs without a snapshot rather than not at all.
func (c *Cluster) prepareSnapshot() string {
	path := c.snapshotPath()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		c.log.Warn().Err(err).Msg("gossip: cannot read serf's snapshot; running without one")
		return ""
	default:
		if kept, dropped := dropAliveLines(b); dropped {
			if err := replaceFile(filepath.Dir(path), filepath.Base(path), kept, ""); err != nil {
				c.log.Warn().Err(err).Msg("gossip: cannot rewrite serf's snapshot; running without one")
				return ""
			}
		}
	}
	// serf opens it to append and fails to start if it cannot.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.log.Warn().Err(err).Msg("gossip: cannot open serf's snapshot; running without one")
		return ""
	}
	_ = f.Close()
	return path
}

// dropAliveLines removes serf's "alive: name addr" lines from a snapshot.
func dropAliveLines(b []byte) ([]byte, bool) {
	var out bytes.Buffer
	dropped := false
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, []byte("alive: ")) {
			dropped = true
			continue
		}
		out.Write(line)
	}
	return out.Bytes(), dropped
}
