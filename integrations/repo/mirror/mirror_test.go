package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/osflow/osflow/integrations/repo"
)

const testRepo = "baseos"

func newTestMirror(t *testing.T) (*Mirror, *repo.Store) {
	st, err := repo.Open(t.TempDir())
	require.NoError(t, err)
	m := New(st, 4, zaptest.NewLogger(t))
	// Retries as the defaults make them, only without the long waits.
	m.Retry = RetryPolicy{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	return m, st
}

func source(u *upstream) Source { return Source{Repo: testRepo, URL: u.URL()} }

// treeOf maps every regular file under dir to its content.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		tree[filepath.ToSlash(rel)] = string(data)
		return err
	}))
	return tree
}

func snapshotDir(st *repo.Store, snap repo.Snapshot) string {
	return filepath.Join(st.Root(), "snapshots", snap.Repo, snap.ID)
}

// requireNoSnapshot checks that a failed sync left nothing visible and no
// staging files behind.
func requireNoSnapshot(t *testing.T, st *repo.Store) {
	t.Helper()
	snaps, err := st.Snapshots(testRepo)
	if err == nil {
		require.Empty(t, snaps)
	} else {
		require.ErrorIs(t, err, repo.ErrNotFound)
	}
	tmp, err := os.ReadDir(st.TempDir())
	if err == nil {
		require.Empty(t, tmp, "staging files left behind")
	}
}

func packageRequests(reqs []string) []string {
	var pkgs []string
	for _, r := range reqs {
		if strings.HasPrefix(r, "/Packages/") {
			pkgs = append(pkgs, strings.TrimPrefix(r, "/Packages/"))
		}
	}
	slices.Sort(pkgs)
	return pkgs
}

func TestSyncFull(t *testing.T) {
	for _, scheme := range []string{"http", "file"} {
		t.Run(scheme, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0", "beta-2.1", "gamma-0.3")
			m, st := newTestMirror(t)
			src := source(u)
			if scheme == "file" {
				src.URL = "file://" + u.Dir
			}
			var mu sync.Mutex
			var events []Progress
			res, err := m.Sync(t.Context(), src, func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, p)
			})
			require.NoError(t, err)

			repomdSHA := sha256Hex(u.read(repomdPath))
			require.True(t, res.Changed)
			require.Equal(t, repo.SnapshotID(repomdSHA), res.Snapshot.ID)
			require.Equal(t, repomdSHA, res.Snapshot.Repomd)
			require.Equal(t, src.URL, res.Snapshot.Source)
			require.Equal(t, 3, res.Snapshot.Packages)
			require.Equal(t, len(u.repomd().Data)+3, res.Downloaded)
			require.Zero(t, res.Reused)

			// The tree is upstream's, byte for byte, and every file is the pool object.
			dir := snapshotDir(st, res.Snapshot)
			tree := treeOf(t, dir)
			require.Equal(t, treeOf(t, u.Dir), tree)
			var total int64
			for p, data := range tree {
				total += int64(len(data))
				sum := sha256.Sum256([]byte(data))
				pool := st.PoolPath(repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])})
				a, err := os.Stat(filepath.Join(dir, p))
				require.NoError(t, err)
				b, err := os.Stat(pool)
				require.NoError(t, err)
				require.True(t, os.SameFile(a, b), "%s is not a hardlink of %s", p, pool)
			}
			require.Equal(t, total, res.Snapshot.Bytes)

			pkgs, err := st.Manifest(testRepo, res.Snapshot.ID)
			require.NoError(t, err)
			var nevras []string
			for _, p := range pkgs {
				nevras = append(nevras, p.NEVRA())
				require.Equal(t, "Packages/"+p.NEVRA()+".rpm", p.Href)
				require.Equal(t, "sha256", p.Checksum.Algo)
				require.Equal(t, sha256Hex(u.read(p.Href)), p.Checksum.Hex)
				require.Equal(t, int64(len(u.read(p.Href))), p.Size)
			}
			slices.Sort(nevras)
			require.Equal(t, []string{"alpha-1.0-1.noarch", "beta-2.1-1.noarch", "gamma-0.3-1.noarch"}, nevras)

			var stages []string
			var lastPkgs Progress
			for _, e := range events {
				require.Equal(t, testRepo, e.Repo)
				if len(stages) == 0 || stages[len(stages)-1] != e.Stage {
					stages = append(stages, e.Stage)
				}
				if e.Stage == StagePackages {
					lastPkgs = e
				}
			}
			require.Equal(t, []string{StageRepomd, StageMetadata, StagePrimary, StagePackages, StageCommit, StageDone}, stages)
			require.Equal(t, Progress{Repo: testRepo, Stage: StagePackages, FilesDone: 3, FilesTotal: 3,
				BytesDone: lastPkgs.BytesTotal, BytesTotal: lastPkgs.BytesTotal, Counts: res.Counts}, lastPkgs)

			// Unchanged upstream: nothing downloaded, the same snapshot.
			u.requests()
			again, err := m.Sync(t.Context(), src, nil)
			require.NoError(t, err)
			require.Equal(t, Result{Snapshot: res.Snapshot}, again)
			if scheme == "http" {
				require.Equal(t, []string{"/" + repomdPath}, u.requests())
			}
		})
	}
}

func TestSyncDownloadsOnlyNewPackages(t *testing.T) {
	u := newUpstream(t, "alpha-1.0", "beta-2.1")
	m, st := newTestMirror(t)
	first, err := m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)

	u.add("delta-4.0")
	u.publish("--update")
	u.requests()
	res, err := m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.NotEqual(t, first.Snapshot.ID, res.Snapshot.ID)
	require.Equal(t, []string{"delta-4.0-1.noarch.rpm"}, packageRequests(u.requests()))
	require.Equal(t, 3, res.Snapshot.Packages)
	require.Equal(t, treeOf(t, u.Dir), treeOf(t, snapshotDir(st, res.Snapshot)))
	// The first snapshot is untouched.
	_, err = st.Snapshot(testRepo, first.Snapshot.ID)
	require.NoError(t, err)
}

func TestSyncResumes(t *testing.T) {
	const victim = "/Packages/gamma-0.3-1.noarch.rpm"
	tests := []struct {
		name string
		// breaks serves victim badly; cancel is called once it is requested.
		breaks    func(cancel context.CancelFunc) func(w http.ResponseWriter, r *http.Request) bool
		retryable bool
	}{
		{"server error", func(context.CancelFunc) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != victim {
					return false
				}
				http.Error(w, "try later", http.StatusInternalServerError)
				return true
			}
		}, true},
		{"cancelled mid-download", func(cancel context.CancelFunc) func(w http.ResponseWriter, r *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != victim {
					return false
				}
				w.Header().Set("Content-Length", "100000")
				w.Write([]byte("partial"))
				w.(http.Flusher).Flush()
				cancel()
				<-r.Context().Done()
				return true
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0", "beta-2.1", "gamma-0.3", "delta-4.0", "epsilon-5.0")
			m, st := newTestMirror(t)
			m.Concurrency = 2
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			u.setIntercept(tt.breaks(cancel))
			_, err := m.Sync(ctx, source(u), nil)
			require.Error(t, err)
			require.Equal(t, tt.retryable, IsRetryable(err), "%v", err)
			requireNoSnapshot(t, st)

			pkgs, err := filepath.Glob(filepath.Join(u.Dir, "Packages", "*.rpm"))
			require.NoError(t, err)
			var missing []string
			for _, p := range pkgs {
				c := repo.Checksum{Algo: "sha256", Hex: sha256Hex(u.read("Packages/" + filepath.Base(p)))}
				if !st.PoolHas(c, -1) {
					missing = append(missing, filepath.Base(p))
				}
			}
			require.Contains(t, missing, filepath.Base(victim))

			u.setIntercept(nil)
			u.restart()
			res, err := m.Sync(t.Context(), source(u), nil)
			require.NoError(t, err)
			require.Equal(t, missing, packageRequests(u.requests()))
			require.Equal(t, treeOf(t, u.Dir), treeOf(t, snapshotDir(st, res.Snapshot)))
		})
	}
}

func TestSyncRefusesBadInput(t *testing.T) {
	u := newUpstream(t, "alpha-1.0")
	tests := []struct {
		name string
		src  Source
	}{
		{"no repo name", Source{URL: u.URL()}},
		{"bad repo name", Source{Repo: "../etc", URL: u.URL()}},
		{"signature required without a keyring", Source{Repo: testRepo, URL: u.URL(), RequireSignature: true}},
		{"unsupported scheme", Source{Repo: testRepo, URL: "ftp://m.example/r/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestMirror(t)
			u.requests()
			_, err := m.Sync(t.Context(), tt.src, nil)
			require.ErrorIs(t, err, repo.ErrInvalid)
			require.False(t, IsRetryable(err))
			require.Empty(t, u.requests())
		})
	}
}

func TestSyncUpstreamFailures(t *testing.T) {
	serve := func(path string, code int) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != path {
				return false
			}
			http.Error(w, http.StatusText(code), code)
			return true
		}
	}
	tests := []struct {
		name      string
		intercept func(w http.ResponseWriter, r *http.Request) bool
		retryable bool
		invalid   bool
		mentions  string
	}{
		{"repomd.xml 404", serve("/"+repomdPath, 404), true, false, repomdPath + ": HTTP 404"},
		{"repomd.xml 503", serve("/"+repomdPath, 503), true, false, repomdPath + ": HTTP 503"},
		{"repomd.xml 403", serve("/"+repomdPath, 403), false, true, repomdPath + ": HTTP 403"},
		{"package 404: mirror mid-sync", serve("/"+alphaRPM, 404), true, false, alphaRPM + ": HTTP 404"},
		{"package 401", serve("/"+alphaRPM, 401), false, true, alphaRPM + ": HTTP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0", "beta-2.1")
			u.setIntercept(tt.intercept)
			m, st := newTestMirror(t)
			_, err := m.Sync(t.Context(), source(u), nil)
			require.Error(t, err)
			require.Equal(t, tt.retryable, IsRetryable(err), "%v", err)
			require.Equal(t, tt.invalid, errors.Is(err, repo.ErrInvalid), "%v", err)
			require.NotErrorIs(t, err, repo.ErrBadContent)
			require.ErrorContains(t, err, tt.mentions)
			requireNoSnapshot(t, st)
		})
	}
}

// TestCheckedFailure: the metadata check running beside the packages
// decides the sync's outcome with them; one the sync's time cut short
// after the packages finished does not pass for a check that passed.
func TestCheckedFailure(t *testing.T) {
	pkgErr, checkErr := errors.New("package failed"), errors.New("metadata bad")
	timeout := fmt.Errorf("%w", ErrSyncTimeout)
	for _, tc := range []struct {
		name             string
		err, cerr, cause error
		want             error
	}{
		{"both pass", nil, nil, nil, nil},
		{"packages fail", pkgErr, context.Canceled, pkgErr, pkgErr},
		{"the check fails first", context.Canceled, checkErr, checkErr, checkErr},
		{"the check fails after the packages", nil, checkErr, checkErr, checkErr},
		{"the sync's time ends the check after the packages", nil, context.DeadlineExceeded, timeout, context.DeadlineExceeded},
		{"the sync's time ends both", context.DeadlineExceeded, context.DeadlineExceeded, timeout, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, checkedFailure(tc.err, tc.cerr, tc.cause))
		})
	}
}
