package activities

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/repotest"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/integrations/tickets"
)

// journal is what a lost completion leaves the retry: the heartbeats the
// first attempt recorded, of which the retry sees the last one the
// server received.
type journal int

const (
	noHeartbeat    journal = iota // the first attempt died before its first heartbeat reached the server
	firstHeartbeat                // later heartbeats were throttled away
	lastHeartbeat                 // everything the first attempt recorded
)

func (j journal) String() string {
	return [...]string{"without heartbeat", "with the first heartbeat", "with the last heartbeat"}[j]
}

// runTwice runs an activity as Temporal does when the first attempt's
// completion never reached the server: the first result is dropped, and a
// second attempt runs with the heartbeat details j says the server kept.
// It returns both results for comparison.
func runTwice(t *testing.T, j journal, acts any, fn any, args ...any) (first, retry converter.EncodedValue) {
	t.Helper()
	first, err, beats := runAttempt(t, acts, nil, fn, args...)
	require.NoError(t, err, "first attempt")
	var kept *json.RawMessage
	switch {
	case j == firstHeartbeat && len(beats) > 0:
		kept = &beats[0]
	case j == lastHeartbeat && len(beats) > 0:
		kept = &beats[len(beats)-1]
	}
	retry, err, _ = runAttempt(t, acts, kept, fn, args...)
	require.NoError(t, err, "retry %s", j)
	return first, retry
}

func decode[T any](t *testing.T, v converter.EncodedValue) T {
	t.Helper()
	var out T
	require.NoError(t, v.Get(&out))
	return out
}

func TestSideEffectsSurviveALostCompletion(t *testing.T) {
	for _, j := range []journal{noHeartbeat, lastHeartbeat} {
		t.Run(j.String(), func(t *testing.T) {
			t.Run("channel switch", func(t *testing.T) {
				st, rels := repotest.Store(t, 2)
				a := &RepoActivities{Store: st}
				in := SwitchChannelInput{Channel: "testing", Release: rels[1], Actor: "dailysync", Reason: "daily", Key: "run/switch-testing"}
				first, retry := runTwice(t, j, a, a.SwitchChannel, in)
				require.Equal(t, decode[ChannelSwitch](t, first), decode[ChannelSwitch](t, retry))
				require.True(t, decode[ChannelSwitch](t, retry).Changed, "the retry reports the switch its first attempt made")
				requireLog(t, st, "testing", 1)
			})
			t.Run("rollback", func(t *testing.T) {
				st, rels := repotest.Store(t, 3)
				switchAll(t, st, "production", rels...)
				a := &RepoActivities{Store: st}
				for _, in := range []RollbackInput{
					{Channel: "production", To: rels[1], Actor: "ops", Reason: "ldap broken", Key: "rb-1"},
					// A rollback started before targets were resolved up
					// front: keyed by the activity, resolved once.
					{Channel: "production", Actor: "ops", Reason: "ldap broken"},
				} {
					switchAll(t, st, "production", rels[2])
					first, retry := runTwice(t, j, a, a.RollbackChannel, in)
					require.Equal(t, decode[ChannelSwitch](t, first), decode[ChannelSwitch](t, retry))
					cur, err := st.Channel("production")
					require.NoError(t, err)
					require.Equal(t, rels[1], cur, "the retried rollback stays on its target")
				}
			})
			t.Run("freeze", func(t *testing.T) {
				st, rels := repotest.Store(t, 1)
				switchAll(t, st, "testing", rels[0])
				a := &RepoActivities{Store: st}
				in := FreezeInput{Channel: "testing", Frozen: true, Release: rels[0], Actor: "alice", Reason: "gate", Key: "upd-1"}
				first, retry := runTwice(t, j, a, a.SetFreeze, in)
				require.Equal(t, decode[ChannelState](t, first), decode[ChannelState](t, retry))
				requireLog(t, st, "testing", 2) // the switch and one freeze
			})
			t.Run("release", func(t *testing.T) {
				st, rels := repotest.Store(t, 1)
				r, err := st.Release(rels[0])
				require.NoError(t, err)
				a := &RepoActivities{Store: st}
				in := CreateReleaseInput{Snapshots: r.Repos, CreatedAt: r.CreatedAt.AddDate(0, 1, 0)}
				first, retry := runTwice(t, j, a, a.CreateRelease, in)
				require.Equal(t, decode[CreateReleaseResult](t, first), decode[CreateReleaseResult](t, retry))
			})
			t.Run("publish release", func(t *testing.T) {
				st, rels := repotest.Store(t, 2)
				a := &RepoActivities{Store: st}
				in := publishInput(t, st, rels[1], "testing")
				first, retry := runTwice(t, j, a, a.PublishRelease, in)
				res := decode[PublishReleaseResult](t, retry)
				require.Equal(t, decode[PublishReleaseResult](t, first), res)
				require.Equal(t, rels[1], res.Release)
				require.Len(t, res.Switches, 2)
				for i, ch := range []string{"daily", "testing"} {
					require.Equal(t, ch, res.Switches[i].Channel, "daily first")
					require.True(t, res.Switches[i].Changed, "the retry reports the switch its first attempt made")
					require.Equal(t, rels[1], res.Switches[i].To)
					requireLog(t, st, ch, 1)
				}
			})
			t.Run("ticket round", func(t *testing.T) {
				testTicketRoundRetry(t, j)
			})
			t.Run("merge and revert", func(t *testing.T) {
				remote := scmtest.NewRemote(t)
				remote.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
				remote.Branch("test", "production")
				remote.Commit("test", "add slurm", map[string]string{"site.pp": "include base\ninclude slurm\n"})
				cfg := &config.Config{Git: config.Git{Config: []config.GitRepo{{Name: "puppet", URL: remote.URL(), TestBranch: "test", ProductionBranch: "production"}}}}
				a := &PromotionActivities{Config: cfg, CacheDir: t.TempDir()}
				in := MergeInput{Repo: "puppet", From: "test", Into: "production", Message: "osflow: promote r2", Key: "promotion-r2/run/merge-puppet-1"}
				first, retry := runTwice(t, j, a, a.Merge, in)
				rec := decode[MergeRecord](t, retry)
				require.Equal(t, decode[MergeRecord](t, first), rec, "the retry finds the merge its first attempt pushed")
				require.Equal(t, remote.Tip("production"), rec.Commit)
				require.Equal(t, "1", scmtest.Git(t, remote.Bare, "rev-list", "--count", "--merges", "production"), "one merge commit")

				rv := RevertInput{Repo: "puppet", Branch: "production", Commit: rec.Commit, Message: "osflow: revert the promotion of r2"}
				f, r := runTwice(t, j, a, a.Revert, rv)
				require.Equal(t, decode[string](t, f), decode[string](t, r))
				require.Equal(t, "include base\n", remote.Show("production", "site.pp"))
				require.Equal(t, "1", scmtest.Git(t, remote.Bare, "rev-list", "--count", "--grep=revert the promotion", "production"), "one revert commit")
			})
			t.Run("outage ticket", func(t *testing.T) {
				dir := t.TempDir()
				a := &PromotionActivities{Config: &config.Config{}, Tracker: &tickets.FileTracker{Dir: dir}}
				in := TicketInput{Fingerprint: "outage/r2/issue-1", Title: "outage of r2: node c12 down", Body: "reported by carol", Key: "promotion-r2/update/u1"}
				first, retry := runTwice(t, j, a, a.FileTicket, in)
				require.Equal(t, decode[TicketRef](t, first), decode[TicketRef](t, retry))
				files := ticketFiles(t, dir)
				require.Len(t, files, 1, "one ticket")
				require.Equal(t, 1, strings.Count(files["OSF-1.md"], "reported by carol"), "no second comment either")
			})
			t.Run("bypass", func(t *testing.T) {
				testApplyBypassRetry(t, j)
			})
		})
	}
	t.Run(firstHeartbeat.String()+"/ticket round", func(t *testing.T) { testTicketRoundRetry(t, firstHeartbeat) })
}

// testTicketRoundRetry: a round that files, comments on and closes
// tickets, retried after its completion was lost, reports the same
// summary and leaves the tracker as one run would.
func testTicketRoundRetry(t *testing.T, j journal) {
	dir := t.TempDir()
	tracker := &tickets.FileTracker{Dir: dir}
	ctx := t.Context()
	repeat, err := tracker.Create(ctx, tickets.NewTicket{Fingerprint: "repoclosure/appstream", Title: "appstream fails", Body: "x"})
	require.NoError(t, err)
	fixed, err := tracker.Create(ctx, tickets.NewTicket{Fingerprint: "repoclosure/epel", Title: "epel fails", Body: "x"})
	require.NoError(t, err)
	closeOnPass := true
	cfg := &config.Config{Testing: config.Testing{CloseOnPass: &closeOnPass, Gate: config.Gate{BlockerLabel: "blocker"}}}
	in := ProcessResultsInput{Release: "r2", Channel: "testing", Key: "test-cycle/run/round-2/tickets", Results: []SuiteResult{{
		Suite: "repoclosure", Cases: []CaseResult{
			{Suite: "repoclosure", Name: "baseos", Status: "failed", Message: "nothing provides libfoo"},
			{Suite: "repoclosure", Name: "appstream", Status: "failed", Message: "still broken"},
			{Suite: "repoclosure", Name: "epel", Status: "passed"},
			{Suite: "repoclosure", Name: "site", Status: "error", Message: "boom"},
		},
	}}}
	a := &TicketActivities{Tracker: tracker, Config: cfg}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.ProcessResults, in)
	require.NoError(t, err)
	want := decode[TicketSummary](t, v)
	wantFiles := ticketFiles(t, dir)

	// The same round on a fresh tracker, retried after a lost completion.
	dir2 := t.TempDir()
	tracker2 := &tickets.FileTracker{Dir: dir2}
	_, err = tracker2.Create(ctx, tickets.NewTicket{Fingerprint: "repoclosure/appstream", Title: "appstream fails", Body: "x"})
	require.NoError(t, err)
	_, err = tracker2.Create(ctx, tickets.NewTicket{Fingerprint: "repoclosure/epel", Title: "epel fails", Body: "x"})
	require.NoError(t, err)
	b := &TicketActivities{Tracker: tracker2, Config: cfg, assumeRetry: true}
	first, retry := runTwice(t, j, b, b.ProcessResults, in)
	got := decode[TicketSummary](t, retry)
	if j == noHeartbeat {
		// The first heartbeat carries the plan and is sent before any
		// action; without it the retry re-plans, finds the tickets the
		// lost attempt filed and commented on by their markers, but no
		// longer sees the one it closed.
		want.Closed = nil
	} else {
		require.Equal(t, decode[TicketSummary](t, first), got)
	}
	require.Len(t, got.New, 2, "baseos and site were filed by this round, whichever attempt filed them")
	require.Equal(t, []string{repeat.ID}, got.Commented)
	require.Equal(t, want, got)
	if j != noHeartbeat {
		require.Equal(t, []string{fixed.ID}, got.Closed)
	}
	require.Equal(t, wantFiles, ticketFiles(t, dir2), "no second ticket, no second comment")
}

// ticketFiles returns each ticket file's content without its times.
func ticketFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var kept []string
		for line := range strings.Lines(string(b)) {
			if !strings.HasPrefix(line, "created:") && !strings.HasPrefix(line, "closed:") && !strings.HasPrefix(line, "## Comment ") {
				kept = append(kept, line)
			}
		}
		out[filepath.Base(p)] = strings.Join(kept, "")
	}
	return out
}

func switchAll(t *testing.T, st *repo.Store, channel string, rels ...string) {
	t.Helper()
	for _, r := range rels {
		_, err := st.Switch(t.Context(), repo.SwitchRequest{Channel: channel, Release: r, Actor: "test", Reason: "setup"})
		require.NoError(t, err)
	}
}

func requireLog(t *testing.T, st *repo.Store, channel string, n int) {
	t.Helper()
	log, err := st.History(channel)
	require.NoError(t, err)
	require.Len(t, log, n, "%+v", log)
}

// TestPublishReleaseNamesTheSwitchesBeforeAFailure: a switch refused after
// daily moved fails the activity as the switch's error was classified,
// and its details tell the workflow (and the operator) that daily moved.
func TestPublishReleaseNamesTheSwitchesBeforeAFailure(t *testing.T) {
	st, rels := repotest.Store(t, 1)
	a := &RepoActivities{Store: st}
	_, err := execute[PublishReleaseResult](t, a, a.PublishRelease, publishInput(t, st, rels[0], "Testing!"))
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, ErrTypeInvalidInput, app.Type(), "classified as the switch's error was: %v", err)
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Error(), "switch channel Testing!")
	var partial PublishReleaseResult
	require.NoError(t, app.Details(&partial))
	require.Equal(t, rels[0], partial.Release)
	require.Len(t, partial.Switches, 1, "the details say daily moved before the failure")
	require.Equal(t, "daily", partial.Switches[0].Channel)
	require.True(t, partial.Switches[0].Changed)
}

// publishInput publishes the snapshots of release rel as a daily sync
// does: daily, then the channel named second.
func publishInput(t *testing.T, st *repo.Store, rel, second string) PublishReleaseInput {
	t.Helper()
	r, err := st.Release(rel)
	require.NoError(t, err)
	return PublishReleaseInput{Snapshots: r.Repos, CreatedAt: r.CreatedAt, Switches: []SwitchChannelInput{
		{Channel: "daily", Actor: "dailysync", Reason: "daily", Key: "run/switch-daily"},
		{Channel: second, Actor: "dailysync", Reason: "daily", Key: "run/switch-" + second},
	}}
}
