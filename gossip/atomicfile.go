package gossip

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// replaceFile puts b in dir/name so that a crash at any moment leaves
// either the old file or the new one, never a mix: it writes a temporary
// file in dir, syncs it, renames it over name and syncs dir. With backup
// set, the old file is kept as backup first (a missing one is fine).
// The file is readable by its owner only.
func replaceFile(dir, name string, b []byte, backup string) error {
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if backup != "" {
		// The old file becomes the backup by a second name (a hard link),
		// so that name always holds a whole file, for readers too; where
		// the file system has no hard links, by a rename.
		bak := filepath.Join(dir, backup)
		if err := os.Remove(bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Link(path, bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(path, bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
