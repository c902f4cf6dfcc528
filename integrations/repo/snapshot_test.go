package repo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCommitSnapshotLinksThePool(t *testing.T) {
	s := newStore(t)
	snap := commit(t, s, "base", t0, map[string]string{
		"repodata/repomd.xml":     "repomd",
		"Packages/a/a.noarch.rpm": "rpm a",
	}, pkg("a", "", "1", "1", "noarch", sha("rpm a")))

	require.Equal(t, SnapshotID(sha("repomd")), snap.ID)
	require.Len(t, snap.ID, 16)
	require.Equal(t, 1, snap.Packages)
	require.Equal(t, int64(len("repomd")+len("rpm a")), snap.Bytes)

	inTree, err := os.Stat(filepath.Join(s.Root(), "snapshots", "base", snap.ID, "Packages", "a", "a.noarch.rpm"))
	require.NoError(t, err)
	inPool, err := os.Stat(s.PoolPath(Checksum{Algo: "sha256", Hex: sha("rpm a")}))
	require.NoError(t, err)
	require.True(t, os.SameFile(inTree, inPool), "snapshot file must be a hardlink to the pool object")

	got, err := s.Snapshot("base", snap.ID)
	require.NoError(t, err)
	require.Equal(t, snap, got)
	m, err := s.Manifest("base", snap.ID)
	require.NoError(t, err)
	require.Equal(t, []Package{pkg("a", "", "1", "1", "noarch", sha("rpm a"))}, m)
	require.Empty(t, tmpEntries(t, s))
}

func TestCommitSnapshotIsIdempotent(t *testing.T) {
	s := newStore(t)
	files := map[string]string{"repodata/repomd.xml": "repomd"}
	first := commit(t, s, "base", t0, files)
	second := commit(t, s, "base", t0.Add(time.Hour), files)
	require.Equal(t, first, second, "an existing snapshot is returned as it was recorded")
}

func TestCommitSnapshotMissingPoolObject(t *testing.T) {
	s := newStore(t)
	ok := addPool(t, s, "repodata/repomd.xml", "repomd")
	missing := File{Path: "Packages/b.rpm", Checksum: Checksum{Algo: "sha256", Hex: sha("never added")}, Size: 3}
	_, err := s.CommitSnapshot(Snapshot{Repo: "base", Repomd: sha("repomd")}, []File{ok, missing}, nil)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "Packages/b.rpm")

	id := SnapshotID(sha("repomd"))
	_, err = s.Snapshot("base", id)
	require.ErrorIs(t, err, ErrNotFound)
	for _, p := range []string{id, id + ".manifest", id + ".json"} {
		require.False(t, exists(filepath.Join(s.Root(), "snapshots", "base", p)), p)
	}
	require.Empty(t, tmpEntries(t, s))
}

func TestCommitSnapshotRefusesBadPaths(t *testing.T) {
	s := newStore(t)
	for _, p := range []string{"", ".", "..", "../x", "/etc/passwd", "a/../b", "a//b", "a/./b", "a/", `a\b`} {
		f := addPool(t, s, p, "content")
		_, err := s.CommitSnapshot(Snapshot{Repo: "base", ID: "abc"}, []File{f}, nil)
		require.ErrorIs(t, err, ErrInvalid, "path %q", p)
	}
	f := addPool(t, s, "x", "content")
	_, err := s.CommitSnapshot(Snapshot{Repo: "base", ID: "abc"}, []File{f, f}, nil)
	require.ErrorIs(t, err, ErrInvalid, "a path listed twice")
	_, err = s.CommitSnapshot(Snapshot{Repo: "Base", ID: "abc"}, []File{f}, nil)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.CommitSnapshot(Snapshot{Repo: "base", ID: "../abc"}, []File{f}, nil)
	require.ErrorIs(t, err, ErrInvalid)
	require.False(t, exists(filepath.Join(s.Root(), "snapshots", "base", "abc")))
}

func TestSnapshotsNewestFirst(t *testing.T) {
	s := newStore(t)
	old := simpleSnapshot(t, s, "base", "old", t0)
	mid := simpleSnapshot(t, s, "base", "mid", t0.Add(time.Hour))
	young := simpleSnapshot(t, s, "base", "new", t0.Add(2*time.Hour))
	snaps, err := s.Snapshots("base")
	require.NoError(t, err)
	require.Equal(t, []Snapshot{young, mid, old}, snaps)

	_, err = s.Snapshots("nosuchrepo")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Manifest("base", "0000000000000000")
	require.ErrorIs(t, err, ErrNotFound)
}
