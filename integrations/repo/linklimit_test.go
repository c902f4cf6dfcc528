package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/osflow/osflow/internal/testtool"
)

// nlink is the link count of the file at p.
func nlink(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

// hostileFiles lists n paths under one checksum, as a hostile repo lists
// another repo's package under many hrefs, with its repomd.xml.
func hostileFiles(t *testing.T, s *Store, n int, content string) []File {
	t.Helper()
	files := []File{addPool(t, s, "repodata/repomd.xml", "hostile repomd")}
	obj := addPool(t, s, "Packages/0.rpm", content)
	for i := range n {
		f := obj
		f.Path = fmt.Sprintf("Packages/%d/x%d.rpm", i%3, i)
		files = append(files, f)
	}
	return files
}

// TestCommitSnapshotStaysWithinTheLinkLimit: a repo listing one checksum
// under more names than the link limit links the pool object at most that
// many times and a copy for each further limit's worth, every file still
// with its content; another repo's commit of the object is unharmed.
func TestCommitSnapshotStaysWithinTheLinkLimit(t *testing.T) {
	s := newStore(t)
	s.LinkLimit = 10
	files := hostileFiles(t, s, 35, "rpm a")
	snap, err := s.CommitSnapshot(Snapshot{Repo: "hostile", Repomd: sha("hostile repomd"), CreatedAt: t0}, files, nil)
	require.NoError(t, err)

	obj := s.PoolPath(files[1].Checksum)
	require.Equal(t, uint64(1+10), nlink(t, obj), "the pool's own link and the limit's")
	inodes := map[uint64]int{}
	for _, f := range files[1:] {
		p := filepath.Join(s.Root(), "snapshots", "hostile", snap.ID, f.Path)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, "rpm a", string(b), f.Path)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o444), fi.Mode().Perm())
		inodes[fi.Sys().(*syscall.Stat_t).Ino]++
	}
	require.Len(t, inodes, 4, "35 names: the pool object and three copies")
	for ino, n := range inodes {
		require.LessOrEqual(t, n, 10, "inode %d", ino)
	}

	legit := commit(t, s, "baseos", t0, map[string]string{"repodata/repomd.xml": "repomd", "Packages/a.rpm": "rpm a"})
	require.Equal(t, uint64(1+10+1), nlink(t, obj))
	require.Equal(t, "baseos", legit.Repo)
	require.Empty(t, tmpEntries(t, s))
}

// TestCommitSnapshotCopiesAnObjectAtTheFilesystemLimit: a pool object that
// other snapshots took to the filesystem's own limit (EMLINK) is copied,
// not linked, and the commit goes through. Needs a filesystem with a link
// limit (ext4: 65,000).
func TestCommitSnapshotCopiesAnObjectAtTheFilesystemLimit(t *testing.T) {
	s := newStore(t)
	f := addPool(t, s, "Packages/a.rpm", "rpm a")
	obj := s.PoolPath(f.Checksum)
	dir := t.TempDir()
	for i := 0; ; i++ {
		err := unix.Link(obj, filepath.Join(dir, fmt.Sprint(i)))
		if err == unix.EMLINK {
			break
		}
		require.NoError(t, err)
		if i > 70000 {
			// make test's machines store on ext4, whose limit is 65,000.
			testtool.Missing(t, fmt.Sprintf("the filesystem of %s has no link limit under 70,000", dir))
		}
	}
	snap := commit(t, s, "baseos", t0, map[string]string{"repodata/repomd.xml": "repomd", "Packages/a.rpm": "rpm a"})
	b, err := os.ReadFile(filepath.Join(s.Root(), "snapshots", "baseos", snap.ID, "Packages", "a.rpm"))
	require.NoError(t, err)
	require.Equal(t, "rpm a", string(b))
}
