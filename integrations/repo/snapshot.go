package repo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

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
// rename. Every file must already be in the pool. Idempotent: an existing
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

	tree := s.tmpName("snapshot-" + snap.Repo + "-" + snap.ID)
	defer os.RemoveAll(tree) // a no-op once renamed into place
	if err := s.linkTree(tree, files); err != nil {
		return fail(err)
	}

	repoDir := s.path("snapshots", snap.Repo)
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		return fail(err)
	}
	dir := s.snapshotDir(snap.Repo, snap.ID)
	if err := s.writeAtomic(dir+".manifest", 0o444, func(w io.Writer) error {
		return writeManifest(w, pkgs)
	}); err != nil {
		return fail(err)
	}
	if err := s.writeJSON(dir+".json", snap); err != nil {
		return fail(err)
	}
	// One syncfs covers the tree's links and directories; the manifest and
	// record were fsynced as they were written.
	if err := s.Sync(); err != nil {
		return fail(err)
	}
	err := renameNoReplace(tree, dir)
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

// linkTree hardlinks each file's pool object into tree at its path.
func (s *Store) linkTree(tree string, files []File) error {
	if err := os.Mkdir(tree, 0o755); err != nil {
		return err
	}
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if err := checkTreePath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("snapshot file path %q listed twice: %w", f.Path, ErrInvalid)
		}
		seen[f.Path] = true
		if !s.PoolHas(f.Checksum, f.Size) {
			return fmt.Errorf("file %s: pool object %s (%d bytes): %w", f.Path, f.Checksum, f.Size, ErrNotFound)
		}
		dst := filepath.Join(tree, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if err := os.Link(s.PoolPath(f.Checksum), dst); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("pool object %s: %w", f.Checksum, ErrNotFound)
			}
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	return nil
}

// Manifest returns a snapshot's packages.
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
