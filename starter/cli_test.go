package starter

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/repotest"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/workflows"
)

// writeConfig writes a minimal site configuration into dir.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	key := filepath.Join(dir, "RPM-GPG-KEY-test")
	require.NoError(t, os.WriteFile(key, []byte("not parsed by these commands"), 0o644))
	cfg := "store: " + filepath.Join(dir, "store") + `
temporal:
  address: 127.0.0.1:1
http:
  baseURL: http://repos.example.org/
repos:
  - name: baseos
    url: https://mirror.example.org/rocky/9/BaseOS/x86_64/os/
    gpgKey: ` + key + `
    requireSignature: false
  - name: site
    overlay: true
    description: Site packages and security fixes
` + extra
	p := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(p, []byte(cfg), 0o644))
	// The store as a worker leaves it at its start: commands never create one.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "store"), 0o755))
	return p
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Execute(args, &out, &errOut)
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func TestConfigErrorsExitWithUsageAndNameTheLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(p, []byte("store: /tmp/x\nrepos:\n  - name: baseos\n    url: http://x/\n    colour: blue\n"), 0o644))
	_, stderr, code := run(t, "--config", p, "repo", "releases")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "osflow.yaml:5")
	require.Contains(t, stderr, "colour")
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	_, stderr, code := run(t, "sync", "--wiat")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "--help")
}

func TestRepoFilesWritesOneSectionPerRepo(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	out, stderr, code := run(t, "--config", p, "repo", "files", "testing")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "[osflow-testing-baseos]\nname=osflow testing baseos\nbaseurl=http://repos.example.org/testing/baseos/\n")
	require.Contains(t, out, "gpgcheck=1\ngpgkey=http://repos.example.org/testing/baseos/repodata/repomd.xml.key\n",
		"the channel's copy of the key, not a path on the osflow host")
	require.NotContains(t, out, "repo_gpgcheck", "requireSignature: false: a snapshot may be unsigned")
	require.Contains(t, out, "[osflow-testing-site]\nname=osflow testing site: Site packages and security fixes\nbaseurl=http://repos.example.org/testing/site/\nenabled=1\nmetadata_expire=300\ncost=500\ngpgcheck=0\n")
	require.NotContains(t, out[:strings.Index(out, "[osflow-testing-site]")], "cost=", "a mirror keeps dnf's default cost")

	out, _, code = run(t, "--config", p, "repo", "files", "production", "--base-url", "https://mirror.hpc.example.org/osflow")
	require.Equal(t, ExitOK, code)
	require.Contains(t, out, "baseurl=https://mirror.hpc.example.org/osflow/production/baseos/\n")
}

// TestBadArgumentsAreUsageErrors covers arguments that would write a
// broken .repo file, start a workflow bound to fail, or forge an audit
// line: each is refused before anything is written or started.
func TestBadArgumentsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	tests := []struct {
		name     string
		args     []string
		mentions string
	}{
		{"repo files of a path", []string{"repo", "files", "../../etc"}, "channel name"},
		{"repo files with a javascript base URL", []string{"repo", "files", "testing", "--base-url", "javascript:alert(1)"}, "want an http:// or https:// URL"},
		{"repo files with a relative base URL", []string{"repo", "files", "testing", "--base-url", "repos.example.org/osflow"}, "want an http:// or https:// URL"},
		{"repo files with credentials", []string{"repo", "files", "testing", "--base-url", "https://ops:hunter2@repos.example.org/"}, "no user info"},
		{"repo files with a query", []string{"repo", "files", "testing", "--base-url", "https://repos.example.org/?x=1"}, "no query"},
		{"rollback of a path", []string{"repo", "rollback", "../../etc", "--reason", "r"}, "channel name"},
		{"repo files of a mistyped channel", []string{"repo", "files", "prodcution"}, `no channel "prodcution" (did you mean "production"?): the channels are daily, testing, production`},
		{"rollback of an unknown channel", []string{"repo", "rollback", "nosuch", "--reason", "r"}, `no channel "nosuch": the channels are daily, testing, production`},
		{"diff against an unknown channel", []string{"repo", "diff", "testing", "nosuch"}, `no channel "nosuch"`},
		{"diff against an unknown release", []string{"repo", "diff", "20260101-aaaaaaaaaa", "testing"}, `no release "20260101-aaaaaaaaaa" in the store`},
		{"rollback to a path", []string{"repo", "rollback", "testing", "--to", "../../etc", "--reason", "r"}, "--to: release name"},
		{"task-done as two lines", []string{"task-done", "firmware", "--as", "alice\nroot approved"}, "U+000A"},
		{"task-done as a bidi override", []string{"task-done", "firmware", "--as", "alice\u202e"}, "U+202E"},
		{"task-done as nobody", []string{"task-done", "firmware", "--as", " "}, "a name is required"},
		{"sync allowing an unknown repo", []string{"sync", "--allow-older", "nosuch"}, "--allow-older nosuch: no such repo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := run(t, append([]string{"--config", p}, tt.args...)...)
			require.Equal(t, ExitUsage, code, stderr)
			require.Empty(t, out)
			require.Contains(t, stderr, tt.mentions)
			require.NotContains(t, stderr, "hunter2")
			require.NotContains(t, stderr, "127.0.0.1:1", "it went to Temporal first")
		})
	}
}

func TestOverlayAddIsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rpms, err := upstream.BuildSpecs(ctx, []upstream.Spec{{Name: "site-fix", Version: "1.0", Release: "1"}}, filepath.Join(dir, "built"))
	require.NoError(t, err)
	bogus := filepath.Join(dir, "notes.rpm")
	require.NoError(t, os.WriteFile(bogus, []byte("this is not an rpm"), 0o644))

	_, stderr, code := run(t, "--config", p, "overlay", "add", "site", rpms[0], bogus)
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "notes.rpm")
	out, _, code := run(t, "--config", p, "--json", "overlay", "list", "site")
	require.Equal(t, ExitOK, code)
	require.Equal(t, "[]", strings.TrimSpace(out), "nothing was added")

	_, stderr, code = run(t, "--config", p, "overlay", "add", "baseos", rpms[0])
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, `no overlay repo named "baseos"`)

	out, stderr, code = run(t, "--config", p, "overlay", "add", "site", rpms[0])
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, out, "added site-fix-1.0-1.noarch to overlay site")
	out, _, _ = run(t, "--config", p, "--json", "overlay", "list", "site")
	var list []repo.OverlayRPM
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 1)
	require.Equal(t, "site-fix-1.0-1.noarch", list[0].NEVRA)
}

func TestStatusReportsChannelsWhenTemporalIsDown(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	out, _, code := run(t, "--config", p, "--json", "status")
	require.Equal(t, ExitOK, code, "the JSON report itself carries the Temporal error")
	var st Status
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Len(t, st.Channels, 3)
	require.NotEmpty(t, st.Temporal)
	require.Contains(t, st.Temporal, "127.0.0.1:1")

	_, _, code = run(t, "--config", p, "status")
	require.Equal(t, ExitFailed, code, "text status exits 1 when Temporal is unreachable")
}

func TestDiffOfUnknownReleaseIsAUsageError(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	_, stderr, code := run(t, "--config", p, "repo", "diff", "20260101-aaaaaaaaaa", "testing")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, stderr, "20260101-aaaaaaaaaa")
}

// TestStatusShowsStaleRepos: a release that carries a failing repo over
// says so in `osflow status`, text and JSON.
func TestStatusShowsStaleRepos(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	st, err := repo.Open(filepath.Join(dir, "store"))
	require.NoError(t, err)
	good, err := st.Release(repotest.ShadowedRelease(t, st))
	require.NoError(t, err)
	since := good.CreatedAt.Add(24 * time.Hour)
	stale, _, err := st.CreateReleaseStale(since, good.Repos, map[string]repo.StaleRepo{
		"baseos": {Since: since, Cause: "repodata/repomd.xml: connection refused\nmore detail"}})
	require.NoError(t, err)
	_, err = st.Switch(context.Background(), repo.SwitchRequest{Channel: "testing", Release: stale.ID, Actor: "test", Reason: "stale"})
	require.NoError(t, err)

	out, _, _ := run(t, "--config", p, "status")
	require.Contains(t, out, "  STALE repo baseos: snapshot "+good.Repos["baseos"]+", failing to sync since "+
		since.Local().Format("2006-01-02 15:04")+": repodata/repomd.xml: connection refused\n")
	out, _, _ = run(t, "--config", p, "--json", "status")
	var js Status
	require.NoError(t, json.Unmarshal([]byte(out), &js))
	for _, c := range js.Channels {
		if c.Channel == "testing" {
			require.Equal(t, stale.Stale, c.Stale)
			require.Equal(t, map[string]string{"baseos": good.Repos["baseos"]}, c.StaleSnapshots)
		} else {
			require.Empty(t, c.Stale, c.Channel)
		}
	}
}

// TestSyncSummaryShowsStaleRepos: `osflow sync --wait` says which repo
// the release carries over, why, since when, and its ticket.
func TestSyncSummaryShowsStaleRepos(t *testing.T) {
	since := time.Date(2026, 12, 1, 3, 0, 0, 0, time.Local)
	var b bytes.Buffer
	printSyncSummary(&b, workflows.DailySyncStatus{
		Phase:   workflows.PhaseDone,
		Repos:   []activities.RepoSync{{Repo: "baseos", Snapshot: "s2", Packages: 3}},
		Release: "20261202-abc",
		Stale:   []activities.StaleRepo{{Repo: "epel", Snapshot: "s1", Since: since, Cause: "repomd.xml lists only sha1 checksums\ndetail"}},
		Tickets: map[string]string{"epel": "OSF-7"},
	})
	require.Contains(t, b.String(), "epel         STALE: failed to sync (repomd.xml lists only sha1 checksums); keeps snapshot s1, "+
		"failing since 2026-12-01 03:00, ticket OSF-7\n")
}
