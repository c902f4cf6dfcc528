package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// TestCycleWorkflowType is the registered name of TestCycle, which
// DailySync starts by name through SignalWithStart.
const TestCycleWorkflowType = "TestCycle"

// maxRememberedReleases bounds the state carried through continue-as-new.
const maxRememberedReleases = 30

// TestCycleState is everything TestCycle carries across continue-as-new.
type TestCycleState struct {
	// Current is the testing release under test.
	Current string
	// Releases lists the releases testing received, oldest first.
	Releases []activities.TestingUpdated
	// Phase is the cycle's phase, as OsflowPhase shows it.
	Phase string
}

// PhaseAwaitingTests is the phase of a cycle that holds a release whose
// integration tests have not run; the integration-test loop replaces it.
const PhaseAwaitingTests = "awaiting-tests"

// TestCycle is the long-running workflow that follows the testing channel.
// This first version records each testing release it is told about and
// answers the status query; the integration-test loop, ticket filing and the
// gate build on this state.
func TestCycle(ctx workflow.Context, state TestCycleState) error {
	c := &testCycle{state: state}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (TestCycleState, error) {
		return c.state, nil
	}); err != nil {
		return err
	}
	updates := workflow.GetSignalChannel(ctx, SignalTestingUpdated)
	for {
		var u activities.TestingUpdated
		updates.Receive(ctx, &u)
		c.record(ctx, u)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Drain first: a signal left in the channel would be lost with this run.
			for updates.ReceiveAsync(&u) {
				c.record(ctx, u)
			}
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, TestCycleWorkflowType, c.state)
		}
	}
}

type testCycle struct {
	state TestCycleState
}

// record takes a new testing release; a repeated signal for the release
// under test changes nothing, so SignalWithStart retries are harmless.
func (c *testCycle) record(ctx workflow.Context, u activities.TestingUpdated) {
	if u.Release == "" || u.Release == c.state.Current {
		return
	}
	c.state.Current = u.Release
	c.state.Releases = append(c.state.Releases, u)
	if n := len(c.state.Releases); n > maxRememberedReleases {
		c.state.Releases = append([]activities.TestingUpdated(nil), c.state.Releases[n-maxRememberedReleases:]...)
	}
	c.state.Phase = PhaseAwaitingTests
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		AttrPhase.ValueSet(c.state.Phase),
		AttrRelease.ValueSet(u.Release),
		AttrChannel.ValueSet(u.Channel))
	workflow.GetLogger(ctx).Info("testing updated", "release", u.Release, "actor", u.Actor)
}
