package activities

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/scm/scmtest"
)

// Issue 16 #2, through the activities a promotion and its merge-back run:
// a promotion that merged slurm.pp failed and was reverted; the risk
// report of the next one said "No changes to merge", its merge found
// nothing to do, and the merge-back took the revert into test.
func TestPromotionMergesTheTestedStateAfterARevert(t *testing.T) {
	remote, cfg := puppetRemote(t)
	a := &PromotionActivities{Config: cfg, CacheDir: t.TempDir()}
	ctx := t.Context()
	promote := func(key string) MergeRecord {
		t.Helper()
		rec, err := a.Merge(ctx, MergeInput{Repo: "puppet", From: "test", Into: "production", Message: "osflow: promote " + key, Key: key})
		require.NoError(t, err)
		require.Empty(t, rec.Conflicts)
		return rec
	}

	first := promote("promotion-r1/1/merge")
	_, err := a.Revert(ctx, RevertInput{Repo: "puppet", Branch: "production", Commit: first.Commit, Message: "osflow: revert the promotion of r1 (task failed)"})
	require.NoError(t, err)
	require.NotContains(t, remote.Files("production"), "slurm.pp")

	changes, err := a.GitChanges(ctx)
	require.NoError(t, err)
	page := RenderRisk(RiskReport{Config: changes[0], Monitoring: changes[1]})
	requirePage(t, page, []string{"Reapplied: tested changes that these reverts on production undid",
		"osflow: revert the promotion of r1 (task failed)", "slurm.pp", "Only on production (they stay):"}, []string{"No changes to merge"})

	second := promote("promotion-r1/2/merge")
	require.NotEmpty(t, second.Commit, "the second promotion merged nothing")
	require.Equal(t, "class slurm {}\n", remote.Show("production", "slurm.pp"))
	require.Equal(t, second.Commit, promote("promotion-r1/2/merge").Commit, "a retry finds the first attempt's commit")
	require.Len(t, second.Reapplied, 1)
	require.Contains(t, second.Reapplied[0], "osflow: revert the promotion of r1 (task failed)")

	// The merge-back after the failed outage, had it run before the
	// second promotion, leaves test with slurm.pp.
	remote2 := scmtest.NewRemote(t)
	remote2.Commit("production", "initial", map[string]string{"site.pp": "node default {}\n"})
	remote2.Branch("test", "production")
	remote2.Commit("test", "add slurm.pp", map[string]string{"slurm.pp": "class slurm {}\n"})
	cfg.Git.Config[0].URL = remote2.URL()
	a.CacheDir = t.TempDir()
	first = promote("promotion-r2/1/merge")
	_, err = a.Revert(ctx, RevertInput{Repo: "puppet", Branch: "production", Commit: first.Commit, Message: "osflow: revert the promotion of r2 (task failed)"})
	require.NoError(t, err)
	back, err := a.Merge(ctx, MergeInput{Repo: "puppet", From: "production", Into: "test", Message: "osflow: merge production hotfixes back", Key: "mergeback-r2/1/merge"})
	require.NoError(t, err)
	require.Equal(t, remote2.Tip("test"), back.Commit)
	require.Equal(t, "class slurm {}\n", remote2.Show("test", "slurm.pp"))
	promote("promotion-r2/2/merge")
	require.Equal(t, "class slurm {}\n", remote2.Show("production", "slurm.pp"))
}

// puppetRemote is a config repo "puppet" whose test branch adds slurm.pp
// to production, and a configuration naming it.
func puppetRemote(t *testing.T) (*scmtest.Remote, *config.Config) {
	t.Helper()
	remote := scmtest.NewRemote(t)
	remote.Commit("production", "initial", map[string]string{"site.pp": "node default {}\n"})
	remote.Branch("test", "production")
	remote.Commit("test", "add slurm.pp", map[string]string{"slurm.pp": "class slurm {}\n"})
	return remote, &config.Config{Git: config.Git{Config: []config.GitRepo{{Name: "puppet", URL: remote.URL(), TestBranch: "test", ProductionBranch: "production"}}}}
}
