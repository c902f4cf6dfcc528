package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/activities"
)

// A promotion of what production already serves, itself or with bypasses
// carried into it, ends at once with a reason: no risk report, no
// approval, no outage whose switch would move nothing.
func TestPromotionRefusesTheReleaseProductionServes(t *testing.T) {
	for name, w := range map[string]*world{
		"the release":               {production: "r2", testing: "r2"},
		"the release with a bypass": {production: "r2-b1", productionBase: "r2", testing: "r2-b1", testingBase: "r2"},
	} {
		t.Run(name, func(t *testing.T) {
			env := newPromotionEnv(t, w)
			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
			err := env.GetWorkflowError()
			require.ErrorContains(t, err, "production already serves "+w.production)
			require.ErrorContains(t, err, "nothing to promote")
			require.Zero(t, w.calls["PublishRisk"], "no risk report")
			require.Zero(t, w.calls["Silence"]+w.calls["SwitchChannel"], "no outage")
			require.Empty(t, w.superseding, "supersedes nothing")
		})
	}
}

// A new promotion asks to supersede the ones that wait for approval and
// started before it, and notes which it superseded.
// A first promotion that failed leaves production on the candidate (there
// was nothing to roll back to): promoting it again runs the outage that
// never completed.
func TestPromotionAgainAfterAFirstFailedPromotion(t *testing.T) {
	w := &world{production: "r2", testing: "r2", promotionFailed: true}
	env := newPromotionEnv(t, w)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Hour)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	st := queryPromotion(t, env)
	require.True(t, hasNote(st, "production serves r2, but no promotion of it completed: this one runs its outage"), "%v", st.Comments)
	require.Equal(t, 1, w.calls["PublishRisk"], "it went on to the risk report")
}

func TestPromotionSupersedesOlderWaitingPromotions(t *testing.T) {
	w := &world{production: "r1", testing: "r2", supersede: []string{"promotion-r0"}}
	env := newPromotionEnv(t, w)
	var st PromotionStatus
	env.RegisterDelayedCallback(func() {
		st = queryPromotion(t, env)
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.Len(t, w.superseding, 1)
	in := w.superseding[0]
	require.Equal(t, "r2", in.Release)
	require.Equal(t, "default-test-workflow-id", in.Promotion)
	require.Equal(t, env.Now().Add(-time.Hour).Unix(), in.Started.Unix(), "only those started before it")
	require.Contains(t, in.Query, "WorkflowType = 'Promotion'")
	require.Contains(t, in.Query, "OsflowApproval = 'pending'")
	require.Equal(t, PhaseAwaitingApproval, st.Phase)
	require.True(t, hasNote(st, "superseded promotion-r0, which waited for approval"), "%v", st.Comments)
}

// A promotion asked to give way while it waits for approval ends, canceled
// and superseded, says by which, and moves nothing; an approval after it
// is refused. An approved promotion refuses to give way: the approval
// that came first stands.
func TestPromotionGivesWayOnlyWhileWaiting(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		w := &world{production: "r1", testing: "r2"}
		env := newPromotionEnv(t, w)
		var gave, late answer
		sendUpdate[Approval](env, time.Hour, activities.UpdateSupersede, activities.Superseded{By: "promotion-r3", Release: "r3"}, &gave)
		sendUpdate[Approval](env, time.Hour+time.Minute, UpdateApproveOutage, window(env, 2*time.Hour, time.Hour), &late)
		env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
		require.NoError(t, gave.refused)
		st := promotionEnd(t, env, ErrTypePromotionSuperseded, "release r2 was not promoted: superseded by promotion-r3 (release r3)")
		require.Equal(t, ApprovalCanceled, st.State)
		require.Equal(t, PhaseSuperseded, st.Phase)
		require.Contains(t, st.WaitingFor, "superseded by promotion-r3, the promotion of release r3")
		require.Zero(t, w.calls["Silence"]+w.calls["SwitchChannel"])
		require.Empty(t, w.heldBy, "testing let go")
		if late.refused == nil && late.result == nil {
			return // the workflow had ended before the approval came
		}
		require.ErrorContains(t, late.refused, "already canceled by promotion-r3")
	})
	t.Run("approved", func(t *testing.T) {
		w := &world{production: "r1", testing: "r2"}
		env := newPromotionEnv(t, w)
		var approved, gave, firmware answer
		sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 3*time.Hour, 2*time.Hour), &approved)
		sendUpdate[Approval](env, time.Hour+time.Minute, activities.UpdateSupersede, activities.Superseded{By: "promotion-r3", Release: "r3"}, &gave)
		sendUpdate[TaskDoneResult](env, 3*time.Hour+30*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmware)
		env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
		require.NoError(t, env.GetWorkflowError())
		require.NoError(t, approved.refused)
		require.ErrorContains(t, gave.refused, "already approved by alice: it does not give way to promotion-r3")
		var st PromotionStatus
		require.NoError(t, env.GetWorkflowResult(&st))
		require.Equal(t, ApprovalDone, st.State)
	})
}

// A promotion superseded the way the first builds of superseding did (a
// signal, then a cancel request) ends canceled, says by which, and moves
// nothing.
func TestPromotionSupersededEndsCanceled(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(activities.SignalSuperseded, activities.Superseded{By: "promotion-r3", Release: "r3"})
		env.CancelWorkflow()
	}, 2*time.Hour)
	var after PromotionStatus
	env.RegisterDelayedCallback(func() { after = queryPromotion(t, env) }, 2*time.Hour+time.Second)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.Error(t, env.GetWorkflowError(), "ends canceled, not completed")
	if after.State == "" { // the query may come after the end
		after = queryPromotion(t, env)
	}
	require.Equal(t, ApprovalCanceled, after.State)
	require.Equal(t, PhaseSuperseded, after.Phase)
	require.Contains(t, after.WaitingFor, "superseded by promotion-r3, the promotion of release r3")
	require.Zero(t, w.calls["Silence"]+w.calls["SwitchChannel"])
}

// An approval that arrives before the promotion has read its approvers
// waits for them instead of being refused with "no approvers are
// configured"; one from somebody else is still refused, after the plan.
func TestPromotionApprovalBeforeItsPlan(t *testing.T) {
	w := &world{production: "r1", testing: "r2", planGate: make(chan struct{})}
	env := newPromotionEnv(t, w)
	var wrong, approved answer
	wrongReq := window(env, 2*time.Hour, time.Hour)
	wrongReq.Approver = "mallory"
	sendUpdate[Approval](env, 0, UpdateApproveOutage, wrongReq, &wrong)
	sendUpdate[Approval](env, 0, UpdateApproveOutage, window(env, 2*time.Hour, time.Hour), &approved)
	env.RegisterDelayedCallback(func() { close(w.planGate) }, 0)
	var firmware answer
	sendUpdate[TaskDoneResult](env, 2*time.Hour+30*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmware)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.ErrorContains(t, wrong.refused, `"mallory" may not approve: the approvers are alice, bob`)
	require.NoError(t, approved.refused)
	require.NoError(t, firmware.refused)
	var st PromotionStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, "alice", st.Approval.By)
	require.Equal(t, ApprovalDone, st.State)
}

// When testing moved on and nobody decides before the window ends, the
// promotion ends there, production untouched; a late proceed is refused.
func TestPromotionDecisionEndsWithTheWindow(t *testing.T) {
	w := &world{production: "r1", testing: "r3"}
	env := newPromotionEnv(t, w)
	var approved, early answer
	sendUpdate[Approval](env, time.Minute, UpdateApproveOutage, window(env, time.Hour, 2*time.Hour), &approved)
	// Accepted only while a decision is awaited and the window is open.
	sendUpdate[ProceedRequest](env, 30*time.Minute, UpdateProceed, ProceedRequest{By: "bob", Proceed: true}, &early)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.NoError(t, approved.refused)
	require.ErrorContains(t, early.refused, "no decision is awaited")
	err := env.GetWorkflowError()
	require.ErrorContains(t, err, "while waiting for a decision; production was not touched")
	require.ErrorContains(t, err, "osflow promote --release r2")
	require.Zero(t, w.calls["Silence"]+w.calls["SwitchChannel"])
	require.Equal(t, "r1", w.production)
}

// Testing is held at the candidate from the promotion's start to its end,
// whatever the end, so that the daily sync leaves it for the window.
func TestPromotionHoldsTestingUntilItEnds(t *testing.T) {
	for name, tc := range map[string]struct {
		decide func(env *testsuite.TestWorkflowEnvironment, got *answer)
		state  string
		// failure is the type of the error the promotion ends with.
		failure string
	}{
		"done": {func(env *testsuite.TestWorkflowEnvironment, got *answer) {
			sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 2*time.Hour, 2*time.Hour), got)
			sendUpdate[TaskDoneResult](env, 2*time.Hour+30*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &answer{})
		}, ApprovalDone, ""},
		"rejected": {func(env *testsuite.TestWorkflowEnvironment, got *answer) {
			sendUpdate[Approval](env, time.Hour, UpdateRejectOutage, RejectRequest{Approver: "bob", Comment: "not now"}, got)
		}, ApprovalRejected, ErrTypePromotionRejected},
	} {
		t.Run(name, func(t *testing.T) {
			w := &world{production: "r1", testing: "r2"}
			env := newPromotionEnv(t, w)
			var held string
			env.RegisterDelayedCallback(func() { held = w.heldBy }, 30*time.Minute)
			var got answer
			tc.decide(env, &got)
			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

			st := promotionEnd(t, env, tc.failure, "")
			require.NoError(t, got.refused)
			require.Contains(t, held, "/hold-testing", "testing is held while the promotion waits")
			require.Empty(t, w.heldBy, "and released at its end")
			require.Equal(t, 2, w.calls["SetFreeze"])
			require.Equal(t, tc.state, st.State)
		})
	}
}

// Testing that serves another release is not held: the window's check
// decides.
func TestPromotionDoesNotHoldAnotherRelease(t *testing.T) {
	w := &world{production: "r1", testing: "r3"}
	env := newPromotionEnv(t, w)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Hour)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	require.Zero(t, w.calls["SetFreeze"])
	st := queryPromotion(t, env)
	require.True(t, hasNote(st, "testing serves r3, not the candidate: it is not held for this promotion"), "%v", st.Comments)
}

// An operator's freeze of testing stays the operator's: the promotion
// neither takes it over nor lets it go.
func TestPromotionLeavesAnOperatorsFreeze(t *testing.T) {
	w := &world{production: "r1", testing: "r2", heldBy: "cli/bob"}
	env := newPromotionEnv(t, w)
	var got answer
	sendUpdate[Approval](env, time.Hour, UpdateRejectOutage, RejectRequest{Approver: "bob", Comment: "not now"}, &got)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	promotionEnd(t, env, ErrTypePromotionRejected, "rejected by bob")
	require.Zero(t, w.calls["SetFreeze"])
	require.Equal(t, "cli/bob", w.heldBy)
}

// Chained bypasses: testing serves r2 with bypass X, then with Y on top.
// The approved promotion of r2 finds its candidate in that chain at the
// window's start and goes ahead without asking for a decision.
func TestPromotionAcceptsTheCandidateAnywhereInTheBypassChain(t *testing.T) {
	w := &world{production: "r1", testing: "r2-x-y", testingBase: "r0", testingChain: []string{"r2-x-y", "r2-x", "r2", "r0"}}
	env := newPromotionEnv(t, w)
	var approved, firmware answer
	sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 2*time.Hour, 2*time.Hour), &approved)
	sendUpdate[TaskDoneResult](env, 2*time.Hour+30*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmware)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	require.NoError(t, env.GetWorkflowError())
	var st PromotionStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, ApprovalDone, st.State)
	for _, s := range st.Steps {
		require.NotEqual(t, PhaseAwaitingDecision, s.Name)
	}
	require.Equal(t, 1, w.calls["SwitchChannel"])
}

// A merge conflict files a ticket and waits; once conflict-resolved comes
// and the merge goes through, the ticket is closed, so that later reports
// do not count it as open.
func TestPromotionClosesAResolvedConflictTicket(t *testing.T) {
	w := &world{production: "r1", testing: "r2", conflicts: map[string]int{"puppet": 1}}
	env := newPromotionEnv(t, w)
	var approved, early, resolved, firmware answer
	sendUpdate[Approval](env, time.Minute, UpdateApproveOutage, window(env, time.Hour, 4*time.Hour), &approved)
	var waiting PromotionStatus
	env.RegisterDelayedCallback(func() { waiting = queryPromotion(t, env) }, time.Hour+5*time.Minute)
	sendUpdate[ConflictResolved](env, 30*time.Minute, UpdateConflictResolved, ConflictResolved{Repo: "puppet", By: "carol"}, &early)
	sendUpdate[ConflictResolved](env, time.Hour+10*time.Minute, UpdateConflictResolved, ConflictResolved{Repo: "puppet", By: "carol"}, &resolved)
	sendUpdate[TaskDoneResult](env, time.Hour+30*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmware)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, approved.refused)
	require.ErrorContains(t, early.refused, `no merge conflict in "puppet" is awaited`)
	require.Contains(t, waiting.WaitingFor, "conflict-resolved for puppet (ticket OSF-9)")
	require.NoError(t, resolved.refused)
	require.NoError(t, firmware.refused)
	require.Equal(t, 1, w.calls["FileTicket merge/puppet/production"])
	require.Equal(t, 2, w.calls["Merge puppet"])
	require.Contains(t, w.closed, "OSF-9", "the conflict ticket is closed")
	require.Equal(t, "Resolved by carol; the merge went through (merge commit c-puppet).", w.closed["OSF-9"])
}

// With no approvers configured, a promotion ends at once saying so,
// rather than waiting for "one of :".
func TestPromotionWithoutApproversEndsAtOnce(t *testing.T) {
	w := &world{production: "r1", testing: "r2", noApprovers: true}
	env := newPromotionEnv(t, w)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	require.ErrorContains(t, env.GetWorkflowError(), "no approvers are configured (production.approvers)")
	require.Zero(t, w.calls["PublishRisk"]+w.calls["SetFreeze"])
}

func hasNote(st PromotionStatus, text string) bool {
	for _, n := range st.Comments {
		if n.Text == text {
			return true
		}
	}
	return false
}
