package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/internal/approvalsig"
)

// ApproveRequest approves an outage: who, why, and its window. A bypass
// takes no window.
type ApproveRequest struct {
	Approver    string
	Comment     string
	WindowStart time.Time
	WindowEnd   time.Time
	// Statement and Signature prove who approved: the canonical statement
	// (approvalsig.Statement) and its armored SSH signature. Required
	// with production.requireSignedApprovals.
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
}

// RejectRequest rejects an outage (or cancels an approved one before its
// window starts); the comment is required.
type RejectRequest struct {
	Approver  string
	Comment   string
	Statement string `json:",omitempty"`
	Signature string `json:",omitempty"`
}

// Approval is the decision on an outage, as the status shows it.
type Approval struct {
	State       string // ApprovalPending, ApprovalApproved, ApprovalRejected
	By          string
	Comment     string
	At          time.Time
	WindowStart time.Time
	WindowEnd   time.Time
	// Proofs are the signed decisions on this outage, in order: approve,
	// reject, proceed or cancel.
	Proofs []Proof `json:",omitempty"`
}

// windowSlack lets "now" as a window start pass validation: the request
// took a moment to arrive.
const windowSlack = time.Minute

// approval is the approve-outage/reject-outage decision of a promotion or
// a bypass: Updates whose validators refuse a wrong approver, a second
// decision or a bad window before anything enters history, and Signals of
// the same names for tctl, through the same checks.
type approval struct {
	approvers []string
	// window: an approval must give a window start (a promotion); the
	// end defaults to start + defaultWindow().
	window        bool
	defaultWindow func() time.Duration
	// started says whether the window has begun: then nothing can be
	// decided any more.
	started func() bool
	state   *Approval
	refuse  func(ctx workflow.Context, name, by string, err error)
	// decided wakes the owner after a decision.
	decided func()
	// ready, when set, says whether approvers is known yet. Before, a
	// validator checks only the request's form, and the handler waits
	// for it and then checks the approver.
	ready func() bool
	// signing, when set, gives what signed decisions are checked against.
	signing func() signing
}

func (a *approval) register(ctx workflow.Context) error {
	return errors.Join(
		operatorCommand(ctx, UpdateApproveOutage, func(r ApproveRequest) string { return r.Approver }, validator(a.checkApproveSigned), a.approve, a.refuse),
		operatorCommand(ctx, UpdateRejectOutage, func(r RejectRequest) string { return r.Approver }, validator(a.checkRejectSigned), a.reject, a.refuse),
	)
}

func (a *approval) checkApprover(name string) error {
	if err := singleLine("approver", name, true); err != nil {
		return err
	}
	if a.ready != nil && !a.ready() {
		return nil // checked again by the handler, once the approvers are known
	}
	if !slices.Contains(a.approvers, name) {
		if len(a.approvers) == 0 {
			return fmt.Errorf("%q may not approve: no approvers are configured (production.approvers)", name)
		}
		return fmt.Errorf("%q may not approve: the approvers are %s (production.approvers)", name, strings.Join(a.approvers, ", "))
	}
	return nil
}

func (a *approval) checkApprove(ctx workflow.Context, r ApproveRequest) error {
	if err := a.checkApprover(r.Approver); err != nil {
		return err
	}
	if err := singleLine("comment", r.Comment, false); err != nil {
		return err
	}
	if a.state.State != ApprovalPending {
		return fmt.Errorf("already %s by %s at %s", a.state.State, a.state.By, a.state.At.UTC().Format(time.RFC3339))
	}
	if !a.window {
		return nil
	}
	now := workflow.Now(ctx)
	switch {
	case r.WindowStart.IsZero():
		return errors.New("a window start is required (--window-start)")
	case r.WindowStart.Before(now.Add(-windowSlack)):
		return fmt.Errorf("the window start %s is in the past (now %s)", r.WindowStart.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case !r.WindowEnd.IsZero() && !r.WindowEnd.After(r.WindowStart):
		return fmt.Errorf("the window ends (%s) before it starts (%s)", r.WindowEnd.UTC().Format(time.RFC3339), r.WindowStart.UTC().Format(time.RFC3339))
	case r.Signature != "" && r.WindowEnd.IsZero():
		return errors.New("a signed approval states its window end (--window-end)")
	case r.Signature != "" && (r.WindowStart.Nanosecond() != 0 || r.WindowEnd.Nanosecond() != 0):
		return errors.New("a signed window is in whole seconds, as its statement states it")
	}
	return nil
}

func (a *approval) checkApproveSigned(ctx workflow.Context, r ApproveRequest) (*Proof, error) {
	if err := a.checkApprove(ctx, r); err != nil {
		return nil, err
	}
	return a.verify(ctx, signed{decision: approvalsig.DecisionApprove, by: r.Approver, comment: r.Comment,
		start: r.WindowStart, end: r.WindowEnd, statement: r.Statement, signature: r.Signature})
}

// awaitReady waits for the approvers to be known.
func (a *approval) awaitReady(ctx workflow.Context) error {
	if a.ready == nil {
		return nil
	}
	return workflow.Await(ctx, a.ready)
}

func (a *approval) approve(ctx workflow.Context, r ApproveRequest) (Approval, error) {
	if err := a.awaitReady(ctx); err != nil {
		return Approval{}, err
	}
	proof, err := a.checkApproveSigned(ctx, r)
	if err != nil {
		return Approval{}, err
	}
	if a.window && r.WindowEnd.IsZero() {
		r.WindowEnd = r.WindowStart.Add(a.defaultWindow())
	}
	*a.state = Approval{State: ApprovalApproved, By: r.Approver, Comment: r.Comment, At: workflow.Now(ctx),
		WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, Proofs: a.state.Proofs}
	a.record(proof)
	a.decided()
	return *a.state, nil
}

func (a *approval) checkReject(_ workflow.Context, r RejectRequest) error {
	if err := a.checkApprover(r.Approver); err != nil {
		return err
	}
	if err := singleLine("comment", r.Comment, true); err != nil {
		return fmt.Errorf("%w: say why", err)
	}
	switch {
	case a.state.State == ApprovalRejected:
		return fmt.Errorf("already rejected by %s", a.state.By)
	case a.started():
		return errors.New("the outage window has begun: it can no longer be rejected")
	}
	return nil
}

// checkRejectSigned checks a rejection and its signature, whose statement
// names the window approved so far (none while pending).
func (a *approval) checkRejectSigned(ctx workflow.Context, r RejectRequest) (*Proof, error) {
	if err := a.checkReject(ctx, r); err != nil {
		return nil, err
	}
	return a.verify(ctx, signed{decision: approvalsig.DecisionReject, by: r.Approver, comment: r.Comment,
		start: a.state.WindowStart, end: a.state.WindowEnd, statement: r.Statement, signature: r.Signature})
}

func (a *approval) reject(ctx workflow.Context, r RejectRequest) (Approval, error) {
	if err := a.awaitReady(ctx); err != nil {
		return Approval{}, err
	}
	proof, err := a.checkRejectSigned(ctx, r)
	if err != nil {
		return Approval{}, err
	}
	*a.state = Approval{State: ApprovalRejected, By: r.Approver, Comment: r.Comment, At: workflow.Now(ctx), Proofs: a.state.Proofs}
	a.record(proof)
	a.decided()
	return *a.state, nil
}
