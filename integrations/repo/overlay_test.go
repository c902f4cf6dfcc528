package repo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

// buildRPM builds a tiny noarch package with the real rpmbuild and returns
// its path; payload varies the content of its one file.
func buildRPM(t *testing.T, name, version, payload string) string {
	t.Helper()
	testtool.Need(t, "rpmbuild")
	top := t.TempDir()
	spec := filepath.Join(top, name+".spec")
	require.NoError(t, os.WriteFile(spec, []byte(fmt.Sprintf(`Name: %s
Version: %s
Release: 1
Summary: osflow overlay test package
License: MIT
BuildArch: noarch
AutoReqProv: no

%%description
Test package.

%%install
mkdir -p %%{buildroot}/usr/share/%s
echo '%s' > %%{buildroot}/usr/share/%s/payload

%%files
/usr/share/%s/payload
`, name, version, name, payload, name, name)), 0o644))
	out, err := exec.Command("rpmbuild", "--define", "_topdir "+top, "-bb", spec).CombinedOutput()
	require.NoError(t, err, "rpmbuild: %s", out)
	rpm := filepath.Join(top, "RPMS", "noarch", fmt.Sprintf("%s-%s-1.noarch.rpm", name, version))
	require.FileExists(t, rpm)
	return rpm
}

func overlayFiles(t *testing.T, s *Store, repo string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root(), "overlays", repo))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestOverlay(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	good := buildRPM(t, "osflow-site", "1.0", "one")

	t.Run("a non-RPM is refused and nothing changes", func(t *testing.T) {
		// rpm -qp would read this text file as a manifest naming good.
		manifest := filepath.Join(t.TempDir(), "notes.rpm")
		require.NoError(t, os.WriteFile(manifest, []byte(good+"\n"), 0o644))
		truncated := filepath.Join(t.TempDir(), "truncated.rpm")
		content, err := os.ReadFile(good)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(truncated, content[:200], 0o644))
		for _, bad := range []string{manifest, truncated} {
			_, err := s.OverlayAdd(ctx, "site", []string{good, bad})
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, bad)
			require.Empty(t, overlayFiles(t, s, "site"))
		}
		_, err = s.OverlayAdd(ctx, "site", []string{truncated})
		require.ErrorContains(t, err, "not an rpm package", "rpm's own message is part of the error")
		_, err = s.OverlayAdd(ctx, "site", []string{filepath.Join(t.TempDir(), "missing.rpm")})
		require.ErrorIs(t, err, ErrInvalid)
		require.Empty(t, tmpEntries(t, s))
	})

	t.Run("a real RPM is added under its NEVRA", func(t *testing.T) {
		nevras, err := s.OverlayAdd(ctx, "site", []string{good})
		require.NoError(t, err)
		require.Equal(t, []string{"osflow-site-1.0-1.noarch"}, nevras)
		// Adding the identical file again is a no-op.
		_, err = s.OverlayAdd(ctx, "site", []string{good})
		require.NoError(t, err)
		list, err := s.OverlayList("site")
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "osflow-site-1.0-1.noarch", list[0].NEVRA)
		require.Equal(t, filepath.Join(s.Root(), "overlays", "site", "osflow-site-1.0-1.noarch.rpm"), list[0].File)
		fi, err := os.Stat(good)
		require.NoError(t, err)
		require.Equal(t, fi.Size(), list[0].Size)
		require.False(t, list[0].ModTime.IsZero())
	})

	t.Run("another build under the same NEVRA is refused", func(t *testing.T) {
		rebuilt := buildRPM(t, "osflow-site", "1.0", "two")
		_, err := s.OverlayAdd(ctx, "site", []string{rebuilt})
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, "osflow-site-1.0-1.noarch")
		_, err = newStore(t).OverlayAdd(ctx, "site", []string{good, rebuilt})
		require.ErrorIs(t, err, ErrInvalid, "two builds of one NEVRA in one call")
	})

	t.Run("prepare is reproducible", func(t *testing.T) {
		dir, err := s.OverlayPrepare(ctx, "site")
		require.NoError(t, err)
		require.Equal(t, filepath.Join(s.Root(), "overlays", "site"), dir)
		first, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
		require.NoError(t, err)
		require.Contains(t, string(first), "primary")

		_, err = s.OverlayPrepare(ctx, "site")
		require.NoError(t, err)
		second, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
		require.NoError(t, err)
		require.Equal(t, string(first), string(second), "an unchanged overlay must give a byte-identical repomd.xml")

		_, err = s.OverlayAdd(ctx, "site", []string{buildRPM(t, "osflow-extra", "2.0", "x")})
		require.NoError(t, err)
		_, err = s.OverlayPrepare(ctx, "site")
		require.NoError(t, err)
		third, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
		require.NoError(t, err)
		require.NotEqual(t, string(first), string(third))
	})

	t.Run("an empty overlay prepares an empty repo", func(t *testing.T) {
		dir, err := s.OverlayPrepare(ctx, "empty")
		require.NoError(t, err)
		require.FileExists(t, filepath.Join(dir, "repodata", "repomd.xml"))
		list, err := s.OverlayList("empty")
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("bad repo names", func(t *testing.T) {
		_, err := s.OverlayAdd(ctx, "../x", []string{good})
		require.ErrorIs(t, err, ErrInvalid)
		_, err = s.OverlayPrepare(ctx, "")
		require.ErrorIs(t, err, ErrInvalid)
	})
}
