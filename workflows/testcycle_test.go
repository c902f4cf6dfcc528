package workflows

import (
	"context"
	"errors"
	"fmt"
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

// testingChannel stands in for the store's testing channel: what it
// serves and its freeze, with the store's freeze rules (a freeze names the
// release served; a conditional unfreeze releases only its own freeze).
type testingChannel struct {
	release string
	freeze  *activities.FreezeState
	ops     []activities.FreezeInput
}

func (tc *testingChannel) state(context.Context, activities.ChannelStateInput) (activities.ChannelState, error) {
	return activities.ChannelState{Channel: "testing", Release: tc.release, Freeze: tc.freeze}, nil
}

func (tc *testingChannel) setFreeze(ctx context.Context, in activities.FreezeInput) (activities.ChannelState, error) {
	tc.ops = append(tc.ops, in)
	switch {
	case in.Frozen && in.Release != tc.release:
		return activities.ChannelState{}, fmt.Errorf("freeze channel testing: it serves %s, not %s", tc.release, in.Release)
	case in.Frozen:
		tc.freeze = &activities.FreezeState{Actor: in.Actor, Reason: in.Reason, Release: in.Release, Key: in.Key}
	case tc.freeze != nil && (in.IfKey == "" || tc.freeze.Key == in.IfKey):
		tc.freeze = nil
	}
	return tc.state(ctx, activities.ChannelStateInput{})
}

// serve moves testing as DailySync does (unless frozen) and signals the cycle.
func (tc *testingChannel) serve(env *testsuite.TestWorkflowEnvironment, at time.Duration, release string) {
	env.RegisterDelayedCallback(func() {
		if tc.freeze == nil {
			tc.release = release
		}
		env.SignalWorkflow(SignalTestingUpdated, activities.TestingUpdated{Release: release, Channel: "testing", Actor: "test"})
	}, at)
}

func newCycleEnv(t *testing.T, plan activities.TestPlan) (*testsuite.TestWorkflowEnvironment, *testingChannel) {
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
	tc := &testingChannel{}
	env.OnActivity(repoActs.ChannelState, mock.Anything, mock.Anything).Return(tc.state)
	env.OnActivity(repoActs.SetFreeze, mock.Anything, mock.Anything).Return(tc.setFreeze)
	return env, tc
}

func queryCycle(t *testing.T, env *testsuite.TestWorkflowEnvironment) TestCycleState {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st TestCycleState
	require.NoError(t, v.Get(&st))
	return st
}

// update sends an Update and records its answer: the result, or the
// validator's or handler's refusal.
type answer struct {
	refused error
	result  any
}

func sendUpdate[T any](env *testsuite.TestWorkflowEnvironment, at time.Duration, name string, arg any, got *answer) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, fmt.Sprintf("%s-%s-%v", name, at, arg), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { got.refused = err },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				got.refused, got.result = err, v
			},
		}, arg)
	}, at)
}

func passingSuite(_ context.Context, in activities.RunSuiteInput) (activities.SuiteResult, error) {
	return activities.SuiteResult{Suite: in.Suite, Cases: []activities.CaseResult{{Suite: in.Suite, Name: "baseos", Status: "passed"}}}, nil
}

func TestCycleReachesTheGateRehearsesFrozenAndStartsThePromotion(t *testing.T) {
	env, tc := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	rounds := 0
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProcessResultsInput) (activities.TicketSummary, error) {
			rounds++
			require.Equal(t, "r1", in.Release)
			require.NotEmpty(t, in.Key, "ticket operations are keyed")
			if rounds == 1 {
				return activities.TicketSummary{New: []string{"OSF-1"}, Open: 1}, nil
			}
			return activities.TicketSummary{Open: 0}, nil
		})
	var frozenDuringTask bool
	env.OnActivity(testActs.RunTask, mock.Anything, activities.RunTaskInput{Task: "drain", Release: "r1"}).Return(
		func(context.Context, activities.RunTaskInput) (activities.TaskResult, error) {
			frozenDuringTask = tc.freeze != nil && tc.freeze.Actor == rehearsalActor && tc.freeze.Release == "r1"
			return activities.TaskResult{Task: "drain", Duration: 7 * time.Minute}, nil
		}).Once()
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

	tc.serve(env, time.Minute, "r1")
	tc.serve(env, 150*time.Minute, "r2") // DailySync during the rehearsal: testing is frozen and stays
	var beforeGate, waiting, done TestCycleState
	var early, wrongTask, taskDone, twice answer
	env.RegisterDelayedCallback(func() { beforeGate = queryCycle(t, env) }, 90*time.Minute)
	sendUpdate[TaskDoneResult](env, 100*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "alice"}, &early)
	env.RegisterDelayedCallback(func() { waiting = queryCycle(t, env) }, 160*time.Minute)
	sendUpdate[TaskDoneResult](env, 170*time.Minute, UpdateTaskDone, TaskDone{Task: "drain", By: "alice"}, &wrongTask)
	sendUpdate[TaskDoneResult](env, 3*time.Hour, UpdateTaskDone, TaskDone{Task: "firmware", By: "alice"}, &taskDone)
	sendUpdate[TaskDoneResult](env, 3*time.Hour, UpdateTaskDone, TaskDone{Task: "firmware", By: "bob"}, &twice)
	env.RegisterDelayedCallback(func() { done = queryCycle(t, env) }, 4*time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 5*time.Hour)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.Equal(t, 1, beforeGate.CleanStreak, "round 1 filed a ticket, round 2 was clean")
	require.False(t, beforeGate.Gate.Passed)
	require.Contains(t, beforeGate.Gate.Reasons, "waiting: 1 of 2 consecutive rounds without new tickets")
	require.ErrorContains(t, early.refused, "not waiting for task \"firmware\"", "no rehearsal yet")

	require.True(t, frozenDuringTask, "the rehearsal holds testing at the release it rehearses")
	require.Equal(t, PhaseRehearsal, waiting.Phase)
	require.Equal(t, "firmware", waiting.WaitingFor)
	require.Equal(t, "r1", waiting.Current, "r2 arrived during the rehearsal; testing stayed")
	require.ErrorContains(t, wrongTask.refused, "it waits for firmware")
	require.NoError(t, taskDone.refused)
	// The second report of the same task is refused: the rehearsal has it
	// already (or moved on from it).
	require.ErrorContains(t, twice.refused, `task "firmware"`)

	require.Equal(t, "r1", done.Promoted)
	require.Equal(t, 3, roundsAtPromotion, "one round with a new ticket, then two clean ones")
	require.Len(t, assembled.Tasks, 2)
	require.Equal(t, 7*time.Minute, assembled.Tasks[0].Measured)
	require.Equal(t, "alice", assembled.Tasks[1].By)
	require.Equal(t, 59*time.Minute, assembled.Tasks[1].Measured, "from the start of the wait (2h01m) to task-done (3h00m)")
	require.Equal(t, "r1", promoted.Candidate.Release)
	require.Equal(t, "r1", promoted.Release)
	require.Equal(t, 1, promotions, "later clean rounds on the same release do not promote it again")
	require.Nil(t, tc.freeze, "the rehearsal released its freeze")
	require.False(t, done.Frozen)
	require.Greater(t, rounds, roundsAtPromotion, "testing goes on after the candidate")
}

// A freeze while a round runs applies at once, to what testing serves
// then; the cycle's current release is what testing serves.
func TestCycleFreezeDuringARoundWithANewerRelease(t *testing.T) {
	plan := cyclePlan
	plan.RoundInterval = 24 * time.Hour
	env, tc := newCycleEnv(t, plan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).After(30 * time.Minute).Return(passingSuite)
	var tested []string
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProcessResultsInput) (activities.TicketSummary, error) {
			tested = append(tested, in.Release)
			return activities.TicketSummary{New: []string{"OSF-" + in.Release}}, nil // never clean: no gate
		})
	tc.serve(env, time.Minute, "r1")
	tc.serve(env, 5*time.Minute, "r2") // mid-round
	var freeze, again, unfreeze answer
	sendUpdate[FreezeResult](env, 10*time.Minute, UpdateFreeze, FreezeRequest{Frozen: true, Actor: "alice", Reason: "converging"}, &freeze)
	var frozenMidRound TestCycleState
	env.RegisterDelayedCallback(func() { frozenMidRound = queryCycle(t, env) }, 11*time.Minute)
	sendUpdate[FreezeResult](env, 12*time.Minute, UpdateFreeze, FreezeRequest{Frozen: true, Actor: "bob", Reason: "me too"}, &again)
	tc.serve(env, 40*time.Minute, "r3") // frozen: testing stays at r2
	var afterRound TestCycleState
	env.RegisterDelayedCallback(func() { afterRound = queryCycle(t, env) }, 100*time.Minute)
	sendUpdate[FreezeResult](env, 110*time.Minute, UpdateFreeze, FreezeRequest{Frozen: false, Actor: "alice", Reason: "done"}, &unfreeze)
	tc.serve(env, 120*time.Minute, "r4")
	env.RegisterDelayedCallback(env.CancelWorkflow, 200*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.NoError(t, freeze.refused)
	res := freeze.result.(FreezeResult)
	require.True(t, res.Frozen)
	require.Equal(t, "r2", res.Release, "frozen at what testing serves, read under the lock")
	require.Equal(t, "r1", frozenMidRound.InRound.Release, "applied while the round on r1 runs")
	require.True(t, frozenMidRound.Frozen)
	require.Equal(t, "r2", frozenMidRound.Current)
	require.ErrorContains(t, again.refused, "already frozen at r2 by alice")
	require.Equal(t, "r2", afterRound.Current)
	require.Equal(t, "r2", afterRound.LastTested, "the cycle tested what testing serves, not the release it started with")
	require.NoError(t, unfreeze.refused)
	require.Equal(t, []string{"r1", "r2", "r4"}, tested[:3], "r3 arrived while frozen and never reached testing")
}

func TestCycleOperatorSignalsGoThroughTheSameChecks(t *testing.T) {
	env, tc := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(activities.TicketSummary{New: []string{"OSF-1"}}, nil)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalFreeze, FreezeRequest{Frozen: true, Actor: "tctl", Reason: "hold"})
	}, 30*time.Second) // nothing served yet: refused
	tc.serve(env, time.Minute, "r1")
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalFreeze, FreezeRequest{Frozen: true, Actor: "tctl", Reason: "hold"})
	}, 10*time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTaskDone, TaskDone{Task: "firmware", By: "tctl\nforged"})
	}, 11*time.Minute)
	var st TestCycleState
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 20*time.Minute)
	env.RegisterDelayedCallback(env.CancelWorkflow, 30*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.True(t, st.Frozen)
	require.Equal(t, "tctl", st.FrozenBy)
	require.Len(t, st.Refused, 2)
	require.Contains(t, st.Refused[0], "serves no release yet")
	require.Contains(t, st.Refused[1], "one line of printable text")
	require.Equal(t, "r1", tc.freeze.Release)
}

func TestCycleTestNow(t *testing.T) {
	plan := cyclePlan
	plan.RoundInterval = 24 * time.Hour
	env, tc := newCycleEnv(t, plan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).After(10 * time.Minute).Return(passingSuite)
	rounds := 0
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ProcessResultsInput) (activities.TicketSummary, error) {
			rounds++
			return activities.TicketSummary{New: []string{"OSF-1"}}, nil
		})
	var tooEarly, during, now answer
	sendUpdate[TestNowResult](env, 30*time.Second, UpdateTestNow, TestNowRequest{By: "alice"}, &tooEarly)
	tc.serve(env, time.Minute, "r1")
	sendUpdate[TestNowResult](env, 5*time.Minute, UpdateTestNow, TestNowRequest{By: "alice"}, &during)
	sendUpdate[TestNowResult](env, time.Hour, UpdateTestNow, TestNowRequest{By: "alice"}, &now)
	var st TestCycleState
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 2*time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 3*time.Hour)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.ErrorContains(t, tooEarly.refused, "serves no release yet")
	require.ErrorContains(t, during.refused, "a round on r1 is running")
	require.ErrorContains(t, during.refused, "suite repoclosure")
	require.NoError(t, now.refused)
	require.Equal(t, TestNowResult{Release: "r1"}, now.result)
	require.Equal(t, 2, rounds, "the release's round, then the one asked for; the interval is a day")
	require.Equal(t, 2, st.RoundsRun)
}

func TestCycleCountsABrokenSuiteAsAFailure(t *testing.T) {
	env, tc := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(activities.SuiteResult{}, errors.New("jenkins: build FAILURE"))
	var got activities.ProcessResultsInput
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProcessResultsInput) (activities.TicketSummary, error) {
			got = in
			return activities.TicketSummary{New: []string{"OSF-1"}, Open: 1}, nil
		})
	tc.serve(env, time.Minute, "r1")
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

// With passingRounds, a round in which an open ticket's case fails again
// is not clean, though it files nothing new.
func TestCyclePassingRounds(t *testing.T) {
	for _, tt := range []struct {
		passing bool
		streak  int
	}{{false, 2}, {true, 0}} {
		t.Run(fmt.Sprint("passingRounds=", tt.passing), func(t *testing.T) {
			plan := cyclePlan
			plan.PassingRounds, plan.CleanRounds = tt.passing, 5
			env, tc := newCycleEnv(t, plan)
			env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
			env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).
				Return(activities.TicketSummary{Failures: 1, Commented: []string{"OSF-1"}, Open: 1}, nil)
			tc.serve(env, time.Minute, "r1")
			var st TestCycleState
			env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, 90*time.Minute)
			env.RegisterDelayedCallback(env.CancelWorkflow, 100*time.Minute)
			env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})
			require.Equal(t, tt.streak, st.CleanStreak)
		})
	}
}

func TestCycleSurvivesATrackerOutage(t *testing.T) {
	plan := cyclePlan
	plan.RoundInterval = 24 * time.Hour
	env, tc := newCycleEnv(t, plan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(activities.TicketSummary{}, errors.New("502 Bad Gateway"))
	tc.serve(env, time.Minute, "r1")
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
	env, tc := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).
		Return(activities.TicketSummary{Open: 2, OpenFingerprints: []string{"a/b", "c/d"}}, nil)
	env.SetContinueAsNewSuggested(true)
	tc.release = "r1"

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{Releases: []activities.TestingUpdated{{Release: "r0"}}, RoundsRun: 4})

	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next TestCycleState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, "r1", next.Current)
	require.Equal(t, "r1", next.LastTested)
	require.Equal(t, 5, next.RoundsRun)
	require.Equal(t, 2, next.OpenTickets)
	require.Equal(t, []string{"a/b", "c/d"}, next.Watch, "open tickets' cases are watched in the next run")
}

// A freeze that a run from before version 1 queued is applied when the
// new run starts.
func TestCycleAppliesAFreezeQueuedByAnOldRun(t *testing.T) {
	env, tc := newCycleEnv(t, cyclePlan)
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(passingSuite)
	env.OnActivity(ticketActs.ProcessResults, mock.Anything, mock.Anything).Return(activities.TicketSummary{New: []string{"x"}}, nil)
	tc.release = "r7"
	var st TestCycleState
	env.RegisterDelayedCallback(func() { st = queryCycle(t, env) }, time.Minute)
	env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{Current: "r7", Pending: "r8",
		PendingFreeze: &FreezeRequest{Frozen: true, Actor: "cli/alice", Reason: "outage next week"}})

	require.True(t, st.Frozen)
	require.Equal(t, "r7", st.FrozenAt)
	require.Nil(t, st.PendingFreeze)
	require.Empty(t, st.Pending)
	require.Equal(t, "cli/alice", tc.freeze.Actor)
}
