// Package repotest builds small stores for the tests of packages that use
// the store: real snapshots and releases, with no upstream to mirror.
package repotest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
)

// Store opens a store in a temporary directory with n releases of one repo
// ("base"), each with one package whose version is the release's index,
// and returns the release IDs, oldest first.
func Store(t testing.TB, n int) (*repo.Store, []string) {
	t.Helper()
	s, err := repo.Open(t.TempDir())
	require.NoError(t, err)
	created := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	for i := range n {
		repomd := fmt.Sprintf("<repomd>%d</repomd>", i)
		rpm := fmt.Sprintf("hpc-tools %d", i)
		files := []repo.File{add(t, s, "repodata/repomd.xml", repomd), add(t, s, fmt.Sprintf("Packages/hpc-tools-%d.rpm", i), rpm)}
		pkg := repo.Package{Name: "hpc-tools", Version: fmt.Sprint(i), Release: "1", Arch: "noarch",
			Checksum: files[1].Checksum, Size: files[1].Size, Href: files[1].Path}
		snap, err := s.CommitSnapshot(repo.Snapshot{Repo: "base", Source: "test", CreatedAt: created, Repomd: digest(repomd)},
			files, []repo.Package{pkg})
		require.NoError(t, err)
		rel, _, err := s.CreateRelease(created.AddDate(0, 0, i), map[string]string{"base": snap.ID})
		require.NoError(t, err)
		ids[i] = rel.ID
	}
	return s, ids
}

func digest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// add puts content into the pool as the mirror does: staged, then added.
func add(t testing.TB, s *repo.Store, path, content string) repo.File {
	t.Helper()
	f, err := os.CreateTemp(s.TempDir(), "dl-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	c := repo.Checksum{Algo: "sha256", Hex: digest(content)}
	require.NoError(t, s.PoolAdd(c, f.Name()))
	return repo.File{Path: path, Checksum: c, Size: int64(len(content))}
}

// ShadowedRelease adds to s a release of a mirror "baseos" and an overlay
// "site" that both serve hpc-base-tools-1.3-1.noarch, as different builds
// (a bypassed site build and the upstream's own), and returns its ID.
func ShadowedRelease(t testing.TB, s *repo.Store) string {
	t.Helper()
	// The store knows an overlay by its directory.
	require.NoError(t, os.MkdirAll(filepath.Join(s.Root(), "overlays", "site"), 0o755))
	created := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	snaps := map[string]string{}
	for _, r := range []string{"baseos", "site"} {
		repomd := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>` + r + "</revision></repomd>\n"
		files := []repo.File{add(t, s, "repodata/repomd.xml", repomd), add(t, s, "Packages/hpc-base-tools-1.3-1.noarch.rpm", "hpc-base-tools built by "+r)}
		pkg := repo.Package{Name: "hpc-base-tools", Version: "1.3", Release: "1", Arch: "noarch",
			Checksum: files[1].Checksum, Size: files[1].Size, Href: files[1].Path}
		snap, err := s.CommitSnapshot(repo.Snapshot{Repo: r, Source: "test", CreatedAt: created, Repomd: digest(repomd)},
			files, []repo.Package{pkg})
		require.NoError(t, err)
		snaps[r] = snap.ID
	}
	rel, _, err := s.CreateRelease(created, snaps)
	require.NoError(t, err)
	return rel.ID
}
