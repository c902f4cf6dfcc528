package repo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestRetriedCommitRemovesCrashedStaging covers a worker killed while it
// built a snapshot or release tree in tmp/: the retried commit removes
// what the dead attempt left, and never a tree a live attempt holds.
func TestRetriedCommitRemovesCrashedStaging(t *testing.T) {
	tests := []struct {
		name string
		// commit makes the snapshot or release; it returns the staging key
		// and the committed directory.
		commit func(t *testing.T, s *Store) (key, dir string)
	}{
		{"snapshot", func(t *testing.T, s *Store) (string, string) {
			snap := simpleSnapshot(t, s, "baseos", "a", t0)
			return "snapshot-baseos-" + snap.ID, s.snapshotDir("baseos", snap.ID)
		}},
		{"release", func(t *testing.T, s *Store) (string, string) {
			snap := simpleSnapshot(t, s, "baseos", "a", t0)
			rel := release(t, s, t0, map[string]string{"baseos": snap.ID})
			return "release-" + rel.ID, s.releaseDir(rel.ID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			key, dir := tt.commit(t, s)
			// Undo the commit, and leave what a crashed attempt leaves: a
			// half-built tree nobody holds, next to a live attempt's.
			require.NoError(t, os.RemoveAll(dir))
			require.NoError(t, os.Remove(dir+".json"))
			os.Remove(dir + ".manifest")
			crashed := filepath.Join(s.TempDir(), key+"-00000000deadbeef")
			live := filepath.Join(s.TempDir(), key+"-00000000a11ba11b")
			other := filepath.Join(s.TempDir(), key+"x-00000000deadbeef")
			for _, d := range []string{crashed, live, other} {
				require.NoError(t, os.MkdirAll(filepath.Join(d, "Packages"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(d, "Packages", "half.rpm"), []byte("x"), 0o644))
			}
			fd, err := lockDir(live, unix.LOCK_EX|unix.LOCK_NB)
			require.NoError(t, err)
			defer unix.Close(fd)

			tt.commit(t, s)
			require.DirExists(t, dir)
			require.NoDirExists(t, crashed)
			require.DirExists(t, live, "a live attempt's tree was removed")
			require.DirExists(t, other, "another key's tree was removed")
			require.ElementsMatch(t, []string{"tmp/" + filepath.Base(live), "tmp/" + filepath.Base(other)}, tmpEntries(t, s))
		})
	}
}
