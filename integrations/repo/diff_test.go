package repo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDiffManifests(t *testing.T) {
	p := pkg // name, epoch, version, release, arch, checksum
	for _, tc := range []struct {
		name string
		a, b []Package
		want SnapshotDiff
	}{
		{name: "identical", a: []Package{p("a", "", "1", "1", "noarch", "x")}, b: []Package{p("a", "", "1", "1", "noarch", "x")}},
		{
			name: "added and removed",
			a:    []Package{p("gone", "", "1", "1", "noarch", "g")},
			b:    []Package{p("new", "", "1", "1", "noarch", "n")},
			want: SnapshotDiff{Added: []Package{p("new", "", "1", "1", "noarch", "n")}, Removed: []Package{p("gone", "", "1", "1", "noarch", "g")}},
		},
		{
			name: "upgrade",
			a:    []Package{p("bash", "", "5.1", "2.el9", "x86_64", "old")},
			b:    []Package{p("bash", "", "5.1", "10.el9", "x86_64", "new")},
			want: SnapshotDiff{Upgraded: []Change{{Name: "bash", Arch: "x86_64",
				From: p("bash", "", "5.1", "2.el9", "x86_64", "old"), To: p("bash", "", "5.1", "10.el9", "x86_64", "new")}}},
		},
		{
			name: "downgrade",
			a:    []Package{p("bash", "", "5.2", "1", "x86_64", "old")},
			b:    []Package{p("bash", "", "5.1", "9", "x86_64", "new")},
			want: SnapshotDiff{Downgraded: []Change{{Name: "bash", Arch: "x86_64",
				From: p("bash", "", "5.2", "1", "x86_64", "old"), To: p("bash", "", "5.1", "9", "x86_64", "new")}}},
		},
		{
			name: "epoch wins over version",
			a:    []Package{p("perl", "", "9.0", "1", "x86_64", "old")},
			b:    []Package{p("perl", "4", "1.0", "1", "x86_64", "new")},
			want: SnapshotDiff{Upgraded: []Change{{Name: "perl", Arch: "x86_64",
				From: p("perl", "", "9.0", "1", "x86_64", "old"), To: p("perl", "4", "1.0", "1", "x86_64", "new")}}},
		},
		{name: "empty epoch is epoch 0", a: []Package{p("a", "", "1", "1", "noarch", "x")}, b: []Package{p("a", "0", "1", "1", "noarch", "x")}},
		{
			name: "rebuilt: same NEVRA, other checksum",
			a:    []Package{p("a", "", "1", "1", "noarch", "x")},
			b:    []Package{p("a", "", "1", "1", "noarch", "y")},
			want: SnapshotDiff{Rebuilt: []Change{{Name: "a", Arch: "noarch", From: p("a", "", "1", "1", "noarch", "x"), To: p("a", "", "1", "1", "noarch", "y")}}},
		},
		{
			name: "arches are separate packages",
			a:    []Package{p("glibc", "", "2.34", "1", "x86_64", "x"), p("glibc", "", "2.34", "1", "i686", "i")},
			b:    []Package{p("glibc", "", "2.34", "1", "x86_64", "x")},
			want: SnapshotDiff{Removed: []Package{p("glibc", "", "2.34", "1", "i686", "i")}},
		},
		{
			// The repo keeps several kernels: builds on both sides are
			// unchanged, the newest leftovers pair up, the rest come and go.
			name: "multi-version kernel",
			a: []Package{
				p("kernel", "", "5.14.0", "70", "x86_64", "k70"),
				p("kernel", "", "5.14.0", "162", "x86_64", "k162"),
				p("kernel", "", "5.14.0", "284", "x86_64", "k284"),
			},
			b: []Package{
				p("kernel", "", "5.14.0", "284", "x86_64", "k284"),
				p("kernel", "", "5.14.0", "362", "x86_64", "k362"),
				p("kernel", "", "5.14.0", "427", "x86_64", "k427"),
			},
			want: SnapshotDiff{
				Added:   []Package{p("kernel", "", "5.14.0", "362", "x86_64", "k362")},
				Removed: []Package{p("kernel", "", "5.14.0", "70", "x86_64", "k70")},
				Upgraded: []Change{{Name: "kernel", Arch: "x86_64",
					From: p("kernel", "", "5.14.0", "162", "x86_64", "k162"), To: p("kernel", "", "5.14.0", "427", "x86_64", "k427")}},
			},
		},
		{
			name: "a second kernel appears",
			a:    []Package{p("kernel", "", "5.14.0", "70", "x86_64", "k70")},
			b:    []Package{p("kernel", "", "5.14.0", "70", "x86_64", "k70"), p("kernel", "", "5.14.0", "80", "x86_64", "k80")},
			want: SnapshotDiff{Added: []Package{p("kernel", "", "5.14.0", "80", "x86_64", "k80")}},
		},
		{
			name: "output is sorted",
			a:    nil,
			b:    []Package{p("zsh", "", "1", "1", "x86_64", "z"), p("a", "", "2", "1", "noarch", "a2"), p("a", "", "10", "1", "noarch", "a10")},
			want: SnapshotDiff{Added: []Package{p("a", "", "2", "1", "noarch", "a2"), p("a", "", "10", "1", "noarch", "a10"), p("zsh", "", "1", "1", "x86_64", "z")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DiffManifests(tc.a, tc.b)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want.Empty(), got.Empty())
		})
	}
}

// bigManifest is a distribution-sized manifest; bump changes every tenth
// package's release.
func bigManifest(n, bump int) []Package {
	pkgs := make([]Package, n)
	for i := range pkgs {
		rel := 1
		if i%10 == 0 {
			rel += bump
		}
		name := fmt.Sprintf("package-%05d", i)
		pkgs[i] = Package{Name: name, Version: "1.2.3", Release: fmt.Sprintf("%d.el9", rel), Arch: "x86_64",
			Checksum: Checksum{Algo: "sha256", Hex: sha(fmt.Sprint(name, rel))}, Size: 123456,
			Href: "Packages/" + name[:9] + "/" + name + ".rpm"}
	}
	return pkgs
}

func TestDiffReleases(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	baseA := commit(t, s, "base", t0, map[string]string{"repodata/repomd.xml": "a"}, bigManifest(100, 0)...)
	baseB := commit(t, s, "base", t0, map[string]string{"repodata/repomd.xml": "b"}, bigManifest(100, 1)...)
	epel := simpleSnapshot(t, s, "epel", "e", t0)
	extra := simpleSnapshot(t, s, "extra", "x", t0)
	relA := release(t, s, t0, map[string]string{"base": baseA.ID, "epel": epel.ID})
	relB := release(t, s, t0.Add(24*time.Hour), map[string]string{"base": baseB.ID, "extra": extra.ID})
	_, err := s.Switch(ctx, SwitchRequest{Channel: "production", Release: relA.ID, Actor: "ops", Reason: "initial"})
	require.NoError(t, err)

	for _, from := range []string{relA.ID, "production"} {
		d, err := s.DiffReleases(from, relB.ID)
		require.NoError(t, err)
		require.Equal(t, relA.ID, d.From)
		require.Equal(t, relB.ID, d.To)
		require.Equal(t, []string{"extra"}, d.AddedRepos)
		require.Equal(t, []string{"epel"}, d.RemovedRepos)
		require.Len(t, d.Repos, 3, "repos on one side only are in Repos too, so totals count them")
		require.Len(t, d.Repos["extra"].Added, 1)
		require.Len(t, d.Repos["epel"].Removed, 1)
		require.Len(t, d.Repos["base"].Upgraded, 10)
		require.Empty(t, d.Repos["base"].Added)
	}
	same, err := s.DiffReleases(relA.ID, relA.ID)
	require.NoError(t, err)
	require.Empty(t, same.Repos)

	empty, err := s.DiffReleases("testing", relB.ID)
	require.NoError(t, err, "a channel never switched serves the empty release")
	require.Equal(t, []string{"base", "extra"}, empty.AddedRepos)
	require.Len(t, empty.Repos["base"].Added, 100, "every package of the other side is added")
	require.Len(t, empty.Repos["extra"].Added, 1)
	gone, err := s.DiffReleases(relA.ID, "testing")
	require.NoError(t, err)
	require.Len(t, gone.Repos["base"].Removed, 100)
	_, err = s.DiffReleases(relA.ID, "20990101-0000000000")
	require.ErrorIs(t, err, ErrNotFound)
}
