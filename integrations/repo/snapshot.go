package repo

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// KeyPath is where a snapshot serves the OpenPGP key a client imports for
// the repo (`gpgkey=` in `osflow repo files`): the configured key, or
// upstream's own (OBS-built repos publish it there).
const KeyPath = "repodata/repomd.xml.key"

// SnapshotID derives a snapshot's ID from the sha256 of its repomd.xml, so
// an unchanged upstream maps onto the snapshot it already has.
func SnapshotID(repomdSHA256 string) string {
	id := strings.ToLower(repomdSHA256)
	if len(id) > 16 {
		id = id[:16]
	}
	return id
}

func (s *Store) snapshotDir(repo, id string) string { return s.path("snapshots", repo, id) }

// Snapshot reads a snapshot's record; ErrNotFound if absent.
func (s *Store) Snapshot(repo, id string) (Snapshot, error) {
	if err := CheckRepoName(repo); err != nil {
		return Snapshot{}, err
	}
	if err := checkSnapshotID(id); err != nil {
		return Snapshot{}, err
	}
	return s.readSnapshot(repo, id)
}

// readSnapshot treats the directory as the commit marker: the manifest and
// record are written before it appears, so they exist whenever it does.
func (s *Store) readSnapshot(repo, id string) (Snapshot, error) {
	dir := s.snapshotDir(repo, id)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Snapshot{}, fmt.Errorf("snapshot %s/%s: %w", repo, id, ErrNotFound)
	}
	var snap Snapshot
	if err := readJSON(dir+".json", &snap); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s/%s: %w", repo, id, err)
	}
	return snap, nil
}

// Snapshots lists a repo's committed snapshots, newest first; ErrNotFound
// if the repo has none.
func (s *Store) Snapshots(repo string) ([]Snapshot, error) {
	if err := CheckRepoName(repo); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.path("snapshots", repo))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("snapshots of repo %s: %w", repo, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshots of repo %s: %w", repo, err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && checkSnapshotID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return readNewestFirst(ids,
		func(id string) (Snapshot, error) { return s.readSnapshot(repo, id) },
		func(snap Snapshot) (time.Time, string) { return snap.CreatedAt, snap.ID })
}

// CommitSnapshot builds snapshots/<repo>/<snap.ID>/ from hardlinks to pool
// objects, writes the manifest and the record, and makes it visible with one
// rename. Every file must already be in the pool: a missing object fails
// the commit with ErrNotFound, while sizes are taken as listed (the mirror
// checks them as it plans its downloads). Idempotent: an existing
// snapshot with the same ID is returned as is.
//
// An empty snap.ID is derived from snap.Repomd, an empty CreatedAt is now,
// and Packages and Bytes are filled in from pkgs and files.
func (s *Store) CommitSnapshot(snap Snapshot, files []File, pkgs []Package) (Snapshot, error) {
	if snap.ID == "" {
		snap.ID = SnapshotID(snap.Repomd)
	}
	if err := CheckRepoName(snap.Repo); err != nil {
		return Snapshot{}, fmt.Errorf("commit snapshot: %w", err)
	}
	if err := checkSnapshotID(snap.ID); err != nil {
		return Snapshot{}, fmt.Errorf("commit snapshot of %s: %w", snap.Repo, err)
	}
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("commit snapshot %s/%s: %w", snap.Repo, snap.ID, err)
	}
	if existing, err := s.readSnapshot(snap.Repo, snap.ID); err == nil {
		return existing, nil
	}
	if len(files) == 0 {
		return fail(fmt.Errorf("no files: %w", ErrInvalid))
	}
	if snap.CreatedAt.IsZero() {
		snap.CreatedAt = time.Now()
	}
	snap.CreatedAt = snap.CreatedAt.UTC()
	snap.Packages = len(pkgs)
	snap.Bytes = 0
	for _, f := range files {
		snap.Bytes += f.Size
	}

	tree, done, err := s.stagingDir("snapshot-" + snap.Repo + "-" + snap.ID)
	if err != nil {
		return fail(err)
	}
	defer done()
	if err := s.linkTree(tree, files); err != nil {
		return fail(err)
	}

	repoDir := s.path("snapshots", snap.Repo)
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		return fail(err)
	}
	dir := s.snapshotDir(snap.Repo, snap.ID)
	if err := s.writeUnsynced(dir+".manifest", 0o444, func(w io.Writer) error {
		return writeManifest(w, sortedByNameArch(pkgs))
	}); err != nil {
		return fail(err)
	}
	if err := s.writeUnsynced(dir+".json", 0o644, jsonFill(snap)); err != nil {
		return fail(err)
	}
	// One syncfs covers the pool objects the tree links (a mirror adds
	// them unsynced), the tree's links and directories, the manifest and
	// the record, before the rename makes the snapshot visible.
	if err := s.Sync(); err != nil {
		return fail(err)
	}
	err = renameNoReplace(tree, dir)
	if errors.Is(err, os.ErrExist) {
		return s.readSnapshot(snap.Repo, snap.ID) // a concurrent commit won
	}
	if err != nil {
		return fail(err)
	}
	if err := syncDir(repoDir); err != nil {
		return fail(err)
	}
	return snap, nil
}

// linkWorkers is how many goroutines link a snapshot tree, each into its
// own directory at a time: a link holds its directory's lock, but links
// into different directories, and reads of pool inodes not in the cache,
// overlap.
const linkWorkers = 4

// linkTree hardlinks each file's pool object into tree, an empty
// directory, at its path. It
// checks every path and creates the directories first, then links
// relative to open directories, so that the kernel walks one name per
// link instead of two paths.
//
// No snapshot adds more than the store's link limit of links to one pool
// object: a repo listing one checksum under many paths (hostile, or a
// tree of identical files) gets a copy of the object for each further
// limit's worth, linked within its own tree. And a pool object at the
// filesystem's limit (EMLINK) is copied instead of linked. So no repo's
// content can make another repo's commit fail.
func (s *Store) linkTree(tree string, files []File) error {
	type link struct {
		srcDir, dstDir int
		src, dst       string
	}
	links := make([]link, len(files))
	// uses counts this tree's links to each object; overflow lists the
	// files past the limit, each linked to a copy (see linkOverflow).
	uses := map[string]int{}
	var overflow []int
	over := make([]bool, len(files))
	seen := make(map[string]struct{}, len(files))
	dirs := dirFDs{}
	defer dirs.close()
	made := map[string]bool{".": true}
	for i, f := range files {
		if err := checkTreePath(f.Path); err != nil {
			return err
		}
		if _, dup := seen[f.Path]; dup {
			return fmt.Errorf("snapshot file path %q listed twice: %w", f.Path, ErrInvalid)
		}
		seen[f.Path] = struct{}{}
		n, err := normChecksum(f.Checksum)
		if err != nil {
			return missingObject(f)
		}
		srcDir, err := dirs.open(s.shardDir(n))
		if errors.Is(err, os.ErrNotExist) {
			return missingObject(f)
		}
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		dir, name := path.Split(f.Path)
		if err := mkdirTree(tree, path.Clean(dir), made); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		dstDir, err := dirs.open(tree + "/" + dir)
		if err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		links[i] = link{srcDir: srcDir, dstDir: dstDir, src: n.Hex, dst: name}
		if uses[n.Hex]++; uses[n.Hex] > s.linkLimit() {
			overflow, over[i] = append(overflow, i), true
		}
	}
	// Largest directories first, so that the last one does not run alone.
	byDir := map[int][]int{}
	for i, l := range links {
		if !over[i] {
			byDir[l.dstDir] = append(byDir[l.dstDir], i)
		}
	}
	groups := slices.SortedFunc(maps.Values(byDir), func(a, b []int) int { return len(b) - len(a) })
	err := parallel(len(groups), linkWorkers, func(g int) error {
		for _, i := range groups[g] {
			l, f := links[i], files[i]
			err := unix.Linkat(l.srcDir, l.src, l.dstDir, l.dst, 0)
			if errors.Is(err, unix.EMLINK) {
				// Other snapshots took the object to the filesystem's
				// limit: this one gets a copy of its own.
				err = copyObject(l.srcDir, l.src, l.dstDir, l.dst)
			}
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					return missingObject(f)
				}
				return fmt.Errorf("file %s: %w", f.Path, &os.LinkError{Op: "link", Old: s.PoolPath(f.Checksum), New: tree + "/" + f.Path, Err: err})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.linkOverflow(tree, files, overflow, func(i int) (int, string, int, string) {
		l := links[i]
		return l.srcDir, l.src, l.dstDir, l.dst
	})
}

// linkOverflow links the files of a tree past the link limit of their
// pool object: the first of each limit's worth gets a copy of the object,
// and the others link that copy. In order, after the parallel links.
func (s *Store) linkOverflow(tree string, files []File, overflow []int, at func(i int) (srcDir int, src string, dstDir int, dst string)) error {
	type copied struct {
		dir   int
		name  string
		links int
	}
	copies := map[string]*copied{}
	for _, i := range overflow {
		srcDir, src, dstDir, dst := at(i)
		c := copies[src]
		var err error
		if c == nil || c.links >= s.linkLimit() {
			err = copyObject(srcDir, src, dstDir, dst)
			c = &copied{dir: dstDir, name: dst}
			copies[src] = c
		} else {
			err = unix.Linkat(c.dir, c.name, dstDir, dst, 0)
		}
		if err != nil {
			f := files[i]
			return fmt.Errorf("file %s: copy of pool object %s: %w", f.Path, f.Checksum, &os.LinkError{Op: "link", Old: s.PoolPath(f.Checksum), New: tree + "/" + f.Path, Err: err})
		}
		c.links++
	}
	return nil
}

// copyObject copies the pool object src in srcDir to a new read-only
// file dst in dstDir, a file of its own (copy_file_range: a reflink where
// the filesystem shares extents).
func copyObject(srcDir int, src string, dstDir int, dst string) error {
	in, err := unix.Openat(srcDir, src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	r := os.NewFile(uintptr(in), src)
	defer r.Close()
	out, err := unix.Openat(dstDir, dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return err
	}
	w := os.NewFile(uintptr(out), dst)
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// dirFDs holds directories open for *at system calls, by path.
type dirFDs map[string]int

// open returns the descriptor of dir, opening it the first time.
func (d dirFDs) open(dir string) (int, error) {
	if fd, ok := d[dir]; ok {
		return fd, nil
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	d[dir] = fd
	return fd, nil
}

func (d dirFDs) close() {
	for _, fd := range d {
		unix.Close(fd)
	}
}

// missingObject is the error for a file whose pool object is not there.
func missingObject(f File) error {
	return fmt.Errorf("file %s: pool object %s (%d bytes): %w", f.Path, f.Checksum, f.Size, ErrNotFound)
}

// mkdirTree creates dir (slash-separated, relative to tree) and its
// parents, skipping those that made records.
func mkdirTree(tree, dir string, made map[string]bool) error {
	if made[dir] {
		return nil
	}
	if err := mkdirTree(tree, path.Dir(dir), made); err != nil {
		return err
	}
	if err := os.Mkdir(tree+"/"+dir, 0o755); err != nil {
		return err
	}
	made[dir] = true
	return nil
}

// parallel calls fn(i) for every i in [0, n) on up to workers goroutines
// and returns the first error; after one, the remaining calls are skipped.
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	g := errgroup.Group{}
	for range min(workers, n) {
		g.Go(func() error {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return nil
				}
				if err := fn(i); err != nil {
					failed.Store(true)
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// sortedByNameArch is pkgs in name.arch order, keeping the order of
// packages that share one, so that a diff needs no sort; pkgs itself is
// left as it is.
func sortedByNameArch(pkgs []Package) []Package {
	byNameArch := func(a, b Package) int { return compareNameArch(&a, &b) }
	if slices.IsSortedFunc(pkgs, byNameArch) {
		return pkgs
	}
	sorted := slices.Clone(pkgs)
	slices.SortStableFunc(sorted, byNameArch)
	return sorted
}

// Manifest returns a snapshot's packages, in name.arch order unless the
// snapshot was committed before manifests were written sorted.
func (s *Store) Manifest(repo, id string) ([]Package, error) {
	if _, err := s.Snapshot(repo, id); err != nil {
		return nil, err
	}
	pkgs, err := readManifest(s.snapshotDir(repo, id) + ".manifest")
	if err != nil {
		return nil, fmt.Errorf("manifest of snapshot %s/%s: %w", repo, id, err)
	}
	return pkgs, nil
}
