package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/activities"
)

var testPlan = activities.SyncPlan{
	Repos:            []string{"baseos", "site"},
	RepoTaskQueue:    "osflow-repo",
	DailyChannel:     "daily",
	TestingChannel:   "testing",
	Timeout:          time.Hour,
	HeartbeatTimeout: time.Minute,
	MaxAttempts:      3,
}

func newDailyEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	return newDailyEnvPlan(t, testPlan)
}

func newDailyEnvPlan(_ *testing.T, plan activities.SyncPlan) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.ConfigActivities{})
	env.RegisterActivity(&activities.RepoActivities{})
	env.RegisterActivity(&activities.CycleActivities{})
	env.RegisterActivity(&activities.TicketActivities{})
	env.OnActivity(configActs.SyncPlan, mock.Anything).Return(plan, nil)
	return env
}

// onPublish mocks PublishRelease as the real one composes it: the release
// from the snapshots, then each switch in order through sw (with the
// release filled in); check sees the input.
func onPublish(env *testsuite.TestWorkflowEnvironment, rel activities.CreateReleaseResult,
	check func(activities.PublishReleaseInput), sw func(activities.SwitchChannelInput) (activities.ChannelSwitch, error)) {
	env.OnActivity(repoActs.PublishRelease, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishReleaseInput) (activities.PublishReleaseResult, error) {
			if check != nil {
				check(in)
			}
			res := activities.PublishReleaseResult{CreateReleaseResult: rel}
			for _, s := range in.Switches {
				s.Release = rel.Release
				out, err := sw(s)
				if err != nil {
					return res, err
				}
				res.Switches = append(res.Switches, out)
			}
			return res, nil
		})
}

// runDaily runs a DailySync that must succeed and returns its status.
func runDaily(t *testing.T, env *testsuite.TestWorkflowEnvironment) DailySyncStatus {
	t.Helper()
	env.ExecuteWorkflow(DailySync, DailySyncInput{})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st DailySyncStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	return st
}

func TestDailySyncSwitchesDailyThenTestingAndWakesTheCycle(t *testing.T) {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "baseos"}).
		Return(activities.RepoSync{Repo: "baseos", Snapshot: "aaaa", Changed: true, Packages: 3}, nil)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "site"}).
		Return(activities.RepoSync{Repo: "site", Snapshot: "bbbb", Packages: 1}, nil)
	var order []string
	onPublish(env, activities.CreateReleaseResult{Release: "20261125-abc", Created: true}, func(in activities.PublishReleaseInput) {
		require.Equal(t, map[string]string{"baseos": "aaaa", "site": "bbbb"}, in.Snapshots)
	}, func(in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
		order = append(order, in.Channel)
		require.Equal(t, "schedule/"+DailySyncScheduleID, in.Actor)
		return activities.ChannelSwitch{Channel: in.Channel, From: "old", To: in.Release, Changed: true}, nil
	})
	env.OnActivity(cycleActs.SignalWithStart, mock.Anything, activities.SignalWithStartInput{
		WorkflowID: TestCycleWorkflowID, WorkflowType: TestCycleWorkflowType, Signal: SignalTestingUpdated,
		Payload: activities.TestingUpdated{Release: "20261125-abc", Channel: "testing", Actor: "schedule/" + DailySyncScheduleID},
		Summary: TestCycleMetadata().Summary, Details: TestCycleMetadata().Details,
	}).Return("run", nil).Once()

	st := runDaily(t, env)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, "20261125-abc", st.Release)
	require.Equal(t, []string{"daily", "testing"}, order)
	require.Len(t, st.Repos, 2)
	env.AssertExpectations(t)
}

func TestDailySyncLeavesChannelsAloneWhenARequiredRepoFails(t *testing.T) {
	plan := testPlan
	plan.Required = []string{"baseos"}
	env := newDailyEnvPlan(t, plan)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "baseos"}).
		Return(activities.RepoSync{}, temporal.NewNonRetryableApplicationError(
			"sync repo baseos: checksum mismatch for Packages/a.rpm", activities.ErrTypeBadContent, errors.New("bad")))
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "site"}).
		Return(activities.RepoSync{Repo: "site", Snapshot: "bbbb"}, nil)

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "required repo baseos failed")
	require.Contains(t, err.Error(), "sync failed for baseos; no channel was changed")
	require.Contains(t, err.Error(), "checksum mismatch for Packages/a.rpm")
	env.AssertNotCalled(t, "PublishRelease", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "SignalWithStart", mock.Anything, mock.Anything)
}

// TestDailySyncCarriesAFailedRepoOver: a repo that is not required and
// fails keeps its last good snapshot (PublishRelease carries it over),
// the other repo reaches testing, the cycle is woken, and the outage is
// ticketed.
func TestDailySyncCarriesAFailedRepoOver(t *testing.T) {
	env := newDailyEnv(t)
	failure := activities.SyncFailure{Repo: "baseos", URL: "https://mirror.example/baseos/repodata/repomd.xml",
		Kind: activities.ErrTypeBadContent, Cause: "repomd.xml lists only sha1 checksums"}
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "baseos"}).
		Return(activities.RepoSync{}, temporal.NewApplicationErrorWithOptions("sha1 only (not retried)", activities.ErrTypeBadContent,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{failure}}))
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "site"}).
		Return(activities.RepoSync{Repo: "site", Snapshot: "bbbb", Changed: true}, nil)
	since := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	stale := activities.StaleRepo{Repo: "baseos", Snapshot: "old", Since: since, URL: failure.URL, Cause: failure.Cause}
	env.OnActivity(repoActs.PublishRelease, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishReleaseInput) (activities.PublishReleaseResult, error) {
			require.Equal(t, map[string]string{"site": "bbbb"}, in.Snapshots)
			require.Equal(t, []activities.SyncFailure{failure}, in.Failed)
			res := activities.PublishReleaseResult{CreateReleaseResult: activities.CreateReleaseResult{Release: "r2", Created: true},
				Stale: []activities.StaleRepo{stale}}
			for _, s := range in.Switches {
				res.Switches = append(res.Switches, activities.ChannelSwitch{Channel: s.Channel, From: "r1", To: "r2", Changed: true})
			}
			return res, nil
		})
	env.OnActivity(cycleActs.SignalWithStart, mock.Anything, mock.Anything).Return("run", nil).Once()
	env.OnActivity(ticketActs.ReportStaleRepos, mock.Anything, activities.StaleReposInput{Release: "r2", Stale: []activities.StaleRepo{stale}}).
		Return(activities.StaleReposResult{Tickets: map[string]string{"baseos": "OSF-1"}}, nil).Once()

	st := runDaily(t, env)
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, "r2", st.Release)
	require.Equal(t, []activities.StaleRepo{stale}, st.Stale)
	require.Equal(t, map[string]string{"baseos": "OSF-1"}, st.Tickets)
	env.AssertExpectations(t)
}

// TestDailySyncClosesTheTicketOfARecoveredRepo: a run with no failure
// whose release recovers a stale repo closes the outage's ticket; a
// tracker that fails does not fail the run.
func TestDailySyncClosesTheTicketOfARecoveredRepo(t *testing.T) {
	for _, trackerDown := range []bool{false, true} {
		env := newDailyEnv(t)
		env.OnActivity(repoActs.SyncRepo, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.SyncRepoInput) (activities.RepoSync, error) {
				return activities.RepoSync{Repo: in.Repo, Snapshot: "new", Changed: true}, nil
			})
		env.OnActivity(repoActs.PublishRelease, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.PublishReleaseInput) (activities.PublishReleaseResult, error) {
				res := activities.PublishReleaseResult{CreateReleaseResult: activities.CreateReleaseResult{Release: "r3", Created: true},
					Recovered: []string{"baseos"}}
				for _, s := range in.Switches {
					res.Switches = append(res.Switches, activities.ChannelSwitch{Channel: s.Channel, From: "r2", To: "r3", Changed: true})
				}
				return res, nil
			})
		env.OnActivity(cycleActs.SignalWithStart, mock.Anything, mock.Anything).Return("run", nil).Once()
		var ticketErr error
		if trackerDown {
			ticketErr = temporal.NewNonRetryableApplicationError("tracker refused the token", activities.ErrTypeInvalidInput, nil)
		}
		env.OnActivity(ticketActs.ReportStaleRepos, mock.Anything, activities.StaleReposInput{Release: "r3", Recovered: []string{"baseos"}}).
			Return(activities.StaleReposResult{Closed: map[string]string{"baseos": "OSF-1"}}, ticketErr).Once()

		st := runDaily(t, env)
		require.Equal(t, PhaseDone, st.Phase)
		if trackerDown {
			require.Contains(t, st.TicketError, "tracker refused the token")
		} else {
			require.Empty(t, st.TicketError)
		}
		env.AssertExpectations(t)
	}
}

func TestDailySyncRetriesTransientErrorsButNotBadContent(t *testing.T) {
	env := newDailyEnv(t)
	attempts := map[string]int{}
	env.OnActivity(repoActs.SyncRepo, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncRepoInput) (activities.RepoSync, error) {
			attempts[in.Repo]++
			if in.Repo == "baseos" {
				return activities.RepoSync{}, errors.New("connection reset by peer")
			}
			return activities.RepoSync{}, temporal.NewNonRetryableApplicationError("href escapes the repo", activities.ErrTypeBadContent, nil)
		})

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	require.Error(t, env.GetWorkflowError())
	require.Equal(t, int(testPlan.MaxAttempts), attempts["baseos"], "a transport error is retried up to MaxAttempts")
	require.Equal(t, 1, attempts["site"], "bad content is not retried")
}

// newChangedSyncEnv is a DailySync whose repos all changed into release
// r2, with the switches done by sw.
func newChangedSyncEnv(t *testing.T, sw func(activities.SwitchChannelInput) (activities.ChannelSwitch, error)) *testsuite.TestWorkflowEnvironment {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncRepoInput) (activities.RepoSync, error) {
			return activities.RepoSync{Repo: in.Repo, Snapshot: "new", Changed: true}, nil
		})
	onPublish(env, activities.CreateReleaseResult{Release: "r2", Created: true}, nil, sw)
	return env
}

// The cycle is woken whenever testing serves the release, even when this
// run did not move it: a run whose signal failed after the switch, or a
// retried switch, must not leave a release on testing untested.
func TestDailySyncWakesTheCycleWhenTestingServesTheReleaseUnchanged(t *testing.T) {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncRepoInput) (activities.RepoSync, error) {
			return activities.RepoSync{Repo: in.Repo, Snapshot: "same"}, nil
		})
	var keys []string
	onPublish(env, activities.CreateReleaseResult{Release: "r1"}, nil, func(in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
		keys = append(keys, in.Key)
		return activities.ChannelSwitch{Channel: in.Channel, From: "r1", To: "r1"}, nil
	})
	env.OnActivity(cycleActs.SignalWithStart, mock.Anything, mock.MatchedBy(func(in activities.SignalWithStartInput) bool {
		return in.Payload.Release == "r1"
	})).Return("run", nil).Once()

	env.ExecuteWorkflow(DailySync, DailySyncInput{Actor: "cli/alice", Reason: "check"})

	require.NoError(t, env.GetWorkflowError())
	var st DailySyncStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseNoChange, st.Phase)
	require.Equal(t, []string{
		"default-test-workflow-id/default-test-run-id/switch-daily",
		"default-test-workflow-id/default-test-run-id/switch-testing",
	}, keys, "each switch is keyed by the run and the channel")
	env.AssertExpectations(t)
}

func TestDailySyncLeavesAFrozenTestingAlone(t *testing.T) {
	env := newChangedSyncEnv(t, func(in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
		if in.Channel == "testing" {
			return activities.ChannelSwitch{Channel: in.Channel, From: "r1", To: "r1", Frozen: true}, nil
		}
		return activities.ChannelSwitch{Channel: in.Channel, From: "r1", To: "r2", Changed: true}, nil
	})

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	require.NoError(t, env.GetWorkflowError())
	var st DailySyncStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseTestingFrozen, st.Phase)
	env.AssertNotCalled(t, "SignalWithStart", mock.Anything, mock.Anything)
}

// A switch that fails after daily moved: the status says daily moved, so
// the CLI does not claim that nothing changed.
func TestDailySyncFailedSwitchSaysWhatMoved(t *testing.T) {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncRepoInput) (activities.RepoSync, error) {
			return activities.RepoSync{Repo: in.Repo, Snapshot: "new", Changed: true}, nil
		})
	daily := activities.ChannelSwitch{Channel: "daily", From: "r1", To: "r2", Changed: true}
	env.OnActivity(repoActs.PublishRelease, mock.Anything, mock.Anything).Return(activities.PublishReleaseResult{},
		temporal.NewApplicationErrorWithOptions("switch channel testing to r2: disk full", "", temporal.ApplicationErrorOptions{
			NonRetryable: true,
			Details:      []any{activities.PublishReleaseResult{CreateReleaseResult: activities.CreateReleaseResult{Release: "r2", Created: true}, Switches: []activities.ChannelSwitch{daily}}},
		}))

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	var app *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &app)
	require.Contains(t, app.Message(), "switch channel testing to r2: disk full")
	var st DailySyncStatus
	require.NoError(t, app.Details(&st))
	require.Equal(t, "r2", st.Release)
	require.Equal(t, []activities.ChannelSwitch{daily}, st.Switches)
	env.AssertNotCalled(t, "SignalWithStart", mock.Anything, mock.Anything)
}

// A failure after a switch says so, and carries the status for the CLI.
func TestDailySyncFailureCarriesItsStatus(t *testing.T) {
	env := newChangedSyncEnv(t, func(in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
		return activities.ChannelSwitch{Channel: in.Channel, From: "r1", To: "r2", Changed: true}, nil
	})
	env.OnActivity(cycleActs.SignalWithStart, mock.Anything, mock.Anything).
		Return("", temporal.NewNonRetryableApplicationError("namespace not found", activities.ErrTypeInvalidInput, nil))

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, ErrTypeSyncFailed, app.Type())
	require.Equal(t, "notify the test cycle of release r2, which testing serves: namespace not found", app.Message(),
		"the root cause once, without Temporal's envelopes")
	var st DailySyncStatus
	require.NoError(t, app.Details(&st))
	require.Equal(t, PhaseFailed, st.Phase)
	require.Len(t, st.Switches, 2)
	require.True(t, st.Switches[1].Changed, "the status says testing moved before the failure")
}
