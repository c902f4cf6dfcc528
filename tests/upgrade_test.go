package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
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
	s := newBareSite(t, "e2e-upgrade", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, "production:\n  approvers: [alice]\n")
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
	// The decision ends the promotion without an outage: a rejection,
	// which ends it failed with its status (promotion-ends-failed).
	decide := func(run client.WorkflowRun) workflows.PromotionStatus {
		require.NoError(t, s.client.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalRejectOutage, workflows.RejectRequest{Approver: "alice", Comment: "not now"}))
		var app *temporal.ApplicationError
		require.ErrorAs(t, run.Get(ctx, nil), &app)
		require.Equal(t, workflows.ErrTypePromotionRejected, app.Type())
		var st workflows.PromotionStatus
		require.NoError(t, app.Details(&st))
		return st
	}

	before := start(workflows.PromotionWorkflowID(rel))
	stopOld()
	s.startWorker(worker.Options{Main: true, Repo: true, Workflows: nextBuild})
	res := decide(before)
	require.Equal(t, workflows.ApprovalRejected, res.State)
	require.Equal(t, "alice", res.Approval.By)
	recordHistory(t, s.client, before.GetID(), before.GetRunID(), "promotion-v1-rejected")
	old := history(t, s.client, before)
	require.False(t, hasChange(old, upgradeChange), "a promotion started before the upgrade must not take the patch")

	after := start(workflows.PromotionWorkflowID(rel) + "-after-upgrade")
	desc, err := s.client.DescribeWorkflowExecution(ctx, after.GetID(), "")
	require.NoError(t, err)
	require.Contains(t, desc.GetWorkflowExecutionInfo().GetMemo().GetFields(), "build", "the new build's promotion takes the patched path")
	require.Equal(t, workflows.ApprovalRejected, decide(after).State)
	patched := history(t, s.client, after)
	require.True(t, hasChange(patched, upgradeChange))

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
	// TMPRL1100 is the SDK's code for a history the code cannot replay.
	require.Regexp(t, "nondeterministic|TMPRL1100", err.Error())
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

// hasChange reports whether a history recorded the version marker of a
// GetVersion change ID.
func hasChange(h *historypb.History, changeID string) bool {
	for _, ev := range h.GetEvents() {
		m := ev.GetMarkerRecordedEventAttributes()
		if m == nil || m.GetMarkerName() != "Version" {
			continue
		}
		for _, p := range m.GetDetails() {
			for _, pl := range p.GetPayloads() {
				if strings.Contains(string(pl.GetData()), changeID) {
					return true
				}
			}
		}
	}
	return false
}
