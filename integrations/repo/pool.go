package repo

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Checksum parts name directories under pool/, so only these bytes may
// appear in them (after lower-casing), and a digest has 32..128 of them.
const (
	minHexDigits = 32
	maxHexDigits = 128
)

func isAlgoByte(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }

func isHexByte(b byte) bool { return 'a' <= b && b <= 'f' || '0' <= b && b <= '9' }

// lowerASCII returns s lower-cased, and whether every byte of it then
// satisfies ok. It allocates only when s has upper-case letters.
func lowerASCII(s string, ok func(byte) bool) (string, bool) {
	upper := false
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
			upper = true
		}
		if !ok(b) {
			return s, false
		}
	}
	if upper {
		s = strings.ToLower(s)
	}
	return s, true
}

// normChecksum lower-cases c and refuses anything that could not be a
// digest, because its parts become path components under pool/. It runs
// for every file of every snapshot, hence the loop instead of a regexp.
func normChecksum(c Checksum) (Checksum, error) {
	algo, algoOK := lowerASCII(c.Algo, isAlgoByte)
	hex, hexOK := lowerASCII(c.Hex, isHexByte)
	if !algoOK || !hexOK || algo == "" || len(hex) < minHexDigits || len(hex) > maxHexDigits {
		return c, fmt.Errorf("checksum %q: %w", c.String(), ErrInvalid)
	}
	return Checksum{Algo: algo, Hex: hex}, nil
}

// poolPath is where the object with the normalised checksum n lives. The
// root is absolute and n holds no separator, so plain concatenation makes
// the path, without filepath.Join's cleaning.
func (s *Store) poolPath(n Checksum) string { return s.shardDir(n) + "/" + n.Hex }

// shardDir is the directory that holds the object with the normalised
// checksum n.
func (s *Store) shardDir(n Checksum) string { return s.root + "/pool/" + n.Algo + "/" + n.Hex[:2] }

// poolShard creates, once per store, the directory that holds the object
// with the normalised checksum n, and returns it.
func (s *Store) poolShard(n Checksum) (string, error) {
	dir := s.shardDir(n)
	if _, ok := s.shards.Load(dir); ok {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	s.shards.Store(dir, struct{}{})
	return dir, nil
}

// inShard runs op with the directory that holds the object with the
// normalised checksum n, making it again if op finds it gone: someone
// removed it since this store made it.
func (s *Store) inShard(n Checksum, op func(dir string) error) error {
	dir, err := s.poolShard(n)
	if err != nil {
		return err
	}
	err = op(dir)
	if errors.Is(err, os.ErrNotExist) {
		s.shards.Delete(dir)
		if dir, err = s.poolShard(n); err == nil {
			err = op(dir)
		}
	}
	return err
}

// PoolPath is where the pool keeps the object with checksum c, or "" when c
// is not a well-formed digest (such an object cannot be in the pool).
func (s *Store) PoolPath(c Checksum) string {
	n, err := normChecksum(c)
	if err != nil {
		return ""
	}
	return s.poolPath(n)
}

// PoolHas reports whether the pool holds c with the given size (size < 0: any size).
func (s *Store) PoolHas(c Checksum, size int64) bool {
	got, ok := s.PoolSize(c)
	return ok && (size < 0 || got == size)
}

// PoolSize returns the size of the pool's object with checksum c, and
// whether the pool has it: one look where PoolHas may take two.
func (s *Store) PoolSize(c Checksum) (size int64, ok bool) {
	p := s.PoolPath(c)
	if p == "" {
		return 0, false
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

// PoolAdd moves the already verified file tmpPath into the pool under c.
// If the object exists already, tmpPath is removed. Idempotent.
//
// The object is not fsynced here: call Sync once for a whole batch.
// PoolCreate is the faster way to add an object that is being written.
func (s *Store) PoolAdd(c Checksum, tmpPath string) error {
	n, err := normChecksum(c)
	if err != nil {
		return fmt.Errorf("pool add %s: %w", tmpPath, err)
	}
	fail := func(err error) error { return fmt.Errorf("pool add %s as %s: %w", tmpPath, c, err) }
	if err := os.Chmod(tmpPath, 0o444); err != nil {
		return fail(err)
	}
	// No-replace keeps an object that snapshots already hardlink: a plain
	// rename would swap in a new inode and silently double the space.
	dst := s.poolPath(n)
	err = s.inShard(n, func(string) error { return renameNoReplace(tmpPath, dst) })
	if errors.Is(err, os.ErrExist) {
		if fi, serr := os.Stat(tmpPath); serr == nil && damaged(dst, fi.Size()) {
			return s.replaceDamaged(dst, tmpPath)
		}
		if err := os.Remove(tmpPath); err != nil {
			return fail(err)
		}
		return nil
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// damaged reports whether the pool object at dst differs in size from the
// verified copy of size bytes that has the same checksum.
func damaged(dst string, size int64) bool {
	fi, err := os.Stat(dst)
	return err == nil && fi.Size() != size
}

// replaceDamaged renames the verified copy at verified over the pool object
// at dst. The existing object lost bytes (a crash before syncfs, a disk
// error): the verified copy replaces it, or every later commit would fail
// on it. Snapshots linking the damaged inode were damaged already.
func (s *Store) replaceDamaged(dst, verified string) error {
	if err := os.Rename(verified, dst); err != nil {
		return fmt.Errorf("pool replace damaged %s: %w", dst, err)
	}
	return nil
}

// PoolWriter writes one object into the pool. Its bytes go to a file that
// has no name until Commit links it into place, in the directory the
// object will live in, so a reader never sees a partial object and a
// crash or an Abort leaves nothing behind. Not safe for concurrent use.
type PoolWriter struct {
	s    *Store
	n    Checksum // normalised
	f    *os.File
	size int64
	// staged is the file's path in tmp/ where the filesystem cannot make
	// unnamed files; "" otherwise.
	staged string
	closed bool
}

// PoolCreate starts writing the object with checksum c into the pool. The
// caller writes the bytes, verifies them, and then calls Commit, or Abort
// to drop them; Abort after Commit is a no-op, so it can be deferred.
func (s *Store) PoolCreate(c Checksum) (*PoolWriter, error) {
	n, err := normChecksum(c)
	if err != nil {
		return nil, fmt.Errorf("pool create: %w", err)
	}
	w := &PoolWriter{s: s, n: n}
	if s.unnamedFiles() {
		err = s.inShard(n, func(dir string) (err error) {
			w.f, err = openUnnamed(dir)
			return err
		})
	} else {
		w.f, err = os.CreateTemp(s.TempDir(), "pool-*")
		if err == nil {
			w.staged = w.f.Name()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pool create %s: %w", c, err)
	}
	return w, nil
}

// openUnnamed opens a new file without a name in dir (O_TMPFILE). It is
// born read-only, as pool objects are: the descriptor still writes, and
// unless the umask takes bits off, a commit needs no chmod.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return nil, &os.PathError{Op: "open unnamed file in", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// unnamedFiles reports, probing once per store, whether the store's
// filesystem makes O_TMPFILE files and this process can link them: by
// descriptor (AT_EMPTY_PATH, which older kernels allow only with
// CAP_DAC_READ_SEARCH) or else through /proc.
func (s *Store) unnamedFiles() bool {
	s.unnamed.once.Do(func() {
		f, err := openUnnamed(s.TempDir())
		if err != nil {
			return
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			s.unnamed.readOnly = st.Mode().Perm() == 0o444
		}
		for _, byFD := range []bool{true, false} {
			probe := s.tmpName("probe")
			if linkUnnamed(f, probe, byFD) == nil {
				s.unnamed.ok, s.unnamed.byFD = true, byFD
				os.Remove(probe)
				return
			}
		}
	})
	return s.unnamed.ok
}

// linkUnnamed gives the unnamed file f the name dst, by descriptor or
// through /proc, failing with an error satisfying errors.Is(err,
// os.ErrExist) if dst exists.
func linkUnnamed(f *os.File, dst string, byFD bool) error {
	var err error
	if byFD {
		err = unix.Linkat(int(f.Fd()), "", unix.AT_FDCWD, dst, unix.AT_EMPTY_PATH)
	} else {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: dst, Err: err}
	}
	return nil
}

// Write adds p to the object.
func (w *PoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// Commit puts the object, whose bytes the caller has verified, into the
// pool read-only. If the pool has it already, the existing object is kept
// (snapshots may link it), unless its size shows it damaged, in which case
// this copy replaces it. The object is not durable until a Sync, which
// commits start in the background now and then (see paceWriteback) so
// that the Sync before a snapshot names the object has little left to do.
func (w *PoolWriter) Commit() error {
	if w.closed {
		return fmt.Errorf("pool commit %s: %w", w.n, os.ErrClosed)
	}
	err := w.commit()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.closed = true
	if err != nil {
		if w.staged != "" {
			os.Remove(w.staged)
		}
		return fmt.Errorf("pool commit %s: %w", w.n, err)
	}
	return nil
}

func (w *PoolWriter) commit() error {
	if w.staged != "" || !w.s.unnamed.readOnly {
		if err := w.f.Chmod(0o444); err != nil {
			return err
		}
	}
	w.s.paceWriteback(w.size)
	if w.staged != "" {
		return w.s.PoolAdd(w.n, w.staged)
	}
	dst := w.s.poolPath(w.n)
	byFD := w.s.unnamed.byFD
	err := w.s.inShard(w.n, func(string) error { return linkUnnamed(w.f, dst, byFD) })
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	if !damaged(dst, w.size) {
		return nil // the pool has it: this copy vanishes on close
	}
	tmp := w.s.tmpName("pool")
	if err := linkUnnamed(w.f, tmp, byFD); err != nil {
		return err
	}
	if err := w.s.replaceDamaged(dst, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Abort drops the object unless it was committed.
func (w *PoolWriter) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.f.Close()
	if w.staged != "" {
		os.Remove(w.staged)
	}
}

// writebackEvery is how many bytes PoolWriters commit between the
// background flushes they start. Flushing as the objects arrive keeps the
// disk busy while the network is, instead of after it: the Sync before a
// commit then waits for the last few MiB, not for the whole download.
const writebackEvery = 32 << 20

// paceWriteback counts n more bytes committed to the pool and, every
// writebackEvery bytes, starts a Sync in the background unless one is
// running. Best effort: only the Sync before a commit makes bytes durable.
func (s *Store) paceWriteback(n int64) {
	if s.unsynced.Add(n) < writebackEvery || !s.flushing.CompareAndSwap(false, true) {
		return
	}
	s.unsynced.Store(0)
	go func() {
		defer s.flushing.Store(false)
		_ = s.Sync()
	}()
}
