package activities

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// repoFixture is an upstream of three packages served over HTTP, and the
// repo activities of a worker configured to mirror it as "baseos".
func repoFixture(t *testing.T) (*RepoActivities, string) {
	testtool.Need(t, "rpmbuild", "createrepo_c")
	dir := t.TempDir()
	up := filepath.Join(dir, "upstream")
	_, err := upstream.BuildSpecs(t.Context(), []upstream.Spec{{Name: "alpha"}, {Name: "beta"}, {Name: "gamma"}}, up)
	require.NoError(t, err)
	require.NoError(t, upstream.Createrepo(t.Context(), up))
	srv := httptest.NewServer(http.FileServer(http.Dir(up)))
	t.Cleanup(srv.Close)
	cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"),
		[]byte("store: store\nrepos:\n  - name: baseos\n    url: "+srv.URL+"/\n"))
	require.NoError(t, err)
	st, err := repo.Open(cfg.Store)
	require.NoError(t, err)
	return &RepoActivities{Store: st, Mirror: NewMirror(st, cfg, nil), Config: cfg}, up
}

// TestSyncRepoCountsEveryAttempt covers a sync retried after its worker
// died: the counts of the attempts before, kept in the heartbeat, carry
// on into the result.
func TestSyncRepoCountsEveryAttempt(t *testing.T) {
	acts, up := repoFixture(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	env.SetHeartbeatDetails(SyncProgress{Repo: "baseos", Stage: "packages", Downloaded: 5, DownloadedBytes: 5000, Retries: 2})
	val, err := env.ExecuteActivity(acts.SyncRepo, SyncRepoInput{Repo: "baseos"})
	require.NoError(t, err)
	var res RepoSync
	require.NoError(t, val.Get(&res))

	var files int
	var bytes int64
	require.NoError(t, filepath.WalkDir(up, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "repomd.xml") {
			return err
		}
		info, err := d.Info()
		files, bytes = files+1, bytes+info.Size()
		return err
	}))
	require.Equal(t, RepoSync{Repo: "baseos", Snapshot: res.Snapshot, Changed: true, Packages: 3,
		Downloaded: 5 + files, DownloadedBytes: 5000 + bytes, Retries: 2}, res)
}

// TestSyncRepoNamesTheRootCauseOnce covers a sync refused for bad content:
// the error says what, where and what to do once, is not retried, and
// carries the same as details.
func TestSyncRepoNamesTheRootCauseOnce(t *testing.T) {
	acts, up := repoFixture(t)
	victim := filepath.Join(up, "Packages", "beta-1.0-1.noarch.rpm")
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(victim, data, 0o644))

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.SyncRepo, SyncRepoInput{Repo: "baseos"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%T: %v", err, err)
	require.Equal(t, ErrTypeBadContent, appErr.Type())
	require.True(t, appErr.NonRetryable())
	msg := appErr.Error()
	t.Log(msg)
	require.Equal(t, 1, strings.Count(msg, "checksum mismatch"), msg)
	require.Equal(t, 1, strings.Count(msg, acts.Config.Repos[0].URL), msg)
	require.True(t, strings.HasPrefix(msg, "bad repository content: "+acts.Config.Repos[0].URL+"Packages/beta-1.0-1.noarch.rpm: sha256 checksum mismatch"), msg)
	require.Contains(t, msg, "not retried")
	require.Less(t, len(msg), 500)

	var f SyncFailure
	require.NoError(t, appErr.Details(&f))
	require.Equal(t, "baseos", f.Repo)
	require.Equal(t, acts.Config.Repos[0].URL, f.URL)
	require.Equal(t, ErrTypeBadContent, f.Kind)
	require.Contains(t, f.Cause, "checksum mismatch")
	require.NotContains(t, f.Cause, "mirror baseos")
}

// TestSourceCarriesTheNetwork: a repo's mirrorlist, metalink, proxy and
// TLS files reach the mirror as given, the key as a path only.
func TestSourceCarriesTheNetwork(t *testing.T) {
	rc := config.Repo{Name: "rhel", URL: "https://cdn.example/rhel/", Metalink: "https://mm.example/metalink?repo=r",
		Proxy: "http://u:pw@proxy.example:3128", TLS: &config.RepoTLS{ClientCert: "/e/1.pem", ClientKey: "/e/1-key.pem", CACert: "/ca.pem"}}
	src, err := (&RepoActivities{}).source(rc, "")
	require.NoError(t, err)
	require.Equal(t, mirror.Source{Repo: "rhel", URL: rc.URL, Metalink: rc.Metalink, Proxy: rc.Proxy,
		TLS: mirror.TLSFiles{ClientCert: "/e/1.pem", ClientKey: "/e/1-key.pem", CACert: "/ca.pem"}}, src)

	rc = config.Repo{Name: "rocky", Mirrorlist: "https://ml.example/mirrorlist?repo=BaseOS-9"}
	src, err = (&RepoActivities{}).source(rc, "")
	require.NoError(t, err)
	require.Equal(t, mirror.Source{Repo: "rocky", Mirrorlist: rc.Mirrorlist}, src)
}

// TestSyncRepoFromMetalink: a repo configured with only a metalink is
// read from the mirror whose repomd.xml the metalink describes, and the
// result names it and the mirror refused before it.
func TestSyncRepoFromMetalink(t *testing.T) {
	testtool.Need(t, "rpmbuild", "createrepo_c")
	dir := t.TempDir()
	up := filepath.Join(dir, "upstream")
	_, err := upstream.BuildSpecs(t.Context(), []upstream.Spec{{Name: "alpha"}}, up)
	require.NoError(t, err)
	require.NoError(t, upstream.Createrepo(t.Context(), up))
	good := httptest.NewServer(http.FileServer(http.Dir(up)))
	t.Cleanup(good.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	raw, err := os.ReadFile(filepath.Join(up, "repodata", "repomd.xml"))
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	metalink := fmt.Sprintf(`<metalink xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager"><files><file name="repomd.xml">
<size>%d</size><verification><hash type="sha256">%x</hash></verification>
<resources><url protocol="http" preference="100">%s/repodata/repomd.xml</url><url protocol="http" preference="90">%s/repodata/repomd.xml</url></resources>
</file></files></metalink>`, len(raw), sum, down.URL, good.URL)
	mm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, metalink) }))
	t.Cleanup(mm.Close)

	cfg, err := config.Parse(filepath.Join(dir, "osflow.yaml"),
		[]byte("store: store\nrepos:\n  - name: epel\n    metalink: "+mm.URL+"/metalink?repo=epel-9&arch=x86_64\n"))
	require.NoError(t, err)
	st, err := repo.Open(cfg.Store)
	require.NoError(t, err)
	acts := &RepoActivities{Store: st, Mirror: NewMirror(st, cfg, nil), Config: cfg}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	val, err := env.ExecuteActivity(acts.SyncRepo, SyncRepoInput{Repo: "epel"})
	require.NoError(t, err)
	var res RepoSync
	require.NoError(t, val.Get(&res))
	require.Equal(t, 1, res.Packages)
	require.Equal(t, good.URL+"/", res.Mirror)
	require.Len(t, res.Refused, 1)
	require.Equal(t, down.URL+"/", res.Refused[0].Mirror)
	require.Contains(t, res.Refused[0].Reason, "connection refused")
}

func TestRefusedMirrorsAreBounded(t *testing.T) {
	var refused []mirror.Refusal
	for i := range refusedShown + 3 {
		refused = append(refused, mirror.Refusal{Mirror: fmt.Sprintf("http://m%d/", i), Err: errors.New("down")})
	}
	got := refusedMirrors(refused)
	require.Len(t, got, refusedShown+1)
	require.Equal(t, RefusedMirror{Mirror: "http://m0/", Reason: "down"}, got[0])
	require.Equal(t, RefusedMirror{Mirror: "and 3 more", Reason: "see the worker's log (mirror refused)"}, got[refusedShown])
	require.Empty(t, refusedMirrors(nil))
}

// TestSyncErrorNeverRetriesTooManyLinks: EMLINK from the store is not a
// transient error (the links stay until GC), whatever wraps it.
func TestSyncErrorNeverRetriesTooManyLinks(t *testing.T) {
	a := &RepoActivities{Config: &config.Config{Path: "/etc/osflow.yaml"}}
	for name, err := range map[string]error{
		"commit": &mirror.SyncError{Repo: "baseos", URL: "https://m/", Err: fmt.Errorf("commit snapshot: %w",
			&os.LinkError{Op: "link", Old: "/s/pool/x", New: "/s/tmp/y", Err: syscall.EMLINK})},
		"store": fmt.Errorf("derive overlay: %w", &os.LinkError{Op: "link", Old: "a", New: "b", Err: syscall.EMLINK}),
	} {
		var app *temporal.ApplicationError
		require.ErrorAs(t, a.syncError(config.Repo{Name: "baseos"}, err), &app, name)
		require.True(t, app.NonRetryable(), name)
		require.Equal(t, ErrTypeStoreLimit, app.Type(), name)
		require.Contains(t, app.Error(), "too many links", name)
		require.ErrorAs(t, classify(err), &app, name)
		require.True(t, app.NonRetryable(), name)
	}
}
