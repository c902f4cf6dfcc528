package repo

import (
	"fmt"
	"os"
	"slices"
	"strings"
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

// BenchmarkReleaseAdvisories20k measures the advisories of a risk report
// and `osflow repo diff` for a distribution-sized release: 20,000
// packages, 2,000 of them with a new build beside the old one, and an
// updateinfo of 4,000 advisories (one per build, as EL repos keep them),
// of which the 2,000 of the new builds are brought.
func BenchmarkReleaseAdvisories20k(b *testing.B) {
	s := newStore(b)
	old := bigManifest(20000, 0)
	var ui strings.Builder
	ui.WriteString(`<?xml version="1.0"?><updates>`)
	cand := slices.Clone(old)
	for i := 0; i < len(old); i += 10 {
		p := old[i]
		nb := p
		nb.Release, nb.Checksum.Hex = "2.el9", sha(p.Name+" 2")
		cand = append(cand, nb)
		for _, rel := range []string{"1.el9", "2.el9"} {
			fmt.Fprintf(&ui, `<update type="security"><id>RLSA-%s-%s</id><title>t</title><severity>Important</severity><pkglist><collection>`+
				`<package name="%s" epoch="0" version="1.2.3" release="%s" arch="x86_64"/></collection></pkglist></update>`, p.Name, rel, p.Name, rel)
		}
	}
	ui.WriteString(`</updates>`)
	from := commit(b, s, "base", t0, repodataFiles(b, ""), old...)
	to := commit(b, s, "base", t0.Add(time.Hour), repodataFiles(b, ui.String()), cand...)
	ra := release(b, s, t0, map[string]string{"base": from.ID})
	rb := release(b, s, t0.Add(time.Hour), map[string]string{"base": to.ID})
	d, err := s.DiffReleases(ra.ID, rb.ID)
	require.NoError(b, err)
	cpu0 := cpuTime(b)
	for b.Loop() {
		got, err := s.ReleaseAdvisories(d)
		require.NoError(b, err)
		require.Len(b, got, 2000)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
