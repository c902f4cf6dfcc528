package repo

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

func adv(id, typ, sev string, issued time.Time, pkgs ...string) rpmmd.Advisory {
	a := rpmmd.Advisory{ID: id, Type: typ, Severity: sev, Issued: issued}
	for _, p := range pkgs { // name-epoch:version-release.arch
		na, rest, _ := strings.Cut(p, "|")
		name, arch, _ := strings.Cut(na, ".")
		e, vr, _ := strings.Cut(rest, ":")
		v, r, _ := strings.Cut(vr, "-")
		a.Packages = append(a.Packages, rpmmd.AdvisoryPackage{Name: name, Arch: arch, Epoch: e, Version: v, Release: r})
	}
	return a
}

func TestApplicableAdvisories(t *testing.T) {
	production := []Package{pkg("kernel", "0", "5.14.0", "1.el9", "x86_64", "k1"), pkg("glibc", "0", "2.34", "100.el9", "x86_64", "g1"),
		pkg("curl", "0", "7.76.1", "29.el9", "x86_64", "c1"), pkg("bash", "0", "5.1.8", "9.el9", "x86_64", "b1"),
		pkg("openssl", "1", "3.0.7", "27.el9", "x86_64", "o1"), pkg("bear", "0", "4.1", "1.el9", "noarch", "bear1")}
	// As EL repos do, the candidate keeps older builds beside new ones.
	candidate := []Package{pkg("kernel", "0", "5.14.0", "1.el9", "x86_64", "k1"), pkg("kernel", "0", "5.14.0", "3.el9", "x86_64", "k3"),
		pkg("glibc", "0", "2.34", "100.el9", "x86_64", "g2"), pkg("curl", "0", "7.76.1", "28.el9", "x86_64", "c0"),
		pkg("bash", "0", "5.1.8", "9.el9", "x86_64", "b1"), pkg("slurm", "0", "23.02.7", "2.el9", "x86_64", "s1"),
		pkg("openssl", "1", "3.0.7", "28.el9", "x86_64", "o2"),
		pkg("bear", "0", "4.1", "1.el9", "noarch", "bear1"), pkg("bear", "0", "4.2", "1.el9", "noarch", "bear2")}
	day := func(n int) time.Time { return time.Date(2025, 3, n, 0, 0, 0, 0, time.UTC) }
	byRepo := map[string][]rpmmd.Advisory{
		"baseos": {
			adv("RLSA-kernel-2", "security", "Important", day(2), "kernel.x86_64|0:5.14.0-2.el9"), // fixed by -3, production lacks it
			adv("RLSA-kernel-4", "security", "Critical", day(9), "kernel.x86_64|0:5.14.0-4.el9"),  // newer than the candidate
			adv("RLSA-kernel-1", "security", "Critical", day(1), "kernel.x86_64|0:5.14.0-1.el9"),  // production has it
			adv("RLSA-kernel-arch", "security", "Low", day(3), "kernel.aarch64|0:5.14.0-2.el9"),   // other arch
			adv("RLSA-glibc", "security", "Moderate", day(4), "glibc.x86_64|0:2.34-100.el9"),      // only rebuilt
			adv("RLSA-curl", "security", "Moderate", day(4), "curl.x86_64|0:7.76.1-28.el9"),       // downgraded to it
			adv("RLBA-slurm", "bugfix", "", day(5), "slurm.x86_64|0:23.02.7-2.el9"),               // added
			adv("RLEA-kernel", "enhancement", "", day(6), "kernel.x86_64|0:5.14.0-3.el9"),         // the candidate's build
			adv("RLSA-openssl", "security", "Important", day(7), "kernel.x86_64|0:5.14.0-3.el9"),  // also in appstream
			adv("RLSA-unrated", "security", "", day(8), "kernel.x86_64|0:5.14.0-2.el9"),           // no severity
			adv("RHEA-2012:0057", "enhancement", "", day(1), "bear.noarch|0:4.1-1.el9"),           // production serves bear-4.1
			adv("RHEA-2012:0001", "enhancement", "", day(1), "bear.noarch|0:4.0-1.el9"),           // older still
			adv("RHBA-bear-4.2", "bugfix", "", day(6), "bear.noarch|0:4.2-1.el9"),                 // added beside 4.1
		},
		"appstream": {
			adv("RLSA-openssl", "security", "Important", day(7), "openssl.x86_64|1:3.0.7-28.el9"),
			adv("RLSA-openssl-epoch", "security", "Critical", day(7), "openssl.x86_64|0:3.0.8-1.el9"), // epoch 0 < 1
		},
	}
	got := ApplicableAdvisories(production, candidate, byRepo)
	var ids []string
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	require.Equal(t, []string{"RLSA-openssl", "RLSA-kernel-2", "RLSA-unrated", "RHBA-bear-4.2", "RLBA-slurm", "RLEA-kernel"}, ids,
		"security first by severity, newest first; then bug fixes, enhancements")
	require.Equal(t, []string{"appstream", "baseos"}, got[0].Repos)
	require.Equal(t, []string{"kernel-5.14.0-3.el9.x86_64", "openssl-1:3.0.7-28.el9.x86_64"}, got[0].Fixes)
	require.Equal(t, []string{"kernel-5.14.0-3.el9.x86_64"}, got[1].Fixes, "the build at or above the advisory's carries it")
	require.Equal(t, []string{"bear-4.2-1.el9.noarch"}, got[3].Fixes)
	require.Equal(t, []string{"slurm-23.02.7-2.el9.x86_64"}, got[4].Fixes)
	require.Empty(t, ApplicableAdvisories(candidate, candidate, byRepo), "production has every fix")
	first := ApplicableAdvisories(nil, candidate, byRepo)
	require.Len(t, first, 12, "a first promotion brings every advisory the candidate has the fix of")
}

// repodataFiles makes real repodata with createrepo_c, adds updateinfo
// with modifyrepo_c, and returns the tree as path -> content.
func repodataFiles(t testing.TB, updateinfo string) map[string]string {
	t.Helper()
	md := map[string]string{}
	if updateinfo != "" {
		md["updateinfo.xml"] = updateinfo
	}
	return repodataWith(t, md)
}

// repodataWith makes real repodata with createrepo_c and adds each file
// of md (name -> content; "updateinfo.xml", "modules.yaml") with
// modifyrepo_c, whose type is the name's stem.
func repodataWith(t testing.TB, md map[string]string) map[string]string {
	t.Helper()
	testtool.Need(t, "createrepo_c", "modifyrepo_c")
	dir := t.TempDir()
	require.NoError(t, upstream.Createrepo(t.Context(), dir))
	for name, content := range md {
		require.NoError(t, upstream.Modifyrepo(t.Context(), dir, name, content))
	}
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	return files
}

func TestReleaseAdvisories(t *testing.T) {
	s := newStore(t)
	ui, err := os.ReadFile("rpmmd/testdata/updateinfo.xml")
	require.NoError(t, err)
	oldKernel := pkg("kernel", "0", "5.14.0", "427.el9", "x86_64", "k1")
	newKernel := pkg("kernel", "0", "5.14.0", "503.2.el9_5", "x86_64", "k2")
	hpc := pkg("hpc-tools", "1", "2.0", "1.el9", "noarch", "h1")

	prodBase := commit(t, s, "baseos", t0, repodataFiles(t, ""), oldKernel)
	candBase := commit(t, s, "baseos", t0.Add(time.Hour), repodataFiles(t, string(ui)), newKernel)
	epel := commit(t, s, "epel", t0.Add(time.Hour), repodataFiles(t, string(ui)), hpc)
	prod := release(t, s, t0, map[string]string{"baseos": prodBase.ID})
	cand := release(t, s, t0.Add(time.Hour), map[string]string{"baseos": candBase.ID, "epel": epel.ID})

	has, err := s.SnapshotAdvisories("baseos", prodBase.ID, func(rpmmd.Advisory) error { return nil })
	require.NoError(t, err)
	require.False(t, has, "no updateinfo in the production snapshot")

	d, err := s.DiffReleases(prod.ID, cand.ID)
	require.NoError(t, err)
	got, err := s.ReleaseAdvisories(d)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "RLSA-2025:0101", got[0].ID)
	require.Equal(t, []string{"CVE-2025-0001", "CVE-2025-10002"}, got[0].CVEs())
	require.Equal(t, []string{"baseos", "epel"}, got[0].Repos, "epel's updateinfo names the kernel too, which the release has from baseos")
	require.Equal(t, []string{"kernel-5.14.0-503.2.el9_5.x86_64"}, got[0].Fixes)
	require.Equal(t, "FEDORA-EPEL-2025-1a2b3c", got[1].ID, "a repo new to the release brings its advisories too")
	require.Equal(t, []string{"hpc-tools-1:2.0-1.el9.noarch"}, got[1].Fixes)
}

func TestSnapshotAdvisoriesRefusesHostileUpdateinfo(t *testing.T) {
	s := newStore(t)
	snap := commit(t, s, "baseos", t0, repodataFiles(t, `<?xml version="1.0"?><!DOCTYPE updates [<!ENTITY a "b">]><updates/>`))
	_, err := s.SnapshotAdvisories("baseos", snap.ID, func(rpmmd.Advisory) error { return nil })
	require.ErrorIs(t, err, ErrBadContent)
	require.ErrorIs(t, err, rpmmd.ErrMalformed)
	require.Contains(t, err.Error(), "DOCTYPE")

	_, err = s.SnapshotAdvisories("baseos", "0123456789abcdef", nil)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestTreeAdvisoriesNameTheVariant: a tree's advisories are its variants'
// (its root has no repodata/), and a variant's hostile updateinfo is
// refused naming the variant's directory.
func TestTreeAdvisoriesNameTheVariant(t *testing.T) {
	s := newStore(t)
	ui, err := os.ReadFile("rpmmd/testdata/updateinfo.xml")
	require.NoError(t, err)
	tree := func(appstream string) Snapshot {
		ti := addPool(t, s, ".treeinfo", "[general]\n"+appstream)
		files := []File{ti}
		rec := &Tree{Treeinfo: ti.Checksum.Hex}
		for _, uid := range []string{"AppStream", "BaseOS"} {
			md := repodataFiles(t, map[string]string{"AppStream": appstream}[uid])
			for p, c := range md {
				files = append(files, addPool(t, s, uid+"/"+p, c))
			}
			rec.Variants = append(rec.Variants, TreeVariant{UID: uid, Path: uid, Repomd: sha(md["repodata/repomd.xml"])})
		}
		snap, err := s.CommitSnapshot(Snapshot{Repo: "dist", ID: SnapshotID(ti.Checksum.Hex), Source: "test", CreatedAt: t0, Tree: rec}, files, nil)
		require.NoError(t, err)
		return snap
	}

	var ids []string
	has, err := s.SnapshotAdvisories("dist", tree(string(ui)).ID, func(a rpmmd.Advisory) error {
		ids = append(ids, a.ID)
		return nil
	})
	require.NoError(t, err)
	require.True(t, has)
	require.Contains(t, ids, "RLSA-2025:0101")

	_, err = s.SnapshotAdvisories("dist", tree(`<?xml version="1.0"?><!DOCTYPE updates [<!ENTITY a "b">]><updates/>`).ID, func(rpmmd.Advisory) error { return nil })
	require.ErrorIs(t, err, ErrBadContent)
	require.Contains(t, err.Error(), "advisories of snapshot dist/")
	require.Contains(t, err.Error(), "updateinfo in AppStream/repodata: ")
}
