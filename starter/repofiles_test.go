package starter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/repotest"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// TestRepoFilesOverlayWinsInDnf: an overlay and a mirror serve
// hpc-base-tools-1.3-1.noarch as different builds (a bypassed site build
// and the upstream's own). Real dnf, reading the .repo file `osflow repo
// files` writes, installs the overlay's; and still the mirror's newer
// 1.4-1 when there is one, which dnf's priority= would hide. The mirror
// is named so that with no preference dnf takes its build (its repo ID
// sorts first), as it did before overlays had a lower cost.
func TestRepoFilesOverlayWinsInDnf(t *testing.T) {
	testtool.Need(t, "rpmbuild", "createrepo_c", "dnf", "rpm")
	tools := func(version, content string) upstream.Spec {
		return upstream.Spec{Name: "hpc-base-tools", Version: version, Release: "1",
			Files: map[string]string{"/usr/share/hpc-base-tools/build.txt": content}}
	}
	tests := []struct {
		name          string
		mirror, site  []upstream.Spec
		install, want string
	}{
		{"one NEVRA in two builds: the overlay's", []upstream.Spec{tools("1.3", "upstream 1.3\n")}, []upstream.Spec{tools("1.3", "site 1.3\n")},
			"hpc-base-tools-1.3-1.noarch", "site 1.3\n"},
		{"a newer upstream version still wins", []upstream.Spec{tools("1.3", "upstream 1.3\n"), tools("1.4", "upstream 1.4\n")}, []upstream.Spec{tools("1.3", "site 1.3\n")},
			"hpc-base-tools", "upstream 1.4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			dir := t.TempDir()
			served := filepath.Join(dir, "channels", "testing")
			for repo, specs := range map[string][]upstream.Spec{"a-baseos": tt.mirror, "site": tt.site} {
				for _, sp := range specs { // one at a time: BuildSpecs names spec files by package name
					_, err := upstream.BuildSpecs(ctx, []upstream.Spec{sp}, filepath.Join(served, repo))
					require.NoError(t, err)
				}
				require.NoError(t, upstream.Createrepo(ctx, filepath.Join(served, repo)))
			}
			srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "channels"))))
			t.Cleanup(srv.Close)

			cfgPath := filepath.Join(dir, "osflow.yaml")
			require.NoError(t, os.WriteFile(cfgPath, []byte("store: "+filepath.Join(dir, "store")+`
temporal:
  address: 127.0.0.1:1
repos:
  - name: a-baseos
    url: https://mirror.example.org/baseos/
  - name: site
    overlay: true
`), 0o644))
			cfg, err := config.Load(cfgPath)
			require.NoError(t, err)
			reposd := filepath.Join(dir, "repos.d")
			require.NoError(t, os.MkdirAll(reposd, 0o755))
			f, err := os.Create(filepath.Join(reposd, "osflow.repo"))
			require.NoError(t, err)
			require.NoError(t, WriteRepoFile(f, cfg, nil, "testing", srv.URL+"/"))
			require.NoError(t, f.Close())

			root := filepath.Join(dir, "root")
			out, err := exec.CommandContext(ctx, "dnf", "--installroot="+root, "--releasever=9", "--setopt=reposdir="+reposd,
				"--setopt=cachedir="+filepath.Join(dir, "dnf-cache"), "--refresh", "--nogpgcheck", "--assumeyes", "--noplugins",
				"install", tt.install).CombinedOutput()
			require.NoError(t, err, "dnf install: %s", out)
			got, err := os.ReadFile(filepath.Join(root, "usr/share/hpc-base-tools/build.txt"))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got), "dnf install %s:\n%s", tt.install, out)
		})
	}
}

// TestRepoDiffReportsShadows: `osflow repo diff` names the NEVRAs the
// target release serves as two builds, in text and JSON.
func TestRepoDiffReportsShadows(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	st, err := repo.Open(filepath.Join(dir, "store"))
	require.NoError(t, err)
	rel := repotest.ShadowedRelease(t, st)

	out, stderr, code := run(t, "--config", p, "repo", "diff", "production", rel)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, rel+" serves these NEVRAs as different builds from different repos (nodes install the overlay's; `repo files` gives overlays cost=500):\n"+
		"  ! hpc-base-tools-1.3-1.noarch: overlay site (sha256 ")
	require.Contains(t, out, "…) shadows baseos (sha256 ")

	out, stderr, code = run(t, "--config", p, "--json", "repo", "diff", "production", rel)
	require.Equal(t, ExitOK, code, stderr)
	var d struct {
		To      string
		Shadows []repo.Shadow
	}
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	require.Equal(t, rel, d.To)
	require.Len(t, d.Shadows, 1)
	require.Equal(t, "hpc-base-tools-1.3-1.noarch", d.Shadows[0].NEVRA)
	winner, ok := d.Shadows[0].Winner()
	require.True(t, ok)
	require.Equal(t, "site", winner.Repo)

	out, _, code = run(t, "--config", p, "repo", "diff", rel, "production")
	require.Equal(t, ExitOK, code)
	require.NotContains(t, out, "different builds", "production serves nothing: no shadows to report")
}

// TestRepoDiffShowsMetadataOnlyChanges: a release whose packages are the
// same but whose updateinfo gained an advisory and whose nodejs default
// moved from 8 to 10 is not "no package changes": `osflow repo diff`
// shows both, in text and JSON; for a distribution tree too, whose
// updateinfo and modules.yaml are its AppStream variant's.
func TestRepoDiffShowsMetadataOnlyChanges(t *testing.T) {
	for _, tt := range repotest.MetadataOnlyLayouts() {
		t.Run(tt.Name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeConfig(t, dir, "")
			st, err := repo.Open(filepath.Join(dir, "store"))
			require.NoError(t, err)
			a, b := tt.Releases(t, st)

			out, stderr, code := run(t, "--config", p, "repo", "diff", a, b)
			require.Equal(t, ExitOK, code, stderr)
			require.NotContains(t, out, "no package changes")
			require.Contains(t, out, "["+tt.Repo+"] metadata changed, same packages\n")
			require.Contains(t, out, "advisories published whose fix "+a+" has already (1):\n  RHSA-2026:5 (security, Important) kernel security update\n    CVE-2026-5555\n")
			require.Contains(t, out, "module streams and defaults:\n  ["+tt.Repo+"] default stream of nodejs: 8 -> 10\n")

			out, stderr, code = run(t, "--config", p, "--json", "repo", "diff", a, b)
			require.Equal(t, ExitOK, code, stderr)
			var d struct {
				Published []struct{ ID string }
				Modules   []repo.ModuleChange
			}
			require.NoError(t, json.Unmarshal([]byte(out), &d))
			require.Len(t, d.Published, 1)
			require.Equal(t, "RHSA-2026:5", d.Published[0].ID)
			require.Equal(t, []repo.ModuleChange{{Repo: tt.Repo, Module: "nodejs", Kind: "default", From: "8", To: "10"}}, d.Modules)

			// Production serves nothing: everything is new, advisories with
			// the packages that carry them.
			out, stderr, code = run(t, "--config", p, "repo", "diff", "production", b)
			require.Equal(t, ExitOK, code, stderr)
			require.Contains(t, out, "+ repo "+tt.Repo+"\n["+tt.Repo+"] 1 added")
			require.Contains(t, out, "  RHSA-2026:5 (security, Important, "+tt.Repo+") kernel security update\n    CVE-2026-5555\n    * kernel-5.14.0-1.el9.x86_64\n")
			require.Contains(t, out, "["+tt.Repo+"] default stream of nodejs: nothing -> 10")
		})
	}
}

// TestRepoFilesGPGCheckWithDnf: a signed upstream (signed RPMs and a
// detached repomd.xml.asc) mirrored with its gpgKey configured; real dnf,
// reading the .repo file `osflow repo files` writes, imports the key from
// the channel (no file on the node), checks the repomd.xml signature
// (repo_gpgcheck=1) and the package's, and installs. Served another key,
// it refuses the repo.
func TestRepoFilesGPGCheckWithDnf(t *testing.T) {
	testtool.Need(t, "rpmbuild", "rpmsign", "createrepo_c", "gpg", "dnf", "rpm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	up := filepath.Join(dir, "upstream")
	sign, err := upstream.NewSigner(ctx, filepath.Join(dir, "vendor"))
	require.NoError(t, err)
	t.Cleanup(func() { sign.Close() })
	rpms, err := upstream.BuildSpecs(ctx, []upstream.Spec{{Name: "alpha"}}, up)
	require.NoError(t, err)
	require.NoError(t, sign.SignRPM(ctx, rpms...))
	require.NoError(t, upstream.Createrepo(ctx, up))
	require.NoError(t, sign.SignRepomd(ctx, up))
	upSrv := httptest.NewServer(http.FileServer(http.Dir(up)))
	t.Cleanup(upSrv.Close)

	cfgPath := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("store: "+filepath.Join(dir, "store")+"\nrepos:\n  - name: baseos\n    url: "+upSrv.URL+
		"/\n    gpgKey: "+sign.PublicKey+"\n  - name: site\n    overlay: true\n    gpgKey: "+sign.PublicKey+"\n"), 0o644))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	st, err := repo.Open(cfg.Store)
	require.NoError(t, err)
	acts := &activities.RepoActivities{Store: st, Mirror: activities.NewMirror(st, cfg, nil), Config: cfg}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	val, err := env.ExecuteActivity(acts.SyncRepo, activities.SyncRepoInput{Repo: "baseos"})
	require.NoError(t, err)
	var synced activities.RepoSync
	require.NoError(t, val.Get(&synced))
	rel, _, err := st.CreateRelease(time.Now().UTC(), map[string]string{"baseos": synced.Snapshot})
	require.NoError(t, err)
	_, err = st.Switch(ctx, repo.SwitchRequest{Channel: "testing", Release: rel.ID, Actor: "test", Reason: "dnf"})
	require.NoError(t, err)

	other, err := upstream.NewSigner(ctx, filepath.Join(dir, "other"))
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	otherKey, err := os.ReadFile(other.PublicKey)
	require.NoError(t, err)
	var wrongKey atomic.Bool
	handler := repo.Handler(st)
	chSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wrongKey.Load() && strings.HasSuffix(r.URL.Path, "/"+repo.KeyPath) {
			w.Write(otherKey)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(chSrv.Close)

	var file strings.Builder
	require.NoError(t, WriteRepoFile(&file, cfg, nil, "testing", chSrv.URL+"/"))
	require.Contains(t, file.String(), "gpgcheck=1\ngpgkey="+chSrv.URL+"/testing/baseos/repodata/repomd.xml.key\nrepo_gpgcheck=1\n")
	site := file.String()[strings.Index(file.String(), "[osflow-testing-site]"):]
	require.Contains(t, site, "gpgcheck=1\ngpgkey="+chSrv.URL+"/testing/site/repodata/repomd.xml.key\n")
	require.NotContains(t, site, "repo_gpgcheck", "an overlay's key signs its RPMs; its metadata is osflow's own, unsigned")
	// The overlay is not in this release: only baseos goes to dnf.
	section := file.String()[:strings.Index(file.String(), "\n[osflow-testing-site]")]

	dnf := func(name string) (string, error) {
		reposd := filepath.Join(dir, name, "repos.d")
		require.NoError(t, os.MkdirAll(reposd, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(reposd, "osflow.repo"), []byte(section+"\n"), 0o644))
		out, err := exec.CommandContext(ctx, "dnf", "--installroot="+filepath.Join(dir, name, "root"), "--releasever=9", "--setopt=reposdir="+reposd,
			"--setopt=cachedir="+filepath.Join(dir, name, "cache"), "--refresh", "--assumeyes", "--noplugins", "install", "alpha").CombinedOutput()
		return string(out), err
	}
	out, err := dnf("good")
	require.NoError(t, err, "dnf install with gpgcheck and repo_gpgcheck: %s", out)
	_, err = os.Stat(filepath.Join(dir, "good", "root", "usr/share/alpha/alpha.txt"))
	require.NoError(t, err, "%s", out)

	wrongKey.Store(true)
	out, err = dnf("wrong")
	require.Error(t, err, "a repo whose repomd.xml the served key does not verify: %s", out)
	require.Contains(t, out, "repomd.xml GPG signature verification error", "repo_gpgcheck is in force")
	_, err = os.Stat(filepath.Join(dir, "wrong", "root", "usr/share/alpha/alpha.txt"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestRepoFilesOneSectionPerTreeVariant: a distribution tree gets one
// section per variant of the snapshot the channel serves, a variant at the
// tree root keeping the repo's name, each with its own key; a repo of kind
// auto that turned out a plain repository gets one; a tree the channel
// does not serve yet gets none, as its root has no repodata/.
func TestRepoFilesOneSectionPerTreeVariant(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, `  - name: dist
    kind: tree
    url: https://mirror.example.org/rocky/9/
    gpgKey: `+filepath.Join(dir, "RPM-GPG-KEY-test")+`
  - name: epel
    kind: auto
    url: https://mirror.example.org/epel/9/
  - name: next
    kind: tree
    url: https://mirror.example.org/rocky/10/
`)
	st, err := repo.Open(filepath.Join(dir, "store"))
	require.NoError(t, err)
	tree := &repo.Tree{Variants: []repo.TreeVariant{
		{UID: "AppStream", Name: "AppStream", Path: "AppStream"},
		{UID: "BaseOS", Name: "BaseOS", Path: "."},
		{UID: "CRB", Path: "CRB/os"},
	}}
	rel, _, err := st.CreateRelease(time.Now().UTC(), map[string]string{
		"dist": repotest.Snapshot(t, st, "dist", tree), "epel": repotest.Snapshot(t, st, "epel", nil)})
	require.NoError(t, err)
	_, err = st.Switch(t.Context(), repo.SwitchRequest{Channel: "testing", Release: rel.ID, Actor: "test", Reason: "repo files"})
	require.NoError(t, err)

	out, stderr, code := run(t, "--config", p, "repo", "files", "testing")
	require.Equal(t, ExitOK, code, stderr)
	const base = "http://repos.example.org/testing/"
	for _, want := range []string{
		"\n[osflow-testing-dist-AppStream]\nname=osflow testing dist AppStream\nbaseurl=" + base + "dist/AppStream/\nenabled=1\nmetadata_expire=300\n" +
			"gpgcheck=1\ngpgkey=" + base + "dist/AppStream/repodata/repomd.xml.key\nrepo_gpgcheck=1\n",
		"\n[osflow-testing-dist]\nname=osflow testing dist\nbaseurl=" + base + "dist/\nenabled=1\nmetadata_expire=300\n" +
			"gpgcheck=1\ngpgkey=" + base + "dist/repodata/repomd.xml.key\nrepo_gpgcheck=1\n",
		"\n[osflow-testing-dist-CRB]\nname=osflow testing dist CRB\nbaseurl=" + base + "dist/CRB/os/\n",
		"\n[osflow-testing-epel]\nname=osflow testing epel\nbaseurl=" + base + "epel/\n",
		"\n# next: channel testing serves no snapshot of this distribution tree yet",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "[osflow-testing-next]")
	require.Equal(t, 6, strings.Count(out, "\n[osflow-testing-"), out) // baseos, site, 3 variants, epel

	_, stderr, code = run(t, "--config", p, "repo", "files", "nosuch")
	require.Equal(t, ExitUsage, code, stderr)
	require.Contains(t, stderr, "nosuch")
}

// TestRepoDiffListsATreeVariantsAdvisory: a distribution tree mirrored
// twice, the second time with hpc-apps 2.1 added beside 2.0 in its
// AppStream variant (EL keeps every build) and AppStream's updateinfo
// naming both builds' advisories. `osflow repo diff` lists as new to the
// first release only 2.1's, with its package, under the tree's name, and
// 2.0's as published for a fix the first release has.
func TestRepoDiffListsATreeVariantsAdvisory(t *testing.T) {
	testtool.Need(t, "rpmbuild", "createrepo_c", "modifyrepo_c")
	ctx := t.Context()
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	st, err := repo.Open(filepath.Join(dir, "store"))
	require.NoError(t, err)
	up := filepath.Join(dir, "upstream")
	spec := upstream.TreeSpec{
		Images: map[string]string{"images/install.img": "stage2"},
		Variants: map[string][]upstream.Spec{
			"AppStream": {{Name: "hpc-apps", Version: "2.0"}},
			"BaseOS":    {{Name: "hpc-base"}},
		},
	}
	_, err = upstream.BuildTree(ctx, spec, up)
	require.NoError(t, err)
	m := mirror.New(st, 2, zap.NewNop())
	release := func() string {
		t.Helper()
		res, err := m.Sync(ctx, mirror.Source{Repo: "dist", URL: "file://" + up, Kind: mirror.KindTree}, nil)
		require.NoError(t, err)
		rel, _, err := st.CreateRelease(time.Now().UTC(), map[string]string{"dist": res.Snapshot.ID})
		require.NoError(t, err)
		return rel.ID
	}
	first := release()

	appstream := filepath.Join(up, "AppStream")
	_, err = upstream.BuildSpecs(ctx, []upstream.Spec{{Name: "hpc-apps", Version: "2.1"}}, appstream)
	require.NoError(t, err)
	require.NoError(t, upstream.Createrepo(ctx, appstream))
	advisory := func(id, version string) string {
		return `<update type="security"><id>` + id + `</id><title>hpc-apps ` + version + `</title><severity>Important</severity>` +
			`<pkglist><collection><package name="hpc-apps" epoch="0" version="` + version + `" release="1" arch="noarch"/></collection></pkglist></update>`
	}
	require.NoError(t, upstream.Modifyrepo(ctx, appstream, "updateinfo.xml",
		`<?xml version="1.0"?><updates>`+advisory("RHSA-2026:20", "2.0")+advisory("RHSA-2026:21", "2.1")+`</updates>`))
	spec.BuildTimestamp = 1714000100
	_, err = upstream.WriteTreeinfo(spec, up)
	require.NoError(t, err)
	second := release()

	out, stderr, code := run(t, "--config", p, "repo", "diff", first, second)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "[dist] 1 added, 0 removed")
	require.Contains(t, out, "advisories new to "+first+" (1):\n  RHSA-2026:21 (security, Important, dist) hpc-apps 2.1\n    * hpc-apps-2.1-1.noarch\n")
	require.Contains(t, out, "advisories published whose fix "+first+" has already (1):\n  RHSA-2026:20 (security, Important) hpc-apps 2.0\n",
		"the first release has hpc-apps 2.0 already")
}
