package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

var cyclePlan = activities.TestPlan{
	Suites:            []string{"repoclosure"},
	Tasks:             []activities.TaskPlan{{Name: "drain", Expected: 10 * time.Minute}, {Name: "firmware", Manual: true, Expected: 30 * time.Minute}},
	TestingChannel:    "testing",
	ProductionChannel: "production",
	RepoTaskQueue:     "osflow-repo",
	CleanRounds:       2,
	BlockerLabel:      "blocker",
	RoundInterval:     time.Hour,
}

func newCycleEnv(t *testing.T, plan activities.TestPlan) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(TestCycle, workflow.RegisterOptions{Name: TestCycleWorkflowType})
	env.RegisterWorkflow(Promotion)
	for _, a := range []any{&activities.ConfigActivities{}, &activities.RepoActivities{}, &activities.TestActivities{},
		&activities.TicketActivities{}, &activities.CandidateActivities{}} {
		env.RegisterActivity(a)
	}
	env.OnActivity(configActs.TestPlan, mock.Anything).Return(plan, nil)
	return env
}

func signalRelease(env *testsuite.TestWorkflowEnvironment, at time.Duration, release string) {
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTestingUpdated, activities.TestingUpdated{Release: release, Channel: "testing", Actor: "test"})
	}, at)
}

func queryCycle(t *testing.T, env *testsuite.TestWorkflowEnvironment) TestCycleState {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st TestCycleState
	require.NoError(t, v.Get(&st))
	return st
}

func passingSuite(_ context.Context, in activities.RunSuiteInput) (activities.SuiteResult, error) {
	return activities.SuiteResult{Suite: in.Suite, Cases: []activities.CaseResult{{Suite: in.Suite, Name: "baseos", Status: "passed"}}}, nil
}

func TestCycleReachesTheGateRehearsesAndStartsThePromotion(t *testing.T) {
	env := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	rounds := 0
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProcessResultsInput) (activities.TicketSummary, error) {
			rounds++
			require.Equal(t, "r1", in.Release)
			if rounds == 1 {
				return activities.TicketSummary{New: []string{"OSF-1"}, Open: 1}, nil
			}
			return activities.TicketSummary{Open: 0}, nil
		})
	env.OnActivity(testActs.RunTask, mock.Anything, activities.RunTaskInput{Task: "drain", Release: "r1"}).
		Return(activities.TaskResult{Task: "drain", Duration: 7 * time.Minute}, nil).Once()
	env.OnActivity(repoActs.DiffSummary, mock.Anything, activities.DiffSummaryInput{From: "production", To: "r1"}).
		Return(activities.DiffSummary{From: "production", To: "r1", Upgraded: 3}, nil)
	var assembled activities.CandidateInput
	env.OnActivity(candidateActs.Assemble, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CandidateInput) (activities.Candidate, error) {
			assembled = in
			return activities.Candidate{Release: in.Release, Tasks: in.Tasks, WikiPage: "Release-r1"}, nil
		})
	var promoted PromotionInput
	roundsAtPromotion, promotions := 0, 0
	env.OnWorkflow(Promotion, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in PromotionInput) (PromotionStatus, error) {
			promoted, roundsAtPromotion = in, rounds
			promotions++
			return PromotionStatus{}, nil
		})

	signalRelease(env, time.Minute, "r1")
	var beforeGate, waiting, done TestCycleState
	env.RegisterDelayedCallback(func() { beforeGate = queryCycle(t, env) }, 90*time.Minute)
	env.RegisterDelayedCallback(func() { waiting = queryCycle(t, env) }, 150*time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTaskDone, TaskDone{Task: "firmware", By: "alice"})
	}, 3*time.Hour)
	env.RegisterDelayedCallback(func() { done = queryCycle(t, env) }, 4*time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 5*time.Hour)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.Equal(t, 1, beforeGate.CleanStreak, "round 1 filed a ticket, round 2 was clean")
	require.False(t, beforeGate.Gate.Passed)
	require.Contains(t, beforeGate.Gate.Reasons, "waiting: 1 of 2 consecutive rounds without new tickets")

	require.Equal(t, PhaseRehearsal, waiting.Phase)
	require.Equal(t, "firmware", waiting.WaitingFor)

	require.Equal(t, "r1", done.Promoted)
	require.Equal(t, 3, roundsAtPromotion, "one round with a new ticket, then two clean ones")
	require.Len(t, assembled.Tasks, 2)
	require.Equal(t, 7*time.Minute, assembled.Tasks[0].Measured)
	require.Equal(t, "alice", assembled.Tasks[1].By)
	require.Equal(t, 59*time.Minute, assembled.Tasks[1].Measured, "from the start of the wait (2h01m) to task-done (3h00m)")
	require.Equal(t, "r1", promoted.Candidate.Release)
	require.Equal(t, 1, promotions, "later clean rounds on the same release do not promote it again")
	require.Greater(t, rounds, roundsAtPromotion, "testing goes on after the candidate")
}

func TestCycleFreezeHoldsTheRelease(t *testing.T) {
	env := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	var tested []string
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProcessResultsInput) (activities.TicketSummary, error) {
			tested = append(tested, in.Release)
			return activities.TicketSummary{New: []string{"OSF-" + in.Release}}, nil // never clean: no gate
		})
	var freezes []bool
	env.OnActivity(repoActs.SetFreeze, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FreezeInput) error {
			require.Equal(t, "testing", in.Channel)
			freezes = append(freezes, in.Frozen)
			return nil
		})
	signalRelease(env, time.Minute, "r1")
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalFreeze, FreezeRequest{Frozen: true, Actor: "alice", Reason: "converging"})
	}, 2*time.Minute)
	signalRelease(env, 3*time.Minute, "r2")
	var frozen TestCycleState
	env.RegisterDelayedCallback(func() { frozen = queryCycle(t, env) }, 4*time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalFreeze, FreezeRequest{Frozen: false, Actor: "alice"})
	}, 5*time.Minute)
	signalRelease(env, 6*time.Minute, "r3")
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.True(t, frozen.Frozen)
	require.Equal(t, "alice", frozen.FrozenBy)
	require.Equal(t, "r1", frozen.Current)
	require.Empty(t, frozen.Pending, "a release signalled while frozen is not queued")
	require.Equal(t, []bool{true, false}, freezes)
	require.Equal(t, []string{"r1", "r3"}, tested, "r2 arrived while frozen and was never tested")
}

func TestCycleCountsABrokenSuiteAsAFailure(t *testing.T) {
	env := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(activities.SuiteResult{}, errors.New("jenkins: build FAILURE"))
	var got activities.ProcessResultsInput
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProcessResultsInput) (activities.TicketSummary, error) {
			got = in
			return activities.TicketSummary{New: []string{"OSF-1"}, Open: 1}, nil
		})
	signalRelease(env, time.Minute, "r1")
	var st TestCycleState
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 30*time.Minute)
	env.RegisterDelayedCallback(env.CancelWorkflow, 40*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.Len(t, got.Results, 1)
	require.Equal(t, []activities.CaseResult{{Suite: "repoclosure", Name: SuiteRunCase, Status: "error", Message: got.Results[0].Cases[0].Message}}, got.Results[0].Cases)
	require.Contains(t, got.Results[0].Cases[0].Message, "build FAILURE")
	require.Equal(t, 0, st.CleanStreak)
	require.Equal(t, 1, st.OpenTickets)
}

func TestCycleSurvivesATrackerOutage(t *testing.T) {
	plan := cyclePlan
	plan.RoundInterval = 24 * time.Hour
	env := newCycleEnv(t, plan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(activities.TicketSummary{}, errors.New("502 Bad Gateway"))
	signalRelease(env, time.Minute, "r1")
	var st TestCycleState
	// The tracker calls are retried for hours; then the round is recorded
	// as failed and the next one is due a day later.
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 20*time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 21*time.Hour)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.Equal(t, PhaseError, st.Phase)
	require.Contains(t, st.LastError, "502 Bad Gateway")
	require.False(t, st.Gate.Passed)
	require.Equal(t, "r1", st.Current, "the cycle keeps its release and retries at the next round")
}

func TestCycleContinuesAsNewWithItsState(t *testing.T) {
	env := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(activities.TicketSummary{Open: 2}, nil)
	env.SetContinueAsNewSuggested(true)
	signalRelease(env, time.Minute, "r1")

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{Releases: []activities.TestingUpdated{{Release: "r0"}}, RoundsRun: 4})

	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next TestCycleState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, "r1", next.Current)
	require.Equal(t, 5, next.RoundsRun)
	require.Equal(t, 2, next.OpenTickets)
	require.Equal(t, []string{"r0", "r1"}, releaseIDs(next.Releases))
}

func releaseIDs(us []activities.TestingUpdated) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Release
	}
	return out
}
