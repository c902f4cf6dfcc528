package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/internal/approvalsig"
)

// registerCommands sets up a promotion's operator commands besides the
// approval: Updates whose validators refuse what does not fit the
// promotion's state, and Signals of the same names through the same
// checks.
func (p *promotion) registerCommands(ctx workflow.Context) error {
	// Signed decisions are checked against the plan, read lazily: an
	// approval may arrive before it is loaded (approval.ready).
	p.appr.signing = func() signing {
		return signing{keys: p.plan.ApproverKeys, required: p.plan.RequireSigned, release: p.st.Release}
	}
	return errors.Join(
		operatorCommand(ctx, UpdateComment, func(r CommentRequest) string { return r.By }, p.checkComment, p.comment, p.refuse),
		operatorCommand(ctx, UpdateOutageIssue, func(r OutageIssueRequest) string { return r.By }, p.checkOutageIssue, p.outageIssue, p.refuse),
		operatorCommand(ctx, UpdateEndOutage, func(r EndOutageRequest) string { return r.By }, p.checkEndOutage, p.endOutage, p.refuse),
		operatorCommand(ctx, UpdateProceed, func(r ProceedRequest) string { return r.By }, validator(p.checkProceedSigned), p.proceed, p.refuse),
		operatorCommand(ctx, UpdateConflictResolved, func(r ConflictResolved) string { return r.By }, p.merger.checkResolved, p.merger.resolve, p.refuse),
		operatorCommand(ctx, UpdateTaskDone, func(r TaskDone) string { return r.By }, p.checkTaskDone, p.taskDoneBy, p.refuse),
	)
}

func (p *promotion) checkComment(_ workflow.Context, r CommentRequest) error {
	if err := singleLine("who", r.By, true); err != nil {
		return err
	}
	if strings.TrimSpace(r.Text) == "" {
		return errors.New("the comment is empty")
	}
	if len(r.Text) > maxCommentLen {
		return fmt.Errorf("the comment is longer than %d characters: put it in a ticket and link it", maxCommentLen)
	}
	return nil
}

func (p *promotion) comment(ctx workflow.Context, r CommentRequest) (Note, error) {
	n := Note{By: r.By, Text: r.Text, At: workflow.Now(ctx)}
	p.addNote(n)
	p.showDetails(ctx)
	p.notifyComment(ctx, n)
	return n, nil
}

func (p *promotion) checkOutageIssue(ctx workflow.Context, r OutageIssueRequest) error {
	if err := p.checkComment(ctx, CommentRequest(r)); err != nil {
		return err
	}
	if !p.windowOpen {
		return fmt.Errorf("the outage has not begun (the promotion is %s); add a note with osflow comment", p.st.State)
	}
	return nil
}

// outageIssue files a ticket for a problem met during the outage, linked
// to the promotion and carried into the next cycle with the open tickets.
func (p *promotion) outageIssue(ctx workflow.Context, r OutageIssueRequest) (activities.TicketRef, error) {
	p.issues++
	n := p.issues
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var t activities.TicketRef
	err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.FileTicket, activities.TicketInput{
		Fingerprint: fmt.Sprintf("outage/%s/issue-%d", p.st.Release, n),
		Title:       fmt.Sprintf("outage of %s: %s", p.st.Release, firstLine(r.Text)),
		Body:        fmt.Sprintf("Met during the outage of release %s (promotion %s), reported by %s:\n\n%s\n", p.st.Release, id, r.By, r.Text),
		Key:         fmt.Sprintf("%s/update/%s", id, workflow.GetCurrentUpdateInfo(ctx).ID),
	}).Get(ctx, &t)
	if err != nil {
		return t, stepError("file the outage issue", err)
	}
	p.st.Issues = append(p.st.Issues, t)
	return t, nil
}

func (p *promotion) checkEndOutage(_ workflow.Context, r EndOutageRequest) error {
	if err := singleLine("who", r.By, true); err != nil {
		return err
	}
	if p.st.State != ApprovalRolledBack || p.outageEnded {
		return fmt.Errorf("nothing to end: the promotion is %s (%s)", p.st.State, p.st.Phase)
	}
	return nil
}

func (p *promotion) endOutage(ctx workflow.Context, r EndOutageRequest) (string, error) {
	p.outageEnded = true
	p.addNote(Note{By: r.By, Text: "ended the outage", At: workflow.Now(ctx)})
	return "silences end now", nil
}

func (p *promotion) checkProceed(ctx workflow.Context, r ProceedRequest) error {
	if err := p.appr.checkApprover(r.By); err != nil {
		return err
	}
	if p.st.Phase != PhaseAwaitingDecision || p.decision != nil {
		return fmt.Errorf("no decision is awaited (the promotion is %s)", p.st.Phase)
	}
	if end := p.st.Approval.WindowEnd; p.trueState && !workflow.Now(ctx).Before(end) {
		return fmt.Errorf("the window ended at %s: the outage can no longer begin; start a new promotion: osflow promote --release %s",
			end.UTC().Format(time.RFC3339), p.st.Release)
	}
	return nil
}

// checkProceedSigned checks a proceed (or cancel) and its signature, whose
// statement names the approved window.
func (p *promotion) checkProceedSigned(ctx workflow.Context, r ProceedRequest) (*Proof, error) {
	if err := p.checkProceed(ctx, r); err != nil {
		return nil, err
	}
	return p.proceedProof(ctx, r)
}

// proceedProof verifies a proceed's signature.
func (p *promotion) proceedProof(ctx workflow.Context, r ProceedRequest) (*Proof, error) {
	decision := approvalsig.DecisionProceed
	if !r.Proceed {
		decision = approvalsig.DecisionCancel
	}
	a := p.st.Approval
	return p.appr.verify(ctx, signed{decision: decision, by: r.By, comment: r.Comment,
		start: a.WindowStart, end: a.WindowEnd, statement: r.Statement, signature: r.Signature})
}

func (p *promotion) proceed(ctx workflow.Context, r ProceedRequest) (ProceedRequest, error) {
	// The validator accepted it against this state; the proof is recorded
	// with the approval.
	proof, err := p.proceedProof(ctx, r)
	if err != nil {
		return r, err
	}
	p.appr.record(proof)
	p.decision = &r
	return r, nil
}

func (p *promotion) checkTaskDone(_ workflow.Context, d TaskDone) error {
	if err := singleLine("who (--as)", d.By, true); err != nil {
		return err
	}
	if !slices.ContainsFunc(p.plan.Tasks, func(t activities.TaskPlan) bool { return t.Name == d.Task && t.Manual }) {
		return fmt.Errorf("%q is not a manual outage task", d.Task)
	}
	if !strings.HasPrefix(p.st.WaitingFor, "manual task "+d.Task+":") {
		return fmt.Errorf("the outage is not waiting for task %q (waiting for %s)", d.Task, p.st.WaitingFor)
	}
	return nil
}

func (p *promotion) taskDoneBy(_ workflow.Context, d TaskDone) (TaskDoneResult, error) {
	p.taskDone[d.Task] = d.By
	return TaskDoneResult{Task: d.Task, By: d.By, Release: p.st.Release}, nil
}
