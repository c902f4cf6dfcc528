package scm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/scm/scmtest"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())
	before, from := remote.Tip("production"), remote.Tip("test")

	res, err := r.Merge(t.Context(), "test", "production", "Promote release 2")
	require.NoError(t, err)
	require.False(t, res.AlreadyMerged)
	require.Empty(t, res.Conflicts)
	require.Equal(t, remote.Tip("production"), res.Commit)
	// A real merge commit (--no-ff despite merge.ff=only), by Author (not
	// the global user.name), with our message and no shortlog (merge.log).
	require.Equal(t, res.Commit+" "+before+" "+from, scmtest.Git(t, remote.Bare, "rev-list", "--parents", "-n", "1", res.Commit))
	require.Equal(t, DefaultAuthor+"\nPromote release 2", scmtest.Git(t, remote.Bare, "log", "-1", "--format=%an <%ae>%n%B", res.Commit))
	require.Equal(t, "release: 2\n", remote.Show("production", "conf.yaml"))
	requireClean(t, r)

	t.Run("already merged", func(t *testing.T) {
		again, err := r.Merge(t.Context(), "test", "production", "Promote release 2")
		require.NoError(t, err)
		require.Equal(t, MergeResult{Commit: res.Commit, AlreadyMerged: true}, again)
		require.Equal(t, res.Commit, remote.Tip("production"))
	})
	t.Run("the merge is found by its message", func(t *testing.T) {
		remote.Commit("production", "a hotfix on top", map[string]string{"hotfix.txt": "x\n"})
		found, err := r.FindCommit(t.Context(), "production", "release 2")
		require.NoError(t, err)
		require.Equal(t, res.Commit, found)
		none, err := r.FindCommit(t.Context(), "production", "release 3")
		require.NoError(t, err)
		require.Empty(t, none)
		_, err = r.FindCommit(t.Context(), "production", "two\nlines")
		require.ErrorIs(t, err, ErrInvalid)
	})
}

func TestMergeConflict(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	remote.Commit("production", "hotfix", map[string]string{"conf.yaml": "release: 1-hotfix\n"})
	r := newRepo(t, remote.URL())
	before := remote.Tip("production")

	res, err := r.Merge(t.Context(), "test", "production", "")
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), "conf.yaml")
	require.Equal(t, []string{"conf.yaml"}, res.Conflicts)
	require.Empty(t, res.Commit)
	require.Equal(t, before, remote.Tip("production"), "nothing pushed")
	requireClean(t, r)

	// Once resolved on test (what a human does), the same call succeeds.
	remote.Commit("test", "take the hotfix", map[string]string{"conf.yaml": "release: 1-hotfix\n"})
	res, err = r.Merge(t.Context(), "test", "production", "")
	require.NoError(t, err)
	require.Empty(t, res.Conflicts)
	require.Equal(t, "Merge branch 'test' into production", scmtest.Git(t, remote.Bare, "log", "-1", "--format=%s", "production"))
}

func TestRevert(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())
	res, err := r.Merge(t.Context(), "test", "production", "")
	require.NoError(t, err)
	require.Equal(t, "release: 2\n", remote.Show("production", "conf.yaml"))

	tests := []struct {
		name, message, wantSubject string
	}{
		{"merge commit, default message", "", `Revert "Merge branch 'test' into production"`},
		{"plain commit, own message", "Back out node2", "Back out node2"},
	}
	commits := map[string]string{
		tests[0].name: res.Commit,
		tests[1].name: remote.Commit("production", "add node3", map[string]string{"node3.yaml": "x\n"}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := remote.Tip("production")
			head, err := r.Revert(t.Context(), "production", commits[tt.name], tt.message)
			require.NoError(t, err)
			require.Equal(t, remote.Tip("production"), head)
			require.Equal(t, before, scmtest.Git(t, remote.Bare, "rev-parse", head+"^"))
			require.Equal(t, tt.wantSubject, scmtest.Git(t, remote.Bare, "log", "-1", "--format=%s", head))
			requireClean(t, r)

			// A retried revert finds nothing left to undo and pushes nothing.
			again, err := r.Revert(t.Context(), "production", commits[tt.name], tt.message)
			require.NoError(t, err)
			require.Equal(t, head, again)
			require.Equal(t, head, remote.Tip("production"))
		})
	}
	require.Equal(t, "release: 1\n", remote.Show("production", "conf.yaml"))
	require.NotContains(t, remote.Files("production"), "node3.yaml")
}

// TestMergeRace has another clone push to the target branch between our
// fetch and our push: the push is refused and the merge is redone on top.
func TestMergeRace(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())
	var hotfix string
	r.beforePush = func() {
		if hotfix == "" {
			hotfix = remote.Commit("production", "hotfix", map[string]string{"hotfix.txt": "x\n"})
		}
	}
	res, err := r.Merge(t.Context(), "test", "production", "")
	require.NoError(t, err)
	require.NotEmpty(t, hotfix)
	require.Equal(t, remote.Tip("production"), res.Commit)
	require.Equal(t, hotfix, scmtest.Git(t, remote.Bare, "rev-parse", res.Commit+"^1"))
	require.Contains(t, remote.Files("production"), "hotfix.txt")
}

// TestRecoversFromKilledGit leaves the cache as a git killed mid-merge
// would: a conflicted merge in progress, stray files and a stale
// index.lock. The next call must not care.
func TestRecoversFromKilledGit(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	remote.Commit("production", "hotfix", map[string]string{"conf.yaml": "release: 1-hotfix\n"})
	r := newRepo(t, remote.URL())
	require.NoError(t, r.Fetch(t.Context()))
	dir := clone(r)
	scmtest.Git(t, dir, "checkout", "-q", "--detach", "origin/production")
	_, err := scmtest.Run(dir, nil, "merge", "--no-ff", "origin/test")
	require.Error(t, err)
	require.FileExists(t, filepath.Join(dir, ".git", "MERGE_HEAD"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "index.lock"), nil, 0o644))

	res, err := r.Merge(t.Context(), "test", "production", "")
	require.ErrorIs(t, err, ErrConflict)
	require.Equal(t, []string{"conf.yaml"}, res.Conflicts)
	requireClean(t, r)

	head, _, err := r.Commit(t.Context(), "production", map[string][]byte{"conf.yaml": []byte("release: 2\n")}, "take release 2")
	require.NoError(t, err)
	res, err = r.Merge(t.Context(), "test", "production", "")
	require.NoError(t, err)
	require.Equal(t, head, scmtest.Git(t, remote.Bare, "rev-parse", res.Commit+"^1"))
	require.Equal(t, "release: 2\n", remote.Show("production", "conf.yaml"))
}
