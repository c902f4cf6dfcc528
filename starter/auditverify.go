package starter

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/workflows"
)

// ApprovalCheck is the audit's verification, again, of a promotion's
// signed approval against the keys configured now.
type ApprovalCheck struct {
	Verified    bool   `json:"verified"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Problem says why the approval does not verify.
	Problem string `json:"problem,omitempty"`
}

// VerifyApprovals verifies the signed approval of every promotion switch
// in entries against production.approvers' keys, reading the approval
// from the promotion's history (the provenance log records the approver,
// not the signature). A switch whose approval does not verify, or was
// not signed, is marked WARN.
func VerifyApprovals(ctx context.Context, c client.Client, cfg *config.Config, entries []AuditEntry) error {
	for i := range entries {
		e := &entries[i]
		if e.Kind != SwitchPromotion || e.Promotion == nil {
			continue
		}
		reqs, err := approveRequests(ctx, c, e.Promotion.Promotion, e.Promotion.Run)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			e.Approval = &ApprovalCheck{Problem: fmt.Sprintf("the history of %s is gone (namespace retention): nothing to verify", e.Promotion.Promotion)}
		case err != nil:
			return fmt.Errorf("verify the approval of %s: %w", e.Promotion.Promotion, err)
		default:
			e.Approval = verifyApproval(cfg, e, reqs)
		}
		if !e.Approval.Verified {
			e.Warn = true
			e.Verdict += "; its approval does not verify: " + e.Approval.Problem
		}
	}
	return nil
}

// verifyApproval finds, among the approval requests a promotion received,
// the signed one its record names, and verifies it.
func verifyApproval(cfg *config.Config, e *AuditEntry, reqs []workflows.ApproveRequest) *ApprovalCheck {
	rec := e.Promotion
	problem := fmt.Sprintf("%s's approval was not signed", rec.Approver)
	for i := len(reqs) - 1; i >= 0; i-- {
		r := reqs[i]
		if r.Approver != rec.Approver || r.Signature == "" {
			continue
		}
		// The statement names the candidate; the switch may carry a
		// bypass on top of it (e.Base).
		release := e.Switch.To
		if s, err := approvalsig.Parse(r.Statement); err == nil && s.Release == e.Base {
			release = e.Base
		}
		want := approvalsig.Statement{Workflow: rec.Promotion, Release: release, Decision: approvalsig.DecisionApprove,
			WindowStart: rec.WindowStart, WindowEnd: rec.WindowEnd, Comment: rec.Comment}
		v, err := approvalsig.Check(cfg.Production.ApproverKeys, approvalsig.Decision{By: r.Approver, Statement: r.Statement, Signature: r.Signature},
			want, func(string) bool { return false })
		if err == nil {
			return &ApprovalCheck{Verified: true, Fingerprint: v.Fingerprint}
		}
		problem = err.Error()
	}
	return &ApprovalCheck{Problem: problem}
}

// approveRequests are the approve-outage requests in a run's history,
// as Updates accepted or as signals, in order.
func approveRequests(ctx context.Context, c client.Client, id, run string) ([]workflows.ApproveRequest, error) {
	dc := converter.GetDefaultDataConverter()
	var out []workflows.ApproveRequest
	it := c.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		var in *commonpb.Payloads
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			if u := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput(); u.GetName() == workflows.UpdateApproveOutage {
				in = u.GetArgs()
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if s := ev.GetWorkflowExecutionSignaledEventAttributes(); s.GetSignalName() == workflows.SignalApproveOutage {
				in = s.GetInput()
			}
		}
		if in == nil {
			continue
		}
		var r workflows.ApproveRequest
		if err := dc.FromPayloads(in, &r); err != nil {
			return nil, fmt.Errorf("history of %s: an approval that does not decode: %w", id, err)
		}
		out = append(out, r)
	}
	return out, nil
}
