package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOverlayRevisionNeverGoesBack: the mirror refuses a repomd.xml whose
// revision is lower than the one it accepted last, as a replayed upstream;
// an overlay that grows, one package at a time, must never look like one.
func TestOverlayRevisionNeverGoesBack(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	var last int64
	for i := range 6 {
		_, err := s.OverlayAdd(ctx, "site", []string{buildRPM(t, fmt.Sprintf("site-pkg%d", i), "1.0", "x")})
		require.NoError(t, err)
		dir, err := s.OverlayPrepare(ctx, "site")
		require.NoError(t, err)
		repomd, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
		require.NoError(t, err)
		m := revisionRE.FindSubmatch(repomd)
		require.NotNil(t, m, "%s", repomd)
		rev, err := strconv.ParseInt(string(m[1]), 10, 64)
		require.NoError(t, err)
		require.GreaterOrEqual(t, rev, last, "revision after adding package %d", i+1)
		last = rev
	}
}

// TestOverlayRevisionAfterUpgrade: a store whose overlay metadata has a
// revision above the current time (a content hash, before the revision was
// a time) keeps it rather than go back.
func TestOverlayRevisionAfterUpgrade(t *testing.T) {
	ctx := t.Context()
	s := newStore(t)
	_, err := s.OverlayAdd(ctx, "site", []string{buildRPM(t, "site-pkg", "1.0", "x")})
	require.NoError(t, err)
	dir := filepath.Join(s.Root(), "overlays", "site")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "repodata"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), []byte("<repomd><revision>2100000000</revision></repomd>"), 0o644))
	rpms, err := s.OverlayList("site")
	require.NoError(t, err)
	require.Equal(t, "2100000000", overlayRevision(rpms, dir))
	require.Equal(t, strconv.FormatInt(rpms[0].ModTime.Unix(), 10), overlayRevision(rpms, t.TempDir()))
}

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
