package repo

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// BenchmarkDiffSnapshots20k measures the budget the CLI and the promotion
// report rely on: two distribution-sized manifests (20,000 packages, 2,000
// of them upgraded) diff in well under 100 ms. `make bench` runs it and
// prints its ms/op and its CPU ms/op, which moves less than the wall time
// when other jobs share the machine.
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
	cpu0 := cpuTime(b)
	for b.Loop() {
		d, err := s.DiffSnapshots("base", ida, idb)
		require.NoError(b, err)
		require.Len(b, d.Upgraded, 2000)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReleaseShadows20k measures what creating a release adds: the
// manifests of an overlay and a mirror of 20,000 packages each, 2,000 of
// them one NEVRA with two builds, read and merged in a few milliseconds.
func BenchmarkReleaseShadows20k(b *testing.B) {
	s, err := Open(b.TempDir())
	require.NoError(b, err)
	commitBig := func(repo string, pkgs []Package) string {
		f, err := writeTestFile(s, repo)
		require.NoError(b, err)
		snap, err := s.CommitSnapshot(Snapshot{Repo: repo, ID: repo}, []File{f}, pkgs)
		require.NoError(b, err)
		return snap.ID
	}
	site := bigManifest(20000, 0)
	for i := 0; i < len(site); i += 10 {
		site[i].Checksum.Hex = sha("site " + site[i].Name)
	}
	repos := map[string]string{"base": commitBig("base", bigManifest(20000, 0)), "site": commitBig("site", site)}
	require.NoError(b, os.MkdirAll(s.overlayDir("site"), 0o755))
	cpu0 := cpuTime(b)
	for b.Loop() {
		shadows, err := s.findShadows(repos)
		require.NoError(b, err)
		require.Len(b, shadows, 2000)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
