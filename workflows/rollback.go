package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// ChannelRollback moves a channel back to a release it served before, on
// the repo worker, and wakes the test cycle when the channel is testing.
func ChannelRollback(ctx workflow.Context, in activities.RollbackInput) (activities.ChannelSwitch, error) {
	var sw activities.ChannelSwitch
	if in.Channel == "" || in.Reason == "" || in.Actor == "" {
		return sw, temporal.NewNonRetryableApplicationError("rollback needs a channel, an actor and a reason", activities.ErrTypeInvalidInput, nil)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrChannel.ValueSet(in.Channel))
	local := shortActivityCtx(ctx)
	var plan activities.SyncPlan
	if err := workflow.ExecuteActivity(local, configActs.SyncPlan).Get(ctx, &plan); err != nil {
		return sw, stepError("read plan", err)
	}
	storeCtx := storeActivityCtx(ctx, plan.RepoTaskQueue)
	// Version 1 resolves "the release before the current one" once, into
	// an absolute target in history, and keys the switch: a retried
	// rollback can then neither resolve again nor switch twice.
	resolved := workflow.GetVersion(ctx, versionRollbackResolve, workflow.DefaultVersion, 1) >= 1
	if resolved {
		if err := workflow.ExecuteActivity(storeCtx, repoActs.ResolveRollback, in).Get(ctx, &in); err != nil {
			return sw, stepError("roll back "+in.Channel, err)
		}
		in.Key = runKey(ctx, "rollback-"+in.Channel)
	}
	if err := workflow.ExecuteActivity(storeCtx, repoActs.RollbackChannel, in).Get(ctx, &sw); err != nil {
		return sw, stepError("roll back "+in.Channel, err)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(sw.To), AttrPhase.ValueSet(PhaseDone))
	if in.Channel == plan.TestingChannel && (sw.Changed || resolved) {
		err := workflow.ExecuteActivity(local, cycleActs.SignalWithStart, activities.SignalWithStartInput{
			WorkflowID:   TestCycleWorkflowID,
			WorkflowType: TestCycleWorkflowType,
			Signal:       SignalTestingUpdated,
			Payload:      activities.TestingUpdated{Release: sw.To, Channel: in.Channel, Actor: in.Actor},
		}).Get(ctx, nil)
		if err != nil {
			return sw, stepError("notify the test cycle of the rollback to "+sw.To, err)
		}
	}
	return sw, nil
}
