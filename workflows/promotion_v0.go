package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// promotionV0Status is the status query's answer of promotionV0, as the
// placeholder promotion answered it.
type promotionV0Status struct {
	Candidate activities.Candidate
	Approval  string
	Decision  *Decision
	Phase     string
}

// promotionV0 is Promotion as it was before version 1 of
// versionPromotionOutage: a placeholder that showed the candidate and
// recorded an approve-outage or reject-outage signal. Runs it started
// replay and end on it; a candidate approved there is promoted again with
// `osflow promote --release R`. Do not change it; delete it once no site
// can have such a run (see README, "Upgrading osflow").
func promotionV0(ctx workflow.Context, in PromotionInput) (PromotionStatus, error) {
	st := promotionV0Status{Candidate: in.Candidate, Approval: ApprovalPending, Phase: PhaseAwaitingApproval}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (promotionV0Status, error) { return st, nil }); err != nil {
		return PromotionStatus{}, err
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
	out := PromotionStatus{Release: in.Candidate.Release, Candidate: in.Candidate, State: st.Approval, Phase: st.Phase,
		Approval: Approval{State: st.Approval}}
	if st.Decision != nil {
		out.Approval.By, out.Approval.Comment = st.Decision.By, st.Decision.Comment
	}
	return out, nil
}
