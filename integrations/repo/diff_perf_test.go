//go:build !race

// The race detector slows the code down several times; the timing
// budget is checked only without it.

package repo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestDiffSnapshotsIsFast guards the budget the CLI and the promotion
// report rely on: two distribution-sized manifests diff in well under
// 100 ms. It measures the process's CPU time, which bounds the wall time
// on an idle machine and, unlike the wall time, does not grow when other
// jobs share the CPUs; the best of a few runs is taken.
func TestDiffSnapshotsIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	s := newStore(t)
	a := commit(t, s, "base", t0, map[string]string{"repodata/repomd.xml": "a"}, bigManifest(20000, 0)...)
	b := commit(t, s, "base", t0, map[string]string{"repodata/repomd.xml": "b"}, bigManifest(20000, 1)...)
	bestCPU, bestWall := time.Hour, time.Hour
	for range 5 {
		cpu0, wall0 := cpuTime(t), time.Now()
		d, err := s.DiffSnapshots("base", a.ID, b.ID)
		bestWall = min(bestWall, time.Since(wall0))
		bestCPU = min(bestCPU, cpuTime(t)-cpu0)
		require.NoError(t, err)
		require.Len(t, d.Upgraded, 2000)
	}
	t.Logf("diff of two 20000-package manifests: %v CPU, %v wall", bestCPU, bestWall)
	require.Less(t, bestCPU, 100*time.Millisecond)
}

// cpuTime is the CPU time the test process has used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	require.NoError(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDiffSnapshots20k(b *testing.B) {
	s, err := Open(b.TempDir())
	require.NoError(b, err)
	commitBig := func(tag string, bump int) string {
		f, err := writeTestFile(s, tag)
		require.NoError(b, err)
		snap, err := s.CommitSnapshot(Snapshot{Repo: "base", ID: tag}, []File{f}, bigManifest(20000, bump))
		require.NoError(b, err)
		return snap.ID
	}
	ida, idb := commitBig("aaaa", 0), commitBig("bbbb", 1)
	for b.Loop() {
		_, err := s.DiffSnapshots("base", ida, idb)
		require.NoError(b, err)
	}
}
