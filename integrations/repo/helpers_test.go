package repo

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is the fixed creation time test records start from.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	require.NoError(t, err)
	return s
}

func sha(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// addPool stages content in tmp/ and adds it to the pool, as the mirror does.
func addPool(t testing.TB, s *Store, path, content string) File {
	t.Helper()
	f, err := os.CreateTemp(s.TempDir(), "dl-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	c := Checksum{Algo: "sha256", Hex: sha(content)}
	require.NoError(t, s.PoolAdd(c, f.Name()))
	return File{Path: path, Checksum: c, Size: int64(len(content))}
}

// commit makes a snapshot of repo from files (path → content); its ID
// follows from the content of repodata/repomd.xml.
func commit(t testing.TB, s *Store, repo string, created time.Time, files map[string]string, pkgs ...Package) Snapshot {
	t.Helper()
	var fs []File
	for p, c := range files {
		fs = append(fs, addPool(t, s, p, c))
	}
	repomd, ok := files["repodata/repomd.xml"]
	require.True(t, ok, "test snapshot needs repodata/repomd.xml")
	snap, err := s.CommitSnapshot(Snapshot{Repo: repo, Source: "test", CreatedAt: created, Repomd: sha(repomd)}, fs, pkgs)
	require.NoError(t, err)
	return snap
}

// simpleSnapshot commits a snapshot of repo whose only distinguishing
// content is tag.
func simpleSnapshot(t *testing.T, s *Store, repo, tag string, created time.Time) Snapshot {
	t.Helper()
	return commit(t, s, repo, created, map[string]string{
		"repodata/repomd.xml":              "repomd " + tag,
		"repodata/" + tag + "-primary.xml": "primary " + tag,
		"Packages/" + tag + ".noarch.rpm":  "rpm " + tag,
	}, pkg("p-"+tag, "", "1", "1", "noarch", tag))
}

func release(t testing.TB, s *Store, created time.Time, repos map[string]string) Release {
	t.Helper()
	rel, _, err := s.CreateRelease(created, repos)
	require.NoError(t, err)
	return rel
}

func pkg(name, epoch, version, rel, arch, sum string) Package {
	return Package{Name: name, Epoch: epoch, Version: version, Release: rel, Arch: arch,
		Checksum: Checksum{Algo: "sha256", Hex: sum}, Size: 100, Href: "Packages/" + name + ".rpm"}
}

func tmpEntries(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.TempDir())
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, filepath.Join("tmp", e.Name()))
	}
	return names
}

// writeTestFile adds a repomd.xml holding tag to the pool without a
// *testing.T, for benchmarks.
func writeTestFile(s *Store, tag string) (File, error) {
	f, err := os.CreateTemp(s.TempDir(), "dl-*")
	if err != nil {
		return File{}, err
	}
	if _, err := f.WriteString(tag); err != nil {
		return File{}, err
	}
	if err := f.Close(); err != nil {
		return File{}, err
	}
	c := Checksum{Algo: "sha256", Hex: sha(tag)}
	return File{Path: "repodata/repomd.xml", Checksum: c, Size: int64(len(tag))}, s.PoolAdd(c, f.Name())
}
