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
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.ConfigActivities{})
	env.RegisterActivity(&activities.RepoActivities{})
	env.RegisterActivity(&activities.CycleActivities{})
	env.OnActivity(configActs.SyncPlan, mock.Anything).Return(testPlan, nil)
	return env
}

func TestDailySyncSwitchesDailyThenTestingAndWakesTheCycle(t *testing.T) {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "baseos"}).
		Return(activities.RepoSync{Repo: "baseos", Snapshot: "aaaa", Changed: true, Packages: 3}, nil)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "site"}).
		Return(activities.RepoSync{Repo: "site", Snapshot: "bbbb", Packages: 1}, nil)
	env.OnActivity(repoActs.CreateRelease, mock.Anything, mock.MatchedBy(func(in activities.CreateReleaseInput) bool {
		return in.Snapshots["baseos"] == "aaaa" && in.Snapshots["site"] == "bbbb" && len(in.Snapshots) == 2
	})).Return(activities.CreateReleaseResult{Release: "20261125-abc", Created: true}, nil)
	var order []string
	env.OnActivity(repoActs.SwitchChannel, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
			order = append(order, in.Channel)
			require.Equal(t, "20261125-abc", in.Release)
			require.Equal(t, "schedule/"+DailySyncScheduleID, in.Actor)
			return activities.ChannelSwitch{Channel: in.Channel, From: "old", To: in.Release, Changed: true}, nil
		})
	env.OnActivity(cycleActs.SignalWithStart, mock.Anything, activities.SignalWithStartInput{
		WorkflowID: TestCycleWorkflowID, WorkflowType: TestCycleWorkflowType, Signal: SignalTestingUpdated,
		Payload: activities.TestingUpdated{Release: "20261125-abc", Channel: "testing", Actor: "schedule/" + DailySyncScheduleID},
	}).Return("run", nil).Once()

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st DailySyncStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, "20261125-abc", st.Release)
	require.Equal(t, []string{"daily", "testing"}, order)
	require.Len(t, st.Repos, 2)
	env.AssertExpectations(t)
}

func TestDailySyncLeavesChannelsAloneWhenARepoFails(t *testing.T) {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "baseos"}).
		Return(activities.RepoSync{}, temporal.NewNonRetryableApplicationError(
			"sync repo baseos: checksum mismatch for Packages/a.rpm", activities.ErrTypeBadContent, errors.New("bad")))
	env.OnActivity(repoActs.SyncRepo, mock.Anything, activities.SyncRepoInput{Repo: "site"}).
		Return(activities.RepoSync{Repo: "site", Snapshot: "bbbb"}, nil)

	env.ExecuteWorkflow(DailySync, DailySyncInput{})

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "sync failed for baseos; no channel was changed")
	require.Contains(t, err.Error(), "checksum mismatch for Packages/a.rpm")
	env.AssertNotCalled(t, "CreateRelease", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "SwitchChannel", mock.Anything, mock.Anything)
	env.AssertNotCalled(t, "SignalWithStart", mock.Anything, mock.Anything)
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

func TestDailySyncDoesNotWakeTheCycleWhenTestingIsUnchanged(t *testing.T) {
	env := newDailyEnv(t)
	env.OnActivity(repoActs.SyncRepo, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncRepoInput) (activities.RepoSync, error) {
			return activities.RepoSync{Repo: in.Repo, Snapshot: "same"}, nil
		})
	env.OnActivity(repoActs.CreateRelease, mock.Anything, mock.Anything).
		Return(activities.CreateReleaseResult{Release: "r1"}, nil)
	env.OnActivity(repoActs.SwitchChannel, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
			return activities.ChannelSwitch{Channel: in.Channel, From: "r1", To: "r1"}, nil
		})

	env.ExecuteWorkflow(DailySync, DailySyncInput{Actor: "cli/alice", Reason: "check"})

	require.NoError(t, env.GetWorkflowError())
	var st DailySyncStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseNoChange, st.Phase)
	env.AssertNotCalled(t, "SignalWithStart", mock.Anything, mock.Anything)
}
