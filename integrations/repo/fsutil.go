package repo

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// tmpName is a fresh path under the store's tmp/, where every staged
// entry lives so that one sweep in GC finds whatever a crash left behind.
func (s *Store) tmpName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(s.TempDir(), prefix+"-"+hex.EncodeToString(b[:]))
}

// writeAtomic writes dst through a synced temporary file and a rename, so
// a reader sees the old content or the whole new one, never a prefix.
func (s *Store) writeAtomic(dst string, perm os.FileMode, fill func(w io.Writer) error) error {
	return s.writeFile(dst, perm, true, fill)
}

// writeUnsynced is writeAtomic without the fsync, for a caller that syncs
// the store before anything depends on dst.
func (s *Store) writeUnsynced(dst string, perm os.FileMode, fill func(w io.Writer) error) error {
	return s.writeFile(dst, perm, false, fill)
}

func (s *Store) writeFile(dst string, perm os.FileMode, sync bool, fill func(w io.Writer) error) error {
	f, err := os.CreateTemp(s.TempDir(), filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	bw := bufio.NewWriterSize(f, 64<<10)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// writeJSON writes v as indented JSON to dst atomically.
func (s *Store) writeJSON(dst string, v any) error {
	return s.writeAtomic(dst, 0o644, jsonFill(v))
}

// jsonFill writes v as indented JSON.
func jsonFill(v any) func(w io.Writer) error {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
}

// readJSON decodes the JSON file at p into v, mapping absence to ErrNotFound.
func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", p, err)
	}
	return nil
}

// symlinkAtomic points dst at target by renaming a fresh symlink over it:
// rename(2) replaces dst in one step, so dst never stops resolving.
func (s *Store) symlinkAtomic(target, dst string) error {
	tmp := s.tmpName("link")
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s -> %s: %w", dst, target, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s -> %s: %w", dst, target, err)
	}
	return nil
}

// renameNoReplace moves oldPath to newPath unless newPath exists, in which
// case the error satisfies errors.Is(err, os.ErrExist). Commits rely on it
// so that a concurrent committer of the same ID can never be overwritten.
func renameNoReplace(oldPath, newPath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldPath, unix.AT_FDCWD, newPath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The filesystem lacks RENAME_NOREPLACE: a plain rename of a
		// directory still fails onto a non-empty one, and a commit's
		// directory is never empty.
		if _, serr := os.Lstat(newPath); serr == nil {
			return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: unix.EEXIST}
		}
		err = os.Rename(oldPath, newPath)
		if errors.Is(err, unix.ENOTEMPTY) {
			err = &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: unix.EEXIST}
		}
		return err
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
	}
	return nil
}

// syncDir fsyncs a directory so that renames into it survive a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeTree makes dir invisible with one rename into tmp/ and then deletes
// it, so no reader ever sees a half-deleted snapshot or release.
func (s *Store) removeTree(dir string) error {
	grave := s.tmpName("gc")
	if err := os.Rename(dir, grave); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if err := os.RemoveAll(grave); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
