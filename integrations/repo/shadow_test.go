package repo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFindShadows(t *testing.T) {
	tools := func(sum string) Package { return pkg("hpc-base-tools", "", "1.3", "1", "noarch", sum) }
	other := pkg("bash", "", "5.1", "2", "x86_64", "b1")
	site := func(pkgs ...Package) RepoManifest { return RepoManifest{Repo: "site", Overlay: true, Packages: pkgs} }
	mirror := func(name string, pkgs ...Package) RepoManifest { return RepoManifest{Repo: name, Packages: pkgs} }
	copyOf := func(repo string, overlay bool, sum string) ShadowCopy {
		return ShadowCopy{Repo: repo, Overlay: overlay, Checksum: Checksum{Algo: "sha256", Hex: sum}, Size: 100, Href: "Packages/hpc-base-tools.rpm"}
	}
	tests := []struct {
		name  string
		repos []RepoManifest
		want  []Shadow
	}{
		{"overlay and mirror, different builds: the overlay's first",
			[]RepoManifest{mirror("baseos", other, tools("cd34")), site(tools("ab12"))},
			[]Shadow{{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{copyOf("site", true, "ab12"), copyOf("baseos", false, "cd34")}}}},
		{"the same build in both is no shadow",
			[]RepoManifest{mirror("baseos", tools("ab12")), site(tools("ab12"))}, nil},
		{"two mirrors",
			[]RepoManifest{mirror("epel", tools("ef56")), mirror("baseos", tools("cd34"))},
			[]Shadow{{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{copyOf("baseos", false, "cd34"), copyOf("epel", false, "ef56")}}}},
		{"another release of the name is an upgrade, not a shadow",
			[]RepoManifest{mirror("baseos", pkg("hpc-base-tools", "", "1.3", "2", "noarch", "cd34")), site(tools("ab12"))}, nil},
		{"another arch is another package",
			[]RepoManifest{mirror("baseos", pkg("hpc-base-tools", "", "1.3", "1", "x86_64", "cd34")), site(tools("ab12"))}, nil},
		{"epoch 0 and no epoch are one NEVRA",
			[]RepoManifest{mirror("baseos", pkg("hpc-base-tools", "0", "1.3", "1", "noarch", "cd34")), site(tools("ab12"))},
			[]Shadow{{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{copyOf("site", true, "ab12"), copyOf("baseos", false, "cd34")}}}},
		{"a NEVRA twice in one repo counts once",
			[]RepoManifest{mirror("baseos", tools("cd34"), tools("cd35"))}, nil},
		{"three repos: every copy named",
			[]RepoManifest{mirror("epel", tools("ab12")), mirror("baseos", tools("cd34")), site(tools("ab12"))},
			[]Shadow{{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{copyOf("site", true, "ab12"), copyOf("baseos", false, "cd34"), copyOf("epel", false, "ab12")}}}},
		{"unsorted manifests",
			[]RepoManifest{mirror("baseos", tools("cd34"), other), site(pkg("zsh", "", "1", "1", "x86_64", "z"), tools("ab12"))},
			[]Shadow{{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{copyOf("site", true, "ab12"), copyOf("baseos", false, "cd34")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, FindShadows(tt.repos))
		})
	}
}

func TestShadowString(t *testing.T) {
	c := func(repo string, overlay bool, hex string) ShadowCopy {
		return ShadowCopy{Repo: repo, Overlay: overlay, Checksum: Checksum{Algo: "sha256", Hex: hex}}
	}
	tests := []struct {
		name   string
		shadow Shadow
		want   string
	}{
		{"the overlay wins", Shadow{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{c("site", true, "ab12ab12ab12ab12"), c("baseos", false, "cd34cd34cd34cd34")}},
			"hpc-base-tools-1.3-1.noarch: overlay site (sha256 ab12ab12ab12…) shadows baseos (sha256 cd34cd34cd34…)"},
		{"two mirrors", Shadow{NEVRA: "a-1-1.noarch", Copies: []ShadowCopy{c("baseos", false, "cd34"), c("epel", false, "ef56")}},
			"a-1-1.noarch: baseos (sha256 cd34…) and epel (sha256 ef56…) serve different builds; dnf may install either"},
		{"two overlays", Shadow{NEVRA: "a-1-1.noarch", Copies: []ShadowCopy{c("site", true, "ab12"), c("vendor", true, "ef56"), c("baseos", false, "cd34")}},
			"a-1-1.noarch: overlay site (sha256 ab12…) and overlay vendor (sha256 ef56…) and baseos (sha256 cd34…) serve different builds; dnf may install either"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.shadow.String())
		})
	}
}

// TestCreateReleaseRecordsShadows: the finding is recorded with the
// release, the overlay known from the store; a release recorded before
// findings were is given its record on first read.
func TestCreateReleaseRecordsShadows(t *testing.T) {
	s := newStore(t)
	require.NoError(t, os.MkdirAll(s.overlayDir("site"), 0o755))
	base := commit(t, s, "baseos", t0, map[string]string{"repodata/repomd.xml": "b"},
		pkg("bash", "", "5.1", "2", "x86_64", "b1"), pkg("hpc-base-tools", "", "1.3", "1", "noarch", "cd34"))
	site := commit(t, s, "site", t0, map[string]string{"repodata/repomd.xml": "s"},
		pkg("hpc-base-tools", "", "1.3", "1", "noarch", "ab12"))
	rel := release(t, s, t0, map[string]string{"baseos": base.ID, "site": site.ID})

	var rec shadowRecord
	require.NoError(t, readJSON(filepath.Join(s.Root(), "provenance", rel.ID, "shadows.json"), &rec))
	want := []Shadow{{NEVRA: "hpc-base-tools-1.3-1.noarch", Copies: []ShadowCopy{
		{Repo: "site", Overlay: true, Checksum: Checksum{Algo: "sha256", Hex: "ab12"}, Size: 100, Href: "Packages/hpc-base-tools.rpm"},
		{Repo: "baseos", Checksum: Checksum{Algo: "sha256", Hex: "cd34"}, Size: 100, Href: "Packages/hpc-base-tools.rpm"},
	}}}
	require.Equal(t, want, rec.Shadows)
	got, err := s.ReleaseShadows(rel.ID)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// A release without a record (made before releases had one).
	clean := release(t, s, t0.Add(time.Hour), map[string]string{"baseos": base.ID})
	got, err = s.ReleaseShadows(clean.ID)
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, os.Remove(s.shadowsFile(rel.ID)))
	got, err = s.ReleaseShadows(rel.ID)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.FileExists(t, s.shadowsFile(rel.ID))

	_, err = s.ReleaseShadows("../etc")
	require.ErrorIs(t, err, ErrInvalid)
}
