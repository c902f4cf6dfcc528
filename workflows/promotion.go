package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// Approval states, as OsflowApproval shows them.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// PhaseAwaitingApproval is a promotion waiting for its approver.
const PhaseAwaitingApproval = "awaiting-approval"

// PromotionInput is the candidate a promotion takes to production.
type PromotionInput struct {
	Release   string
	Candidate activities.Candidate
}

// PromotionStatus answers the promotion's status query.
type PromotionStatus struct {
	Candidate activities.Candidate
	Approval  string
	Decision  *Decision
	Phase     string
}

// Promotion is the production phase of one candidate. This first version
// records the candidate, shows it as awaiting approval in the Web UI and
// records the approver's decision; the outage itself (silence, backup,
// switch, merges, tasks) builds on it.
func Promotion(ctx workflow.Context, in PromotionInput) (PromotionStatus, error) {
	st := PromotionStatus{Candidate: in.Candidate, Approval: ApprovalPending, Phase: PhaseAwaitingApproval}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PromotionStatus, error) { return st, nil }); err != nil {
		return st, err
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		AttrPhase.ValueSet(st.Phase), AttrRelease.ValueSet(in.Candidate.Release), AttrApproval.ValueSet(st.Approval))

	approve := workflow.GetSignalChannel(ctx, SignalApproveOutage)
	reject := workflow.GetSignalChannel(ctx, SignalRejectOutage)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(approve, func(ch workflow.ReceiveChannel, _ bool) {
		var d Decision
		ch.Receive(ctx, &d)
		st.Approval, st.Decision = ApprovalApproved, &d
	})
	sel.AddReceive(reject, func(ch workflow.ReceiveChannel, _ bool) {
		var d Decision
		ch.Receive(ctx, &d)
		st.Approval, st.Decision = ApprovalRejected, &d
	})
	sel.Select(ctx)
	st.Phase = st.Approval
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(st.Phase), AttrApproval.ValueSet(st.Approval))
	return st, nil
}
