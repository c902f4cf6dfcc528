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
