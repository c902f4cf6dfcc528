package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/worker"
	"github.com/osflow/osflow/workflows"
)

// upgradeChange is the GetVersion change ID of the next build's patch.
const upgradeChange = "e2e-upgrade-records-build"

// nextBuild registers the workflows of the "next osflow build": the same
// as today's, except that Promotion carries a patch guarded by
// workflow.GetVersion, as every change to a workflow's commands must be.
// New promotions record which build started them in their memo; a
// promotion started before the upgrade replays without the patch.
func nextBuild(r sdkworker.WorkflowRegistry) {
	worker.Register(r)
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.PromotionInput) (workflows.PromotionStatus, error) {
		if workflow.GetVersion(ctx, upgradeChange, workflow.DefaultVersion, 1) == 1 {
			if err := workflow.UpsertMemo(ctx, map[string]any{"build": "next"}); err != nil {
				return workflows.PromotionStatus{}, err
			}
		}
		return workflows.Promotion(ctx, in)
	}, workflow.RegisterOptions{Name: "Promotion", DisableAlreadyRegisteredCheck: true})
}

// TestUpgradeWhileWaiting deploys a new build while a promotion waits for
// its approver: the old build's workers stop, the next build's start on the
// same task queues, and the waiting promotion completes on the new code. A
// promotion started after the upgrade takes the patched path; its history
// does not replay on the old build, which is why a downgrade is refused
// once new workflows have started (README, "Upgrading osflow").
func TestUpgradeWhileWaiting(t *testing.T) {
	s := newBareSite(t, "e2e-upgrade", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, "")
	stopOld := s.startWorker(worker.RoleAll.Options())
	rel := s.sync().Release
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := func(id string) client.WorkflowRun {
		run, err := s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.cfg.Temporal.TaskQueue},
			workflows.Promotion, workflows.PromotionInput{Candidate: activities.Candidate{Release: rel}})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			v, err := s.client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
			var st workflows.PromotionStatus
			return err == nil && v.Get(&st) == nil && st.Phase == workflows.PhaseAwaitingApproval
		}, time.Minute, 100*time.Millisecond, "promotion %s never waited for approval", id)
		return run
	}
	approve := func(run client.WorkflowRun) workflows.PromotionStatus {
		require.NoError(t, s.client.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalApproveOutage, workflows.Decision{By: "alice", Comment: "go"}))
		var st workflows.PromotionStatus
		require.NoError(t, run.Get(ctx, &st))
		return st
	}

	before := start(workflows.PromotionWorkflowID(rel))
	stopOld()
	s.startWorker(worker.Options{Main: true, Repo: true, Workflows: nextBuild})
	res := approve(before)
	require.Equal(t, workflows.ApprovalApproved, res.Approval)
	require.Equal(t, "alice", res.Decision.By)
	old := history(t, s.client, before)
	require.False(t, hasVersionMarker(old), "a promotion started before the upgrade must not take the patch")

	after := start(workflows.PromotionWorkflowID(rel) + "-after-upgrade")
	desc, err := s.client.DescribeWorkflowExecution(ctx, after.GetID(), "")
	require.NoError(t, err)
	require.Contains(t, desc.GetWorkflowExecutionInfo().GetMemo().GetFields(), "build", "the new build's promotion takes the patched path")
	require.Equal(t, workflows.ApprovalApproved, approve(after).Approval)
	patched := history(t, s.client, after)
	require.True(t, hasVersionMarker(patched))

	replay := func(register func(sdkworker.WorkflowRegistry), h *historypb.History) error {
		r := sdkworker.NewWorkflowReplayer()
		register(r)
		return r.ReplayWorkflowHistory(nil, h)
	}
	require.NoError(t, replay(nextBuild, old), "the next build replays what the old one recorded")
	require.NoError(t, replay(worker.Register, old))
	require.NoError(t, replay(nextBuild, patched))
	err = replay(worker.Register, patched)
	require.Error(t, err, "the old build must not be able to replay a patched history")
	require.Contains(t, err.Error(), "nondeterministic")
}

func history(t *testing.T, c client.Client, run client.WorkflowRun) *historypb.History {
	t.Helper()
	h := &historypb.History{}
	it := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

func hasVersionMarker(h *historypb.History) bool {
	for _, ev := range h.GetEvents() {
		if m := ev.GetMarkerRecordedEventAttributes(); m != nil && m.GetMarkerName() == "Version" {
			return true
		}
	}
	return false
}
