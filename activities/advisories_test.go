package activities

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/repotest"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// elUpdate is one advisory of an EL-like updateinfo: every build of a
// minor release keeps its own advisory, and the repo keeps every build.
type elUpdate struct{ id, typ, severity, pkg, epoch, version, release string }

func (u elUpdate) xml() string {
	return fmt.Sprintf(`<update from="security@example.org" status="final" type="%s" version="2"><id>%s</id><title>%s update</title>`+
		`<issued date="2026-11-01 00:00:00"/><severity>%s</severity><references/><pkglist><collection short="el9"><name>el9</name>`+
		`<package name="%s" epoch="%s" version="%s" release="%s" arch="noarch" src="x.src.rpm"><filename>%s-%s-%s.noarch.rpm</filename></package>`+
		`</collection></pkglist></update>`, u.typ, u.id, u.pkg, u.severity, u.pkg, u.epoch, u.version, u.release, u.pkg, u.version, u.release)
}

// buildELRepo builds dir as a real repo: the packages of each batch (one
// build per name in a batch) with rpmbuild, createrepo_c, and the
// advisories added with modifyrepo_c.
func buildELRepo(t *testing.T, dir string, batches [][]upstream.Spec, updates []elUpdate) {
	t.Helper()
	require.NoError(t, os.RemoveAll(dir))
	for _, b := range batches {
		_, err := upstream.BuildSpecs(t.Context(), b, dir)
		require.NoError(t, err)
	}
	require.NoError(t, upstream.Createrepo(t.Context(), dir))
	if len(updates) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<updates>")
	for _, u := range updates {
		b.WriteString(u.xml())
	}
	b.WriteString("</updates>\n")
	require.NoError(t, upstream.Modifyrepo(t.Context(), dir, "updateinfo.xml", b.String()))
}

// TestPackageRiskListsOnlyNewAdvisories mirrors EL-like repos built with
// rpmbuild and createrepo_c, where a new build sits beside the older ones
// and every build has its advisory: the risk report lists exactly the
// advisories production lacks, each with its packages, and counts the
// packages of a repo new to the release.
func TestPackageRiskListsOnlyNewAdvisories(t *testing.T) {
	testtool.Need(t, "rpmbuild", "createrepo_c", "modifyrepo_c")
	dir := t.TempDir()
	base, extra := filepath.Join(dir, "baseos"), filepath.Join(dir, "extra")
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"), []byte("store: store\nrepos:\n  - name: baseos\n    url: "+srv.URL+
		"/baseos/\n  - name: extra\n    url: "+srv.URL+"/extra/\n"))
	require.NoError(t, err)
	st, err := repo.Open(cfg.Store)
	require.NoError(t, err)
	a := &RepoActivities{Store: st, Mirror: NewMirror(st, cfg, nil), Config: cfg}
	sync := func(name string) string {
		res, err := a.Mirror.Sync(t.Context(), mirror.Source{Repo: name, URL: srv.URL + "/" + name + "/"}, nil)
		require.NoError(t, err)
		return res.Snapshot.ID
	}
	old := []elUpdate{
		{"RHEA-2012:0057", "enhancement", "", "bear", "0", "4.1", "1.el9"},
		{"RHSA-2026:1001", "security", "Important", "kernel", "0", "5.14.0", "1.el9"},
		{"RHSA-2026:1002", "security", "Important", "kernel", "0", "5.14.0", "2.el9"},
		{"RHSA-2026:2001", "security", "Moderate", "openssl", "1", "3.0", "1.el9"},
		{"RHSA-2026:2009", "security", "Critical", "openssl", "0", "3.0", "9.el9"}, // epoch 0: older than production's 1:3.0-1
	}
	prodBatches := [][]upstream.Spec{
		{{Name: "bear", Version: "4.1", Release: "1.el9"}, {Name: "kernel", Version: "5.14.0", Release: "1.el9"}, {Name: "openssl", Epoch: 1, Version: "3.0", Release: "1.el9"}},
		{{Name: "kernel", Version: "5.14.0", Release: "2.el9"}},
	}
	buildELRepo(t, base, prodBatches, old)
	prod, _, err := st.CreateRelease(time.Now().UTC().Add(-time.Hour), map[string]string{"baseos": sync("baseos")})
	require.NoError(t, err)

	// Before production serves anything, the report describes the content.
	risk, err := a.PackageRisk(t.Context(), DiffSummaryInput{From: "production", To: prod.ID})
	require.NoError(t, err)
	require.True(t, risk.Diff.FromNothing)
	require.Equal(t, 4, risk.Diff.Added)
	require.Len(t, risk.Advisories, 5, "every advisory of the first release: production has none of them")
	page := RenderRisk(RiskReport{Release: prod.ID, Packages: risk})
	requirePage(t, page, []string{"First promotion: production serves nothing yet", "4 packages in 1 repos (baseos 4)", "RHSA-2026:1002"}, []string{"None found", "0 added"})
	_, err = st.Switch(t.Context(), repo.SwitchRequest{Channel: "production", Release: prod.ID, Actor: "test", Reason: "first"})
	require.NoError(t, err)

	buildELRepo(t, base, append(prodBatches, []upstream.Spec{
		{Name: "bear", Version: "4.2", Release: "1.el9"}, {Name: "kernel", Version: "5.14.0", Release: "3.el9"}, {Name: "openssl", Epoch: 1, Version: "3.0", Release: "2.el9"},
	}), append(old,
		elUpdate{"RHBA-2026:3001", "bugfix", "", "bear", "0", "4.2", "1.el9"},
		elUpdate{"RHSA-2026:1003", "security", "Critical", "kernel", "0", "5.14.0", "3.el9"},
		elUpdate{"RHSA-2026:2002", "security", "Moderate", "openssl", "1", "3.0", "2.el9"},
		elUpdate{"RHSA-2026:1004", "security", "Critical", "kernel", "0", "5.14.0", "4.el9"}, // not built yet
	))
	buildELRepo(t, extra, [][]upstream.Spec{{{Name: "hpc-tools", Version: "2.0", Release: "1"}, {Name: "hpc-lib", Version: "1.0", Release: "1"}}},
		[]elUpdate{{"EXTRA-2026:1", "enhancement", "", "hpc-tools", "0", "2.0", "1"}})
	cand, _, err := st.CreateRelease(time.Now().UTC(), map[string]string{"baseos": sync("baseos"), "extra": sync("extra")})
	require.NoError(t, err)

	risk, err = a.PackageRisk(t.Context(), DiffSummaryInput{From: "production", To: cand.ID})
	require.NoError(t, err)
	var ids []string
	pkgs := map[string][]string{}
	for _, ad := range risk.Advisories {
		ids = append(ids, ad.ID)
		pkgs[ad.ID] = ad.Packages
	}
	require.Equal(t, []string{"RHSA-2026:1003", "RHSA-2026:2002", "RHBA-2026:3001", "EXTRA-2026:1"}, ids)
	require.Equal(t, map[string][]string{
		"RHSA-2026:1003": {"kernel-5.14.0-3.el9.noarch"}, "RHSA-2026:2002": {"openssl-1:3.0-2.el9.noarch"},
		"RHBA-2026:3001": {"bear-4.2-1.el9.noarch"}, "EXTRA-2026:1": {"hpc-tools-2.0-1.noarch"},
	}, pkgs)
	require.False(t, risk.Diff.FromNothing)
	require.Equal(t, 5, risk.Diff.Added, "bear, kernel and openssl beside their older builds, and the new repo's two")
	require.Equal(t, []RepoCount{{Repo: "extra", Packages: 2}}, risk.Diff.AddedRepos)
	page = RenderRisk(RiskReport{Release: cand.ID, Production: prod.ID, Packages: risk})
	requirePage(t, page, []string{"- **RHSA-2026:1003** (security, Critical, baseos) kernel update\n  packages: `kernel-5.14.0-3.el9.noarch`\n",
		"5 added, 0 removed", "New repos (their packages counted as added): extra 2."}, []string{"RHEA-2012:0057", "RHSA-2026:1002", "RHSA-2026:1004", "RHSA-2026:2009"})
	requirePage(t, RenderRiskSummary(RiskReport{Release: cand.ID, Packages: risk}, "promotion-x", false),
		[]string{"Advisories: 4 (2 security).", "- RHSA-2026:1003 (security, Critical, baseos) kernel update\n  packages: `kernel-5.14.0-3.el9.noarch`"}, nil)
}

// TestPackageRiskShowsMetadataOnlyChanges: a release that changes no
// package but moves the nodejs default from 8 to 10 says so in the risk
// report and its notification; for a distribution tree too, whose
// modules.yaml and updateinfo are its AppStream variant's, and whose
// advisory the first promotion lists with its package.
func TestPackageRiskShowsMetadataOnlyChanges(t *testing.T) {
	for _, tt := range repotest.MetadataOnlyLayouts() {
		t.Run(tt.Name, func(t *testing.T) {
			st, _ := repotest.Store(t, 1)
			from, to := tt.Releases(t, st)
			a := &RepoActivities{Store: st, Config: &config.Config{}}
			risk, err := a.PackageRisk(t.Context(), DiffSummaryInput{From: from, To: to})
			require.NoError(t, err)
			change := "[" + tt.Repo + "] default stream of nodejs: 8 -> 10"
			require.Equal(t, []string{change}, risk.Modules)
			requirePage(t, RenderRisk(RiskReport{Release: to, Production: from, Packages: risk}),
				[]string{"### Module streams and defaults\n\n- " + change + "\n"}, nil)
			requirePage(t, RenderRiskSummary(RiskReport{Release: to, Packages: risk}, "promotion-x", false),
				[]string{"Module stream and default changes: 1 (see the risk report).\n"}, nil)

			first, err := a.PackageRisk(t.Context(), DiffSummaryInput{From: "production", To: to})
			require.NoError(t, err)
			requirePage(t, RenderRisk(RiskReport{Release: to, Packages: first}),
				[]string{"- **RHSA-2026:5** (security, Important, " + tt.Repo + ") kernel security update — CVE-2026-5555\n  packages: `kernel-5.14.0-1.el9.x86_64`\n"}, nil)
		})
	}
}
