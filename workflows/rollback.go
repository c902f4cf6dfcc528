package workflows

import (
	"fmt"
	"time"

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
	local := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
	})
	var plan activities.SyncPlan
	if err := workflow.ExecuteActivity(local, configActs.SyncPlan).Get(ctx, &plan); err != nil {
		return sw, fmt.Errorf("read plan: %w", err)
	}
	storeCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           plan.RepoTaskQueue,
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
		},
	})
	if err := workflow.ExecuteActivity(storeCtx, repoActs.RollbackChannel, in).Get(ctx, &sw); err != nil {
		return sw, fmt.Errorf("roll back %s: %w", in.Channel, err)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(sw.To), AttrPhase.ValueSet(PhaseDone))
	if in.Channel == plan.TestingChannel && sw.Changed {
		err := workflow.ExecuteActivity(local, cycleActs.SignalWithStart, activities.SignalWithStartInput{
			WorkflowID:   TestCycleWorkflowID,
			WorkflowType: TestCycleWorkflowType,
			Signal:       SignalTestingUpdated,
			Payload:      activities.TestingUpdated{Release: sw.To, Channel: in.Channel, Actor: in.Actor},
		}).Get(ctx, nil)
		if err != nil {
			return sw, fmt.Errorf("notify test cycle of rollback to %s: %w", sw.To, err)
		}
	}
	return sw, nil
}
