package repo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOverlayPrepareRunsCreaterepoOnlyForAChange: an unchanged overlay
// keeps its metadata untouched (no createrepo_c on every daily sync); an
// added package, or metadata removed or rewritten by hand, regenerates it.
func TestOverlayPrepareRunsCreaterepoOnlyForAChange(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	_, err := s.OverlayAdd(ctx, "site", []string{buildRPM(t, "site-a", "1.0", "x")})
	require.NoError(t, err)
	dir, err := s.OverlayPrepare(ctx, "site")
	require.NoError(t, err)
	repomd := filepath.Join(dir, "repodata", "repomd.xml")
	generated := func() (string, int64) {
		t.Helper()
		b, err := os.ReadFile(repomd)
		require.NoError(t, err)
		fi, err := os.Stat(repomd)
		require.NoError(t, err)
		return string(b), fi.ModTime().UnixNano()
	}
	first, at := generated()

	_, err = s.OverlayPrepare(ctx, "site")
	require.NoError(t, err)
	again, againAt := generated()
	require.Equal(t, first, again)
	require.Equal(t, at, againAt, "an unchanged overlay is not regenerated")

	_, err = s.OverlayAdd(ctx, "site", []string{buildRPM(t, "site-b", "1.0", "x")})
	require.NoError(t, err)
	_, err = s.OverlayPrepare(ctx, "site")
	require.NoError(t, err)
	grown, _ := generated()
	require.NotEqual(t, first, grown, "an added package is in the new metadata")

	require.NoError(t, os.RemoveAll(filepath.Join(dir, "repodata")))
	_, err = s.OverlayPrepare(ctx, "site")
	require.NoError(t, err)
	rebuilt, _ := generated()
	require.Equal(t, grown, rebuilt, "removed metadata is made again, the same")

	require.NoError(t, os.WriteFile(repomd, []byte("<repomd/>"), 0o644))
	_, err = s.OverlayPrepare(ctx, "site")
	require.NoError(t, err)
	fixed, _ := generated()
	require.Equal(t, grown, fixed, "metadata rewritten by hand is made again")
}
