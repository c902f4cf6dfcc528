package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	algoName  = regexp.MustCompile(`^[a-z0-9]+$`)
	hexDigest = regexp.MustCompile(`^[0-9a-f]{32,128}$`)
)

// normChecksum lower-cases c and refuses anything that could not be a
// digest, because its parts become path components under pool/.
func normChecksum(c Checksum) (Checksum, error) {
	n := Checksum{Algo: strings.ToLower(c.Algo), Hex: strings.ToLower(c.Hex)}
	if !algoName.MatchString(n.Algo) || !hexDigest.MatchString(n.Hex) {
		return n, fmt.Errorf("checksum %q: %w", c.String(), ErrInvalid)
	}
	return n, nil
}

// PoolPath is where the pool keeps the object with checksum c, or "" when c
// is not a well-formed digest (such an object cannot be in the pool).
func (s *Store) PoolPath(c Checksum) string {
	n, err := normChecksum(c)
	if err != nil {
		return ""
	}
	return s.path("pool", n.Algo, n.Hex[:2], n.Hex)
}

// PoolHas reports whether the pool holds c with the given size (size < 0: any size).
func (s *Store) PoolHas(c Checksum, size int64) bool {
	p := s.PoolPath(c)
	if p == "" {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && (size < 0 || fi.Size() == size)
}

// PoolAdd moves the already verified file tmpPath into the pool under c.
// If the object exists already, tmpPath is removed. Idempotent.
//
// The object is not fsynced here: call Sync once for a whole batch.
func (s *Store) PoolAdd(c Checksum, tmpPath string) error {
	dst := s.PoolPath(c)
	if dst == "" {
		return fmt.Errorf("pool add %s: checksum %q: %w", tmpPath, c.String(), ErrInvalid)
	}
	if err := os.Chmod(tmpPath, 0o444); err != nil {
		return fmt.Errorf("pool add %s as %s: %w", tmpPath, c, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("pool add %s as %s: %w", tmpPath, c, err)
	}
	// No-replace keeps an object that snapshots already hardlink: a plain
	// rename would swap in a new inode and silently double the space.
	err := renameNoReplace(tmpPath, dst)
	if errors.Is(err, os.ErrExist) {
		if damaged(dst, tmpPath) {
			// The existing object lost bytes (a crash before syncfs, a disk
			// error): the verified copy replaces it, or every later commit
			// would fail on it. Snapshots linking the damaged inode were
			// damaged already.
			if err := os.Rename(tmpPath, dst); err != nil {
				return fmt.Errorf("pool replace damaged %s: %w", dst, err)
			}
			return nil
		}
		if err := os.Remove(tmpPath); err != nil {
			return fmt.Errorf("pool add %s as %s: %w", tmpPath, c, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pool add %s as %s: %w", tmpPath, c, err)
	}
	return nil
}

// damaged reports whether the pool object at dst differs in size from the
// verified file that has the same checksum.
func damaged(dst, verified string) bool {
	a, err1 := os.Stat(dst)
	b, err2 := os.Stat(verified)
	return err1 == nil && err2 == nil && a.Size() != b.Size()
}
