package gossip

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// state is what a node keeps on disk about its cluster.
type state struct {
	Cluster      string      `json:"cluster"`
	Name         string      `json:"name"`
	NodeID       string      `json:"nodeId"`
	Members      []Member    `json:"members"`
	Unregistered []Tombstone `json:"unregistered"`
	// Exiled are the peers of a cluster this node was unregistered from:
	// their gossip is refused until an explicit register-node lifts it.
	Exiled []Tombstone `json:"exiled,omitempty"`
	// LastSeen is when this node last had a live registered peer, within
	// lastSeenRefresh: a node away for longer than tombstones are kept
	// rejoins only through peers that still have it registered (Admit).
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// envelope guards the state with a checksum, so a truncated or altered
// file is detected rather than read as a shorter member list.
type envelope struct {
	Format int             `json:"format"`
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

const (
	stateFile   = "cluster-state.json"
	backupFile  = "cluster-state.json.bak"
	probeFile   = ".write-probe"
	stateFormat = 1
)

// store reads and writes the state file. Writes are atomic: a new file is
// written and synced beside the old one, the old one becomes the backup
// (a second name for it), the new one takes its name, and the directory is
// synced. The main name always holds a complete file, and a crash at any
// point leaves one under both names or the main one.
type store struct {
	dir string
}

// errNoState means the directory holds no state yet: a new node.
var errNoState = errors.New("gossip: no cluster state")

func (s store) path(name string) string { return filepath.Join(s.dir, name) }

// load reads the state, falling back to the backup when the main file is
// missing or damaged. warn describes a fallback.
func (s store) load() (st state, warn string, err error) {
	st, err = s.read(stateFile)
	if err == nil {
		return st, "", nil
	}
	mainErr := err
	bst, berr := s.read(backupFile)
	switch {
	case berr == nil && errors.Is(mainErr, fs.ErrNotExist):
		// A main file removed by hand, or a crash between the two renames
		// where the file system has no hard links: the backup is the latest.
		return bst, "", nil
	case berr == nil:
		return bst, fmt.Sprintf("gossip: %s is unreadable (%v); using the backup %s, which may miss the last change", s.path(stateFile), mainErr, s.path(backupFile)), nil
	case errors.Is(mainErr, fs.ErrNotExist) && errors.Is(berr, fs.ErrNotExist):
		return state{}, "", errNoState
	case errors.Is(mainErr, fs.ErrNotExist):
		return state{}, "", fmt.Errorf("gossip: %s is missing and its backup is unreadable: %w", s.path(stateFile), berr)
	default:
		return state{}, "", fmt.Errorf("gossip: cluster state %s is damaged (%w) and no usable backup exists; "+
			"refusing to start with an empty member list: restore the file, or move the directory away to start as a new node", s.path(stateFile), mainErr)
	}
}

func (s store) read(name string) (state, error) {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return state{}, err
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return state{}, fmt.Errorf("gossip: %s: not valid JSON (truncated?): %w", name, err)
	}
	if env.Format != stateFormat {
		return state{}, fmt.Errorf("gossip: %s: unknown format %d", name, env.Format)
	}
	// The checksum covers the compact form: files written indented by
	// earlier versions load too.
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.State); err != nil {
		return state{}, fmt.Errorf("gossip: %s: %w", name, err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if hex.EncodeToString(sum[:]) != env.SHA256 {
		return state{}, fmt.Errorf("gossip: %s: checksum mismatch", name)
	}
	var st state
	if err := json.Unmarshal(env.State, &st); err != nil {
		return state{}, fmt.Errorf("gossip: %s: %w", name, err)
	}
	return st, nil
}

func (s store) save(st state) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("gossip: encode state: %w", err)
	}
	sum := sha256.Sum256(raw)
	// What json.Marshal(envelope{...}) writes, without validating and
	// copying the state a second time.
	b := make([]byte, 0, len(raw)+128)
	b = fmt.Appendf(b, `{"format":%d,"sha256":"%s","state":`, stateFormat, hex.EncodeToString(sum[:]))
	b = append(append(b, raw...), '}')
	if err := replaceFile(s.dir, stateFile, b, backupFile); err != nil {
		return fmt.Errorf("gossip: save state: %w", err)
	}
	return nil
}

// probe checks that the directory takes a write as save needs it: a
// small file is created, written and removed. It is not synced: a full or
// read-only file system refuses the create or the write, and a probe
// every few seconds should cost no disk write of its own.
func (s store) probe() error {
	f, err := os.CreateTemp(s.dir, probeFile+"-*")
	if err != nil {
		return fmt.Errorf("gossip: write to %s: %w", s.dir, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write([]byte("roster\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gossip: write to %s: %w", s.dir, err)
	}
	return nil
}

// reset removes the state (a node that was unregistered starts afresh).
func (s store) reset() error {
	for _, n := range []string{stateFile, backupFile} {
		if err := os.Remove(s.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("gossip: reset state: %w", err)
		}
	}
	return nil
}
