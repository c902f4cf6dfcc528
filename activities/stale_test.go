package activities

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/repotest"
	"github.com/osflow/osflow/integrations/tickets"
)

// dayInput is the daily sync of day i after rel: the snapshots of rel
// for the repos that synced, and failed for those that did not.
func dayInput(t *testing.T, st *repo.Store, rel string, day int, failed ...SyncFailure) PublishReleaseInput {
	t.Helper()
	in := publishInput(t, st, rel, "testing")
	in.CreatedAt = in.CreatedAt.AddDate(0, 0, day)
	for i := range in.Switches {
		in.Switches[i].Key += "-" + in.CreatedAt.Format("0102")
	}
	in.Failed = failed
	for _, f := range failed {
		delete(in.Snapshots, f.Repo)
	}
	return in
}

// TestPublishReleaseKeepsAFailedRepoStale: a repo that fails keeps the
// snapshot daily served, marked stale from the first day of the outage
// on, while the other moves on; when it syncs again it is recovered.
func TestPublishReleaseKeepsAFailedRepoStale(t *testing.T) {
	st, _ := repotest.Store(t, 1)
	first := repotest.ShadowedRelease(t, st)
	a := &RepoActivities{Store: st}
	_, err := execute[PublishReleaseResult](t, a, a.PublishRelease, dayInput(t, st, first, 0))
	require.NoError(t, err)
	down := SyncFailure{Repo: "baseos", URL: "https://user:secret@mirror.example/baseos/", Cause: "repomd.xml: sha1 only"}

	day1, err := execute[PublishReleaseResult](t, a, a.PublishRelease, dayInput(t, st, first, 1, down))
	require.NoError(t, err)
	require.NotEqual(t, first, day1.Release, "a release with a stale repo is a release of its own")
	rel, err := st.Release(day1.Release)
	require.NoError(t, err)
	orig, err := st.Release(first)
	require.NoError(t, err)
	require.Equal(t, orig.Repos, rel.Repos, "baseos keeps its last good snapshot")
	since := orig.CreatedAt.AddDate(0, 0, 1)
	require.Equal(t, map[string]repo.StaleRepo{"baseos": {Since: since, URL: "https://mirror.example/baseos/", Cause: down.Cause}}, rel.Stale,
		"the record says since when and why, with no password")
	require.Len(t, day1.Stale, 1)
	require.Equal(t, StaleRepo{Repo: "baseos", Snapshot: orig.Repos["baseos"], Since: since, URL: "https://mirror.example/baseos/", Cause: down.Cause}, day1.Stale[0])
	require.Equal(t, day1.Release, day1.Switches[1].To, "testing moves on")

	t.Run("the risk report names the stale repo", func(t *testing.T) {
		a := &RepoActivities{Store: st, Config: &config.Config{}}
		risk, err := a.PackageRisk(context.Background(), DiffSummaryInput{From: first, To: day1.Release})
		require.NoError(t, err)
		require.Equal(t, day1.Stale, risk.Stale)
		page := RenderRisk(RiskReport{Packages: risk})
		require.Contains(t, page, "### Stale repos")
		require.Contains(t, page, "- **baseos**: snapshot `"+orig.Repos["baseos"]+"`, failing since 2026-12-02T03:00:00Z: repomd.xml: sha1 only")
		require.Contains(t, RenderRiskSummary(RiskReport{Packages: risk}, "p", false), "Stale repos (failing to sync, serving an earlier snapshot): baseos since 2026-12-02.")
	})

	day2, err := execute[PublishReleaseResult](t, a, a.PublishRelease, dayInput(t, st, first, 2, down))
	require.NoError(t, err)
	require.Equal(t, day1.Release, day2.Release)
	require.Equal(t, since, day2.Stale[0].Since, "one outage, dated from its first day")

	day3, err := execute[PublishReleaseResult](t, a, a.PublishRelease, dayInput(t, st, first, 3))
	require.NoError(t, err)
	require.Equal(t, first, day3.Release)
	require.Empty(t, day3.Stale)
	require.Equal(t, []string{"baseos"}, day3.Recovered)

	t.Run("a retry after the switch plans the same", func(t *testing.T) {
		again, err := execute[PublishReleaseResult](t, a, a.PublishRelease, dayInput(t, st, first, 3))
		require.NoError(t, err)
		require.Equal(t, day3.Recovered, again.Recovered)
	})
}

func TestPublishReleaseRefusesAFailedRepoWithNothingToKeep(t *testing.T) {
	st, _ := repotest.Store(t, 1)
	first := repotest.ShadowedRelease(t, st)
	a := &RepoActivities{Store: st}
	in := dayInput(t, st, first, 0, SyncFailure{Repo: "site", Cause: "upstream down"})
	_, err := execute[PublishReleaseResult](t, a, a.PublishRelease, in)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Error(), "repo site failed to sync and has no earlier snapshot to keep")
	require.Contains(t, app.Error(), "upstream down")
	ch, err := st.Channel("daily")
	require.NoError(t, err)
	require.Empty(t, ch)
}

// TestReportStaleReposFilesOneTicketPerOutage: every day of an outage
// finds the ticket its first day filed; recovery closes it; the next
// outage files a new one.
func TestReportStaleReposFilesOneTicketPerOutage(t *testing.T) {
	tracker := &tickets.FileTracker{Dir: t.TempDir()}
	a := &TicketActivities{Tracker: tracker, Config: &config.Config{}}
	since := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	stale := StaleRepo{Repo: "baseos", Snapshot: "s1", Since: since, URL: "https://u:pw@mirror.example/b/", Cause: "connection refused"}
	report := func(in StaleReposInput) StaleReposResult {
		t.Helper()
		res, err := execute[StaleReposResult](t, a, a.ReportStaleRepos, in)
		require.NoError(t, err)
		return res
	}

	day1 := report(StaleReposInput{Release: "r1", Stale: []StaleRepo{stale}})
	id := day1.Tickets["baseos"]
	require.NotEmpty(t, id)
	day2 := report(StaleReposInput{Release: "r1", Stale: []StaleRepo{stale}})
	require.Equal(t, id, day2.Tickets["baseos"])
	open, err := tracker.ListOpen(context.Background())
	require.NoError(t, err)
	require.Len(t, open, 1, "one ticket per outage, not per day")
	body, err := os.ReadFile(strings.TrimPrefix(open[0].URL, "file://"))
	require.NoError(t, err)
	require.NotContains(t, string(body), "pw@", "no password in a ticket")
	require.Contains(t, string(body), "connection refused")
	require.Equal(t, 1, strings.Count(string(body), "osflow-op:"), "the second day adds no comment")

	back := report(StaleReposInput{Release: "r2", Recovered: []string{"baseos"}})
	require.Equal(t, map[string]string{"baseos": id}, back.Closed)
	tk, err := tracker.FindOpen(context.Background(), staleFingerprint("baseos"))
	require.NoError(t, err)
	require.Nil(t, tk)

	stale.Since = since.AddDate(0, 0, 7)
	next := report(StaleReposInput{Release: "r3", Stale: []StaleRepo{stale}})
	require.NotEqual(t, id, next.Tickets["baseos"], "a new outage gets a new ticket")
}
