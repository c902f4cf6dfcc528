package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// stagingDir makes a fresh directory tmp/<key>-<random> to build a tree
// in, and holds an exclusive flock(2) on it until done is called; done
// also removes the directory unless it was renamed into place. First it
// removes every staging directory of the same key whose lock nobody holds:
// what a crashed attempt of the same commit left behind, which a retry
// would otherwise leave for GC to find an hour later. A live attempt
// holds its lock, so its directory is never touched; a dead process holds
// none, because the kernel drops a lock with the last descriptor.
func (s *Store) stagingDir(key string) (dir string, done func(), err error) {
	s.sweepStaging(key)
	final := s.tmpName(key)
	// The directory gets its name only once locked, so that a sweep
	// running at the same moment cannot mistake it for a dead one.
	unlocked := final + ".new"
	if err := os.Mkdir(unlocked, 0o755); err != nil {
		return "", nil, err
	}
	fd, err := lockDir(unlocked, unix.LOCK_EX)
	if err == nil {
		if err = os.Rename(unlocked, final); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		os.Remove(unlocked)
		return "", nil, err
	}
	return final, func() {
		os.RemoveAll(final) // nothing there once renamed into place
		unix.Close(fd)
	}, nil
}

// sweepStaging removes the staging directories of key that no live
// process holds. Best effort: what it cannot remove, GC will.
func (s *Store) sweepStaging(key string) {
	entries, err := os.ReadDir(s.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), key+"-")
		if !ok || !e.IsDir() || len(suffix) != 16 || strings.Trim(suffix, "0123456789abcdef") != "" {
			continue
		}
		p := filepath.Join(s.TempDir(), e.Name())
		fd, err := lockDir(p, unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			continue // held by a live attempt, or gone
		}
		os.RemoveAll(p)
		unix.Close(fd)
	}
}

// lockDir opens the directory p and takes flock(2) on it with how.
func lockDir(p string, how int) (int, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("lock %s: %w", p, err)
	}
	return fd, nil
}
