// Package repotest builds small stores for the tests of packages that use
// the store: real snapshots and releases, with no upstream to mirror.
package repotest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
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
