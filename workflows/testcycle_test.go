package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

func signalAt(env *testsuite.TestWorkflowEnvironment, d time.Duration, release string) {
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTestingUpdated, activities.TestingUpdated{Release: release, Channel: "testing", Actor: "test"})
	}, d)
}

func queryState(t *testing.T, env *testsuite.TestWorkflowEnvironment) TestCycleState {
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st TestCycleState
	require.NoError(t, v.Get(&st))
	return st
}

func TestTestCycleRecordsEachNewReleaseOnce(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(TestCycle, workflow.RegisterOptions{Name: TestCycleWorkflowType})
	signalAt(env, time.Minute, "r1")
	signalAt(env, 2*time.Minute, "r1") // a SignalWithStart retry
	signalAt(env, 3*time.Minute, "r2")
	var got TestCycleState
	env.RegisterDelayedCallback(func() { got = queryState(t, env) }, 4*time.Minute)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 5*time.Minute)

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{})

	require.Equal(t, "r2", got.Current)
	require.Len(t, got.Releases, 2)
	require.Equal(t, PhaseAwaitingTests, got.Phase)
}

func TestTestCycleContinuesAsNewWithItsState(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(TestCycle, workflow.RegisterOptions{Name: TestCycleWorkflowType})
	env.SetContinueAsNewSuggested(true)
	signalAt(env, time.Minute, "r1")

	env.ExecuteWorkflow(TestCycleWorkflowType, TestCycleState{Current: "r0", Releases: []activities.TestingUpdated{{Release: "r0"}}})

	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next TestCycleState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, "r1", next.Current)
	require.Equal(t, []string{"r0", "r1"}, releaseIDs(next.Releases))
}

func releaseIDs(us []activities.TestingUpdated) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Release
	}
	return out
}
