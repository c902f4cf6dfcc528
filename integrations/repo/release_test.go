package repo

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCreateReleaseDedupes(t *testing.T) {
	s := newStore(t)
	base := simpleSnapshot(t, s, "base", "b1", t0)
	epel := simpleSnapshot(t, s, "epel", "e1", t0)
	repos := map[string]string{"base": base.ID, "epel": epel.ID}

	rel, created, err := s.CreateRelease(t0, repos)
	require.NoError(t, err)
	require.True(t, created)
	require.Regexp(t, regexp.MustCompile(`^20250301-[0-9a-f]{10}$`), rel.ID)
	require.Equal(t, repos, rel.Repos)

	// The same content on another day is the same release.
	again, created, err := s.CreateRelease(t0.Add(72*time.Hour), map[string]string{"epel": epel.ID, "base": base.ID})
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, rel, again)

	target, err := os.Readlink(filepath.Join(s.Root(), "releases", rel.ID, "base"))
	require.NoError(t, err)
	require.Equal(t, "../../snapshots/base/"+base.ID, target)
	_, err = os.Stat(filepath.Join(s.Root(), "releases", rel.ID, "base", "repodata", "repomd.xml"))
	require.NoError(t, err, "the release resolves to the snapshot tree")

	got, err := s.Release(rel.ID)
	require.NoError(t, err)
	require.Equal(t, rel, got)
	require.Empty(t, tmpEntries(t, s))
}

func TestCreateReleaseUsesUTCDate(t *testing.T) {
	s := newStore(t)
	snap := simpleSnapshot(t, s, "base", "b1", t0)
	// 23:30 on 1 March in New York is already 2 March in UTC.
	ny := time.FixedZone("EST", -5*3600)
	rel := release(t, s, time.Date(2025, 3, 1, 23, 30, 0, 0, ny), map[string]string{"base": snap.ID})
	require.Regexp(t, `^20250302-`, rel.ID)
	require.Equal(t, time.UTC, rel.CreatedAt.Location())
}

func TestCreateReleaseRefuses(t *testing.T) {
	s := newStore(t)
	snap := simpleSnapshot(t, s, "base", "b1", t0)
	for name, tc := range map[string]struct {
		repos map[string]string
		err   error
	}{
		"no repos":         {map[string]string{}, ErrInvalid},
		"unknown snapshot": {map[string]string{"base": "0123456789abcdef"}, ErrNotFound},
		"unknown repo":     {map[string]string{"epel": snap.ID}, ErrNotFound},
		"bad repo name":    {map[string]string{"../base": snap.ID}, ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.CreateRelease(t0, tc.repos)
			require.ErrorIs(t, err, tc.err)
		})
	}
	rels, err := s.Releases()
	require.NoError(t, err)
	require.Empty(t, rels)
}

func TestReleasesNewestFirst(t *testing.T) {
	s := newStore(t)
	a := simpleSnapshot(t, s, "base", "a", t0)
	b := simpleSnapshot(t, s, "base", "b", t0)
	older := release(t, s, t0, map[string]string{"base": a.ID})
	newer := release(t, s, t0.Add(24*time.Hour), map[string]string{"base": b.ID})
	rels, err := s.Releases()
	require.NoError(t, err)
	require.Equal(t, []Release{newer, older}, rels)
	_, err = s.Release("20990101-0000000000")
	require.ErrorIs(t, err, ErrNotFound)
}
