package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/workflows"
)

// ApprovalCheck is the audit's verification, again, of the signed
// approval of a promotion's or a bypass's switch against the keys
// configured now.
type ApprovalCheck struct {
	Verified    bool   `json:"verified"`
	By          string `json:"by,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Source is where the signature was read: the switch's record
	// (promotions.log, bypasses.log) or the workflow's history.
	Source string `json:"source,omitempty"`
	// Problem says why the approval does not verify.
	Problem string `json:"problem,omitempty"`
}

// Where a verified signature was read.
const (
	sourcePromotionsLog = "promotions.log"
	sourceBypassesLog   = "bypasses.log"
	sourceHistory       = "workflow history"
)

// VerifyApprovals verifies the signed approval of every promotion switch
// and every approved bypass in entries against production.approvers' keys.
// The signature is read from the switch's record, which outlives the
// workflow; a switch recorded without one (unsigned, or recorded before
// records carried signatures) is looked up in the workflow's history. A
// switch whose approval does not verify, or was not signed, is marked
// WARN; a bypass that needed no approval has nothing to verify.
func VerifyApprovals(ctx context.Context, c client.Client, cfg *config.Config, entries []AuditEntry) error {
	for i := range entries {
		e := &entries[i]
		var err error
		switch {
		case e.Kind == SwitchPromotion && e.Promotion != nil:
			err = verifyPromotionApproval(ctx, c, cfg, e)
		case e.Kind == SwitchBypass && e.Bypass != nil:
			err = verifyBypassApproval(ctx, c, cfg, e)
		}
		if err != nil {
			return err
		}
		if e.Approval != nil && !e.Approval.Verified {
			e.Warn = true
			e.Verdict += "; its approval does not verify: " + e.Approval.Problem
		}
	}
	return nil
}

func verifyPromotionApproval(ctx context.Context, c client.Client, cfg *config.Config, e *AuditEntry) error {
	rec := e.Promotion
	if rec.Signed != nil {
		e.Approval = verifySigned(cfg, *rec.Signed, rec.Approver, sourcePromotionsLog, func(got approvalsig.Statement) approvalsig.Statement {
			return promotionWant(e, got)
		})
		return nil
	}
	reqs, err := approveRequests(ctx, c, rec.Promotion, rec.Run)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		e.Approval = &ApprovalCheck{Problem: fmt.Sprintf("promotions.log has no signature for it and the history of %s is gone (namespace retention): nothing to verify", rec.Promotion)}
	case err != nil:
		return fmt.Errorf("verify the approval of %s: %w", rec.Promotion, err)
	default:
		e.Approval = verifyRequests(cfg, reqs, rec.Approver, func(got approvalsig.Statement) approvalsig.Statement { return promotionWant(e, got) })
	}
	return nil
}

// promotionWant is the statement a promotion switch's approval must make.
// The statement names the candidate; the switch may carry a bypass on top
// of it (e.Base).
func promotionWant(e *AuditEntry, got approvalsig.Statement) approvalsig.Statement {
	rec := e.Promotion
	release := e.Switch.To
	if got.Release == e.Base {
		release = e.Base
	}
	return approvalsig.Statement{Workflow: rec.Promotion, Release: release, Decision: approvalsig.DecisionApprove,
		WindowStart: rec.WindowStart, WindowEnd: rec.WindowEnd, Comment: rec.Comment}
}

// verifyBypassApproval verifies a bypass's approval. Its record keeps the
// overlay and packages, not the approval's comment: the statement's is
// taken as it is (the signature covers it).
func verifyBypassApproval(ctx context.Context, c client.Client, cfg *config.Config, e *AuditEntry) error {
	rec := e.Bypass
	want := func(got approvalsig.Statement) approvalsig.Statement {
		w := approvalsig.Statement{Workflow: rec.Bypass, Overlay: rec.Overlay, Packages: rec.Packages,
			Decision: approvalsig.DecisionApprove, Comment: got.Comment}
		if slices.Equal(sorted(got.Packages), sorted(rec.Packages)) {
			w.Packages = got.Packages // the bypass's order, the same packages
		}
		return w
	}
	if rec.Signed != nil {
		e.Approval = verifySigned(cfg, *rec.Signed, rec.Signed.By, sourceBypassesLog, want)
		return nil
	}
	reqs, err := approveRequests(ctx, c, rec.Bypass, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return nil // history gone, and nothing says the bypass needed an approval
	case err != nil:
		return fmt.Errorf("verify the approval of %s: %w", rec.Bypass, err)
	case len(reqs) == 0:
		return nil // applied without an approval (bypass.requireApproval is off)
	}
	e.Approval = verifyRequests(cfg, reqs, reqs[len(reqs)-1].Approver, want)
	return nil
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

// verifySigned verifies a signed approval read from a switch's record,
// made by approver, whose statement must state want(the statement read).
func verifySigned(cfg *config.Config, s approvalsig.Signed, approver, source string, want func(approvalsig.Statement) approvalsig.Statement) *ApprovalCheck {
	check := &ApprovalCheck{By: s.By, Source: source}
	got, err := approvalsig.Parse(s.Statement)
	if err != nil {
		check.Problem = fmt.Sprintf("%s: %v", source, err)
		return check
	}
	if s.By != approver {
		check.Problem = fmt.Sprintf("%s: the signature is by %q, the approver recorded is %q", source, s.By, approver)
		return check
	}
	v, err := approvalsig.Check(cfg.Production.ApproverKeys, approvalsig.Decision{By: s.By, Statement: s.Statement, Signature: s.Signature},
		want(got), func(string) bool { return false })
	switch {
	case err != nil:
		check.Problem = fmt.Sprintf("%s: %v", source, err)
	case v.Fingerprint != s.Fingerprint:
		check.Problem = fmt.Sprintf("%s: it records key %s, the signature verifies with %s", source, s.Fingerprint, v.Fingerprint)
	default:
		check.Verified, check.Fingerprint = true, v.Fingerprint
	}
	return check
}

// verifyRequests finds, among the approval requests a workflow received,
// the last signed one by approver that verifies.
func verifyRequests(cfg *config.Config, reqs []workflows.ApproveRequest, approver string, want func(approvalsig.Statement) approvalsig.Statement) *ApprovalCheck {
	problem := fmt.Sprintf("%s's approval was not signed", approver)
	for i := len(reqs) - 1; i >= 0; i-- {
		r := reqs[i]
		if r.Approver != approver || r.Signature == "" {
			continue
		}
		got, err := approvalsig.Parse(r.Statement)
		if err != nil {
			problem = err.Error()
			continue
		}
		v, err := approvalsig.Check(cfg.Production.ApproverKeys, approvalsig.Decision{By: r.Approver, Statement: r.Statement, Signature: r.Signature},
			want(got), func(string) bool { return false })
		if err == nil {
			return &ApprovalCheck{Verified: true, By: approver, Fingerprint: v.Fingerprint, Source: sourceHistory}
		}
		problem = err.Error()
	}
	return &ApprovalCheck{By: approver, Problem: problem}
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
