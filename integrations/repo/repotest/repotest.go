// Package repotest builds small stores for the tests of packages that use
// the store: real snapshots and releases, with no upstream to mirror.
package repotest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// Store opens a store in a temporary directory with n releases of one repo
// ("base"), each with one package whose version is the release's index,
// and returns the release IDs, oldest first.
func Store(t testing.TB, n int) (*repo.Store, []string) {
	t.Helper()
	s, err := repo.Open(t.TempDir())
	require.NoError(t, err)
	created := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	for i := range n {
		repomd := fmt.Sprintf("<repomd>%d</repomd>", i)
		rpm := fmt.Sprintf("hpc-tools %d", i)
		files := []repo.File{add(t, s, "repodata/repomd.xml", repomd), add(t, s, fmt.Sprintf("Packages/hpc-tools-%d.rpm", i), rpm)}
		pkg := repo.Package{Name: "hpc-tools", Version: fmt.Sprint(i), Release: "1", Arch: "noarch",
			Checksum: files[1].Checksum, Size: files[1].Size, Href: files[1].Path}
		snap, err := s.CommitSnapshot(repo.Snapshot{Repo: "base", Source: "test", CreatedAt: created, Repomd: digest(repomd)},
			files, []repo.Package{pkg})
		require.NoError(t, err)
		rel, _, err := s.CreateRelease(created.AddDate(0, 0, i), map[string]string{"base": snap.ID})
		require.NoError(t, err)
		ids[i] = rel.ID
	}
	return s, ids
}

func digest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// add puts content into the pool as the mirror does: staged, then added.
func add(t testing.TB, s *repo.Store, path, content string) repo.File {
	t.Helper()
	f, err := os.CreateTemp(s.TempDir(), "dl-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	c := repo.Checksum{Algo: "sha256", Hex: digest(content)}
	require.NoError(t, s.PoolAdd(c, f.Name()))
	return repo.File{Path: path, Checksum: c, Size: int64(len(content))}
}

// ShadowedRelease adds to s a release of a mirror "baseos" and an overlay
// "site" that both serve hpc-base-tools-1.3-1.noarch, as different builds
// (a bypassed site build and the upstream's own), and returns its ID.
func ShadowedRelease(t testing.TB, s *repo.Store) string {
	t.Helper()
	// The store knows an overlay by its directory.
	require.NoError(t, os.MkdirAll(filepath.Join(s.Root(), "overlays", "site"), 0o755))
	created := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	snaps := map[string]string{}
	for _, r := range []string{"baseos", "site"} {
		repomd := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>` + r + "</revision></repomd>\n"
		files := []repo.File{add(t, s, "repodata/repomd.xml", repomd), add(t, s, "Packages/hpc-base-tools-1.3-1.noarch.rpm", "hpc-base-tools built by "+r)}
		pkg := repo.Package{Name: "hpc-base-tools", Version: "1.3", Release: "1", Arch: "noarch",
			Checksum: files[1].Checksum, Size: files[1].Size, Href: files[1].Path}
		snap, err := s.CommitSnapshot(repo.Snapshot{Repo: r, Source: "test", CreatedAt: created, Repomd: digest(repomd)},
			files, []repo.Package{pkg})
		require.NoError(t, err)
		snaps[r] = snap.ID
	}
	rel, _, err := s.CreateRelease(created, snaps)
	require.NoError(t, err)
	return rel.ID
}

// MetadataOnlyReleases adds to s two releases of a repo "appstream" that
// serve the same package (kernel-5.14.0-1.el9.x86_64) with different
// metadata, made by createrepo_c and modifyrepo_c: the second's
// modules.yaml moves the nodejs default stream from 8 to 10, and its
// updateinfo gains RHSA-2026:5 for the kernel both serve. It returns
// their IDs, older first.
func MetadataOnlyReleases(t testing.TB, s *repo.Store) (string, string) {
	t.Helper()
	return metadataOnlyReleases(t, s, "appstream", "")
}

// MetadataOnlyTreeReleases is MetadataOnlyReleases for a distribution tree
// "dist" whose variant AppStream, in AppStream/, is that repository; the
// tree's root has no repodata/.
func MetadataOnlyTreeReleases(t testing.TB, s *repo.Store) (string, string) {
	t.Helper()
	return metadataOnlyReleases(t, s, "dist", "AppStream")
}

// MetadataOnlyLayout is one layout of MetadataOnlyReleases' repository,
// for the tests that run on each: the repo's name and what adds its
// releases.
type MetadataOnlyLayout struct {
	Name, Repo string
	Releases   func(testing.TB, *repo.Store) (string, string)
}

// MetadataOnlyLayouts are a plain repository and a tree's variant.
func MetadataOnlyLayouts() []MetadataOnlyLayout {
	return []MetadataOnlyLayout{
		{"a repository", "appstream", MetadataOnlyReleases},
		{"a tree's variant", "dist", MetadataOnlyTreeReleases},
	}
}

// metadataOnlyReleases adds the releases of MetadataOnlyReleases, with the
// repository in the directory variant of a tree named name when variant
// is set.
func metadataOnlyReleases(t testing.TB, s *repo.Store, name, variant string) (string, string) {
	t.Helper()
	testtool.Need(t, "createrepo_c", "modifyrepo_c")
	modules := func(def string) string {
		return "---\ndocument: modulemd\nversion: 2\ndata:\n  name: nodejs\n  stream: \"8\"\n  version: 1\n  context: c\n  arch: x86_64\n" +
			"  summary: s\n  description: d\n  license:\n    module: [MIT]\n...\n---\ndocument: modulemd\nversion: 2\ndata:\n  name: nodejs\n" +
			"  stream: \"10\"\n  version: 1\n  context: c\n  arch: x86_64\n  summary: s\n  description: d\n  license:\n    module: [MIT]\n...\n" +
			"---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: nodejs\n  stream: \"" + def + "\"\n...\n"
	}
	updateinfo := `<?xml version="1.0"?><updates><update type="security"><id>RHSA-2026:5</id><title>kernel security update</title>` +
		`<severity>Important</severity><references><reference type="cve" id="CVE-2026-5555" href="https://example.org/"/></references>` +
		`<pkglist><collection><package name="kernel" epoch="0" version="5.14.0" release="1.el9" arch="x86_64"/></collection></pkglist></update></updates>`
	created := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	var ids []string
	for i, md := range []map[string]string{{"modules.yaml": modules("8")}, {"modules.yaml": modules("10"), "updateinfo.xml": updateinfo}} {
		dir := t.TempDir()
		require.NoError(t, upstream.Createrepo(t.Context(), dir))
		for name, content := range md {
			require.NoError(t, upstream.Modifyrepo(t.Context(), dir, name, content))
		}
		var files []repo.File
		require.NoError(t, filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files = append(files, add(t, s, path.Join(variant, filepath.ToSlash(rel)), string(b)))
			return err
		}))
		rpm := add(t, s, path.Join(variant, "Packages/kernel-5.14.0-1.el9.x86_64.rpm"), "kernel")
		pkg := repo.Package{Name: "kernel", Version: "5.14.0", Release: "1.el9", Arch: "x86_64", Checksum: rpm.Checksum, Size: rpm.Size, Href: rpm.Path}
		repomd, err := os.ReadFile(filepath.Join(dir, "repodata", "repomd.xml"))
		require.NoError(t, err)
		snap := repo.Snapshot{Repo: name, Source: "test", CreatedAt: created, Repomd: digest(string(repomd))}
		if variant != "" {
			ti := add(t, s, ".treeinfo", "[general]\nname = "+name+" "+snap.Repomd+"\n")
			snap.ID, snap.Repomd = repo.SnapshotID(ti.Checksum.Hex), ""
			snap.Tree = &repo.Tree{Treeinfo: ti.Checksum.Hex, Variants: []repo.TreeVariant{{UID: variant, Path: variant, Repomd: digest(string(repomd))}}}
			files = append(files, ti)
		}
		snap, err = s.CommitSnapshot(snap, append(files, rpm), []repo.Package{pkg})
		require.NoError(t, err)
		rel, _, err := s.CreateRelease(created.AddDate(0, 0, i), map[string]string{name: snap.ID})
		require.NoError(t, err)
		ids = append(ids, rel.ID)
	}
	return ids[0], ids[1]
}

// Snapshot commits to s a snapshot of name holding one file, a tree's
// .treeinfo when tree is set, else a repomd.xml, and returns its ID.
func Snapshot(t testing.TB, s *repo.Store, name string, tree *repo.Tree) string {
	t.Helper()
	f := add(t, s, "repodata/repomd.xml", "<repomd>"+name+"</repomd>")
	snap := repo.Snapshot{Repo: name, Source: "test", Repomd: f.Checksum.Hex, Tree: tree}
	if tree != nil {
		f = add(t, s, ".treeinfo", "[general]\nname = "+name+"\n")
		snap.Repomd, snap.ID = "", repo.SnapshotID(f.Checksum.Hex)
	}
	got, err := s.CommitSnapshot(snap, []repo.File{f}, nil)
	require.NoError(t, err)
	return got.ID
}
