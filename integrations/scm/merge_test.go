package scm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/scm/scmtest"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())
	before, from := remote.Tip("production"), remote.Tip("test")

	res, err := r.Merge(t.Context(), "test", "production", "test", "Promote release 2")
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
		again, err := r.Merge(t.Context(), "test", "production", "test", "Promote release 2")
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

	res, err := r.Merge(t.Context(), "test", "production", "test", "")
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), "conf.yaml")
	require.Equal(t, []string{"conf.yaml"}, res.Conflicts)
	require.Empty(t, res.Commit)
	require.Equal(t, before, remote.Tip("production"), "nothing pushed")
	requireClean(t, r)

	// Once resolved on test (what a human does), the same call succeeds.
	remote.Commit("test", "take the hotfix", map[string]string{"conf.yaml": "release: 1-hotfix\n"})
	res, err = r.Merge(t.Context(), "test", "production", "test", "")
	require.NoError(t, err)
	require.Empty(t, res.Conflicts)
	require.Equal(t, "Merge branch 'test' into production", scmtest.Git(t, remote.Bare, "log", "-1", "--format=%s", "production"))
}

func TestRevert(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())
	res, err := r.Merge(t.Context(), "test", "production", "test", "")
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
	res, err := r.Merge(t.Context(), "test", "production", "test", "")
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

	res, err := r.Merge(t.Context(), "test", "production", "test", "")
	require.ErrorIs(t, err, ErrConflict)
	require.Equal(t, []string{"conf.yaml"}, res.Conflicts)
	requireClean(t, r)

	head, _, err := r.Commit(t.Context(), "production", map[string][]byte{"conf.yaml": []byte("release: 2\n")}, "take release 2")
	require.NoError(t, err)
	res, err = r.Merge(t.Context(), "test", "production", "test", "")
	require.NoError(t, err)
	require.Equal(t, head, scmtest.Git(t, remote.Bare, "rev-parse", res.Commit+"^1"))
	require.Equal(t, "release: 2\n", remote.Show("production", "conf.yaml"))
}

// Issue 16 #2: a promotion merged test (with slurm.pp), failed and was
// reverted; promoting the same test branch again found it "already
// merged", and the merge-back carried the revert into test, so slurm.pp
// left both branches. A merge keeps the tested branch's state whatever
// merges and reverts came before.
func TestMergeKeepsTestedChangesThroughReverts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	slurm := map[string]string{"slurm.pp": "class slurm {}\n"}
	promote := func(t *testing.T, r *Repo, key string) MergeResult {
		t.Helper()
		res, err := r.Merge(ctx, "test", "production", "test", "Promote "+key+"\n\nosflow-op: "+key)
		require.NoError(t, err)
		requireClean(t, r)
		return res
	}
	subjects := func(cs []Commit) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Subject)
		}
		return out
	}

	// failed is a repo after a promotion that merged slurm.pp and was
	// reverted, and the revert.
	failed := func(t *testing.T) (*scmtest.Remote, *Repo, string) {
		remote := seed(t)
		remote.Commit("test", "add slurm.pp", slurm)
		r := newRepo(t, remote.URL())
		first := promote(t, r, "p1")
		require.Contains(t, remote.Files("production"), "slurm.pp")
		revert, err := r.Revert(ctx, "production", first.Commit, "osflow: revert the promotion of r1 (task failed)")
		require.NoError(t, err)
		require.NotContains(t, remote.Files("production"), "slurm.pp")
		return remote, r, revert
	}

	t.Run("merge, revert, merge again", func(t *testing.T) {
		t.Parallel()
		remote, r, revert := failed(t)

		// The risk report's view: the revert is undone, production's own
		// commits are listed, the diff is what production will get.
		p, err := r.PreviewMerge(ctx, "test", "production", "test", 0)
		require.NoError(t, err)
		require.Empty(t, p.Commits)
		require.Equal(t, []string{"osflow: revert the promotion of r1 (task failed)", "Promote p1"}, subjects(p.OnlyInto))
		require.Equal(t, []string{"osflow: revert the promotion of r1 (task failed)"}, subjects(p.Reapplied))
		require.Contains(t, p.Stat, "slurm.pp")
		require.Contains(t, p.Patch, "+class slurm {}")
		require.Equal(t, revert, remote.Tip("production"), "a preview pushes nothing")

		second := promote(t, r, "p2")
		require.False(t, second.AlreadyMerged)
		require.Equal(t, revert, second.Reapplied[0].Hash)
		require.Equal(t, remote.Tip("production"), second.Commit)
		require.Equal(t, "class slurm {}\n", remote.Show("production", "slurm.pp"))
		require.Equal(t, "release: 2\n", remote.Show("production", "conf.yaml"))
		again := promote(t, r, "p2")
		require.Equal(t, MergeResult{Commit: second.Commit, AlreadyMerged: true}, again, "a retry pushes nothing")

		// The second promotion fails too; the third still gets slurm.pp.
		_, err = r.Revert(ctx, "production", second.Commit, "osflow: revert the promotion of r1 (task failed again)")
		require.NoError(t, err)
		require.NotContains(t, remote.Files("production"), "slurm.pp")
		third := promote(t, r, "p3")
		require.False(t, third.AlreadyMerged)
		require.Equal(t, "class slurm {}\n", remote.Show("production", "slurm.pp"))
	})

	// Found by make chaos (seed 1, step 112): a change on test to the
	// lines production reverted conflicted with the revert, and the
	// promotion waited for a conflict-resolved nobody should need.
	t.Run("changed again on test after the revert", func(t *testing.T) {
		t.Parallel()
		remote, r, revert := failed(t)
		remote.Commit("test", "slurm.pp again", map[string]string{"slurm.pp": "class slurm { include munge }\n"})
		remote.Commit("production", "hotfix during the outage", map[string]string{"hotfix.txt": "x\n"})
		hotfix := remote.Tip("production")

		p, err := r.PreviewMerge(ctx, "test", "production", "test", 0)
		require.NoError(t, err)
		require.Empty(t, p.Conflicts)
		res := promote(t, r, "p2")
		require.Equal(t, revert, res.Reapplied[0].Hash)
		require.Equal(t, "class slurm { include munge }\n", remote.Show("production", "slurm.pp"))
		require.Contains(t, remote.Files("production"), "hotfix.txt")
		parents := strings.Fields(scmtest.Git(t, remote.Bare, "log", "-1", "--format=%P", "production"))
		require.Equal(t, []string{hotfix, remote.Tip("test")}, parents, "one merge commit of production and test")
		require.Contains(t, scmtest.Git(t, remote.Bare, "log", "-1", "--format=%B", "production"), "This reverts commit "+revert)
		again := promote(t, r, "p2")
		require.Equal(t, MergeResult{Commit: res.Commit, AlreadyMerged: true}, again, "a retry pushes nothing")
	})

	t.Run("merge-back after a revert, test changed again", func(t *testing.T) {
		t.Parallel()
		remote, r, _ := failed(t)
		remote.Commit("test", "slurm.pp again", map[string]string{"slurm.pp": "class slurm { include munge }\n"})
		remote.Commit("production", "hotfix during the outage", map[string]string{"hotfix.txt": "x\n"})

		back, err := r.Merge(ctx, "production", "test", "test", "merge back\n\nosflow-op: mb1")
		require.NoError(t, err)
		require.Equal(t, "class slurm { include munge }\n", remote.Show("test", "slurm.pp"), "test keeps its change, not the revert")
		require.Contains(t, remote.Files("test"), "hotfix.txt")
		require.Equal(t, remote.Tip("test"), back.Commit)
	})

	t.Run("merge-back after a reverted promotion", func(t *testing.T) {
		t.Parallel()
		remote, r, _ := failed(t)
		remote.Commit("production", "hotfix during the outage", map[string]string{"hotfix.txt": "x\n"})

		back, err := r.Merge(ctx, "production", "test", "test", "merge back\n\nosflow-op: mb1")
		require.NoError(t, err)
		require.False(t, back.AlreadyMerged)
		require.Equal(t, remote.Tip("test"), back.Commit)
		require.Equal(t, "class slurm {}\n", remote.Show("test", "slurm.pp"), "the merge-back carried the revert into test")
		require.Contains(t, remote.Files("test"), "hotfix.txt", "the hotfix comes back to test")
		again, err := r.Merge(ctx, "production", "test", "test", "merge back\n\nosflow-op: mb1")
		require.NoError(t, err)
		require.True(t, again.AlreadyMerged)

		// The next promotion brings slurm.pp to production.
		p, err := r.PreviewMerge(ctx, "test", "production", "test", 0)
		require.NoError(t, err)
		require.Contains(t, p.Stat, "slurm.pp")
		res := promote(t, r, "p2")
		require.False(t, res.AlreadyMerged)
		require.Equal(t, "class slurm {}\n", remote.Show("production", "slurm.pp"))
		require.Contains(t, remote.Files("production"), "hotfix.txt")
	})
}
