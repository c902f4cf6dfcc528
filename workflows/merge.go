package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// merger merges a git repo's branch into another for a workflow (a
// promotion, a merge-back): keyed merges, and a conflict filed as a ticket
// that waits for conflict-resolved before merging again.
type merger struct {
	release string
	// waiting is the repo whose conflict is awaited, "" when none is.
	waiting  string
	resolved map[string]string
	// status says what the workflow waits for.
	status func(ctx workflow.Context, what string, commands ...string)
}

// merge merges from into into in repo r with message; what names the
// workflow's purpose in the conflict ticket ("promotion", "merge-back").
func (m *merger) merge(ctx workflow.Context, r activities.GitRepoPlan, from, into, message, what string) (activities.MergeRecord, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var conflict activities.TicketRef // the last conflict's ticket
	for attempt := 1; ; attempt++ {
		var rec activities.MergeRecord
		err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.Merge, activities.MergeInput{
			Repo: r.Name, From: from, Into: into, Message: message,
			Key: runKey(ctx, fmt.Sprintf("merge-%s-%s-%d", r.Name, into, attempt)),
		}).Get(ctx, &rec)
		if err != nil || len(rec.Conflicts) == 0 {
			if err == nil && conflict.ID != "" {
				m.closeConflict(ctx, conflict, r.Name, rec)
			}
			return rec, err
		}
		var t activities.TicketRef
		err = workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.FileTicket, activities.TicketInput{
			Fingerprint: fmt.Sprintf("merge/%s/%s", r.Name, into),
			Title:       fmt.Sprintf("merge conflict %s -> %s in %s (%s of %s)", from, into, r.Name, what, m.release),
			Body: fmt.Sprintf("The %s of release %s (%s) could not merge `%s` into `%s` in %s; conflicting paths:\n\n- %s\n\n"+
				"Merge %s into %s by hand on the remote, then: osflow conflict-resolved %s %s --as NAME\n",
				what, m.release, id, from, into, r.Name, strings.Join(rec.Conflicts, "\n- "), from, into, id, r.Name),
			Key: runKey(ctx, fmt.Sprintf("conflict-%s-%s-%d", r.Name, into, attempt)),
		}).Get(ctx, &t)
		if err != nil {
			return rec, stepError("file the merge conflict", err)
		}
		conflict = t
		m.waiting = r.Name
		delete(m.resolved, r.Name)
		resolve := fmt.Sprintf("osflow conflict-resolved %s %s --as NAME", id, r.Name)
		m.status(ctx, fmt.Sprintf("conflict-resolved for %s (ticket %s): %s", r.Name, t.ID, resolve), resolve)
		err = workflow.Await(ctx, func() bool { return m.resolved[r.Name] != "" })
		m.waiting = ""
		if err != nil {
			return rec, err
		}
	}
}

// closeConflict closes the conflict ticket once the merge it waited for
// got through, so that later reports do not count it as open.
func (m *merger) closeConflict(ctx workflow.Context, t activities.TicketRef, repo string, rec activities.MergeRecord) {
	if workflow.GetVersion(ctx, versionCloseConflictTicket, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	merged := "nothing left to merge"
	if rec.Commit != "" {
		merged = "merge commit " + rec.Commit
	}
	err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.CloseTicket, activities.CloseTicketInput{
		ID: t.ID, Comment: fmt.Sprintf("Resolved by %s; the merge went through (%s).", m.resolved[repo], merged),
	}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not close the conflict ticket", "ticket", t.ID, "error", err)
	}
}

func (m *merger) checkResolved(_ workflow.Context, r ConflictResolved) error {
	if err := singleLine("who", r.By, true); err != nil {
		return err
	}
	if m.waiting == "" || m.waiting != r.Repo {
		return fmt.Errorf("no merge conflict in %q is awaited", r.Repo)
	}
	return nil
}

func (m *merger) resolve(_ workflow.Context, r ConflictResolved) (ConflictResolved, error) {
	m.resolved[r.Repo] = r.By
	return r, nil
}
