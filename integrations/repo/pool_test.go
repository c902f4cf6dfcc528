package repo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPoolAddIsIdempotent(t *testing.T) {
	s := newStore(t)
	f := addPool(t, s, "a", "hello")
	p := s.PoolPath(f.Checksum)
	require.Equal(t, filepath.Join(s.Root(), "pool", "sha256", f.Checksum.Hex[:2], f.Checksum.Hex), p)
	first, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o444), first.Mode().Perm())

	// Adding the same object again keeps the original inode (snapshots may
	// already link it) and consumes the staged copy.
	again := addPool(t, s, "b", "hello")
	require.Equal(t, f.Checksum, again.Checksum)
	second, err := os.Stat(p)
	require.NoError(t, err)
	require.True(t, os.SameFile(first, second))
	require.Empty(t, tmpEntries(t, s))

	require.True(t, s.PoolHas(f.Checksum, 5))
	require.True(t, s.PoolHas(f.Checksum, -1))
	require.False(t, s.PoolHas(f.Checksum, 4))
	require.False(t, s.PoolHas(Checksum{Algo: "sha256", Hex: sha("other")}, -1))
}

func TestPoolRefusesMalformedChecksums(t *testing.T) {
	s := newStore(t)
	tmp := filepath.Join(s.TempDir(), "x")
	require.NoError(t, os.WriteFile(tmp, []byte("x"), 0o644))
	for _, c := range []Checksum{
		{Algo: "sha256", Hex: "../../../../etc/passwd"},
		{Algo: "../sha256", Hex: sha("x")},
		{Algo: "sha256", Hex: "ab"},
		{Algo: "", Hex: sha("x")},
	} {
		require.Empty(t, s.PoolPath(c), c)
		require.False(t, s.PoolHas(c, -1), c)
		require.ErrorIs(t, s.PoolAdd(c, tmp), ErrInvalid, c)
	}
	// Upper-case hex from a repomd.xml names the same object.
	upper := Checksum{Algo: "SHA256", Hex: "AB" + sha("x")[2:]}
	require.Equal(t, s.PoolPath(Checksum{Algo: "sha256", Hex: "ab" + sha("x")[2:]}), s.PoolPath(upper))
}

func TestSync(t *testing.T) {
	require.NoError(t, newStore(t).Sync())
}

func TestPoolAddReplacesADamagedObject(t *testing.T) {
	s := newStore(t)
	good := []byte("the verified bytes")
	c := Checksum{Algo: "sha256", Hex: sha(string(good))}
	// A crash left a truncated object under the right name.
	dst := s.PoolPath(c)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(t, os.WriteFile(dst, good[:4], 0o444))
	require.False(t, s.PoolHas(c, int64(len(good))))

	tmp := filepath.Join(s.TempDir(), "verified")
	require.NoError(t, os.WriteFile(tmp, good, 0o644))
	require.NoError(t, s.PoolAdd(c, tmp))

	require.True(t, s.PoolHas(c, int64(len(good))))
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, good, got)
}

// poolModes runs a test with unnamed files (O_TMPFILE) linked by
// descriptor and through /proc, and with the files staged in tmp/ that a
// filesystem without them gets.
func poolModes(t *testing.T, test func(t *testing.T, s *Store)) {
	for _, mode := range []struct {
		name     string
		ok, byFD bool
	}{{"unnamed", true, true}, {"unnamed via proc", true, false}, {"staged", false, false}} {
		t.Run(mode.name, func(t *testing.T) {
			s := newStore(t)
			if mode.ok && !newStore(t).unnamedFiles() {
				t.Skip("the filesystem of the test store has no O_TMPFILE")
			}
			s.unnamed.once.Do(func() { s.unnamed.ok, s.unnamed.byFD = mode.ok, mode.byFD })
			test(t, s)
		})
	}
}

func writePool(t *testing.T, s *Store, c Checksum, content string) *PoolWriter {
	t.Helper()
	w, err := s.PoolCreate(c)
	require.NoError(t, err)
	_, err = w.Write([]byte(content))
	require.NoError(t, err)
	return w
}

func TestPoolCreate(t *testing.T) {
	poolModes(t, func(t *testing.T, s *Store) {
		c := Checksum{Algo: "SHA256", Hex: sha("object")} // named as upstream may spell it
		w := writePool(t, s, c, "object")
		require.False(t, s.PoolHas(c, -1), "visible before the commit")
		require.NoError(t, w.Commit())
		w.Abort() // a no-op after the commit
		require.True(t, s.PoolHas(c, 6))
		first, err := os.Stat(s.PoolPath(c))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o444), first.Mode().Perm())

		// The same object again keeps the inode that snapshots may link.
		require.NoError(t, writePool(t, s, c, "object").Commit())
		second, err := os.Stat(s.PoolPath(c))
		require.NoError(t, err)
		require.True(t, os.SameFile(first, second))

		// An aborted object leaves no trace.
		other := Checksum{Algo: "sha256", Hex: sha("other")}
		writePool(t, s, other, "other").Abort()
		require.False(t, s.PoolHas(other, -1))
		require.Empty(t, tmpEntries(t, s))
		require.Error(t, w.Commit(), "a writer commits once")

		_, err = s.PoolCreate(Checksum{Algo: "sha256", Hex: "../../etc/passwd"})
		require.ErrorIs(t, err, ErrInvalid)
	})
}

func TestPoolCreateReplacesADamagedObject(t *testing.T) {
	poolModes(t, func(t *testing.T, s *Store) {
		good := "the verified bytes"
		c := Checksum{Algo: "sha256", Hex: sha(good)}
		dst := s.PoolPath(c)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, []byte(good[:4]), 0o444))

		require.NoError(t, writePool(t, s, c, good).Commit())
		got, err := os.ReadFile(dst)
		require.NoError(t, err)
		require.Equal(t, good, string(got))
		require.Empty(t, tmpEntries(t, s))
	})
}

// TestPoolSurvivesARemovedShard: the store remembers the directories it
// made, and makes one again if it is gone.
func TestPoolSurvivesARemovedShard(t *testing.T) {
	poolModes(t, func(t *testing.T, s *Store) {
		a := Checksum{Algo: "sha256", Hex: sha("a")}
		require.NoError(t, writePool(t, s, a, "a").Commit())
		pool := filepath.Join(s.Root(), "pool")
		require.NoError(t, os.RemoveAll(pool))
		require.NoError(t, writePool(t, s, a, "a").Commit())
		require.True(t, s.PoolHas(a, 1))

		require.NoError(t, os.RemoveAll(pool))
		w := writePool(t, s, a, "a") // created before the removal, committed after
		require.NoError(t, os.RemoveAll(pool))
		require.NoError(t, w.Commit())
		require.True(t, s.PoolHas(a, 1))

		require.NoError(t, os.RemoveAll(pool))
		addPool(t, s, "a", "a")
		require.True(t, s.PoolHas(a, 1))
	})
}
