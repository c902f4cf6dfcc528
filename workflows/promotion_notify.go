package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// A promotion tells people at every turn (versionNotifyTurns): the
// approval with who and which window, the window's start, each outage
// step's result, and every comment, which also goes on the candidate's
// wiki page. Each message is keyed by the run and the turn, so a retried
// activity or a replayed workflow never sends it twice (the notifier's
// journal, integrations/notify).

// notifyState is what the promotion keeps for its notifications.
type notifyState struct {
	// notifyTurns: versionNotifyTurns's behaviour.
	notifyTurns bool
	// comments counts the comments notified, to key each.
	comments int
	// telling counts the comments being notified: a signal's are told in
	// its goroutine, which no handler count covers.
	telling int
}

// notifyTurnsOn reads the version once, before the handlers that use it
// are registered; a run recorded before it notifies as it did.
func (p *promotion) notifyTurnsOn(ctx workflow.Context) {
	p.notifyTurns = workflow.GetVersion(ctx, versionNotifyTurns, workflow.DefaultVersion, 1) == 1
}

// awaitHandlers lets the commands still being handled (a comment being
// told, by an Update or a signal) finish before the promotion ends, which would cut them off. The
// version is asked only when one is in flight, so the histories of every
// other run stay as they were.
func (p *promotion) awaitHandlers(ctx workflow.Context) {
	done := func() bool { return workflow.AllHandlersFinished(ctx) && p.telling == 0 }
	if done() {
		return
	}
	if workflow.GetVersion(ctx, versionPromotionAwaitsHandlers, workflow.DefaultVersion, 1) < 1 {
		return
	}
	// A canceled promotion's handlers are canceled with it: nothing to
	// wait for then.
	_ = workflow.Await(ctx, done)
}

// notifyApproved tells who approved which window.
func (p *promotion) notifyApproved(ctx workflow.Context) {
	if !p.notifyTurns {
		return
	}
	a := p.st.Approval
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	p.notify(ctx, "approved", fmt.Sprintf("osflow: outage of release %s approved by %s for %s", p.st.Release, a.By, windowText(a)),
		fmt.Sprintf("%s approved the outage of release %s (%s): %s\nWindow: %s.\nUntil it starts, %s cancels it.\n%s",
			a.By, p.st.Release, id, orNoComment(a.Comment), windowText(a), rejectCommand(id, p.plan.RequireSigned), p.commentsText()))
}

// notifyWindowStart tells that the window began and the outage starts.
func (p *promotion) notifyWindowStart(ctx workflow.Context) {
	if !p.notifyTurns {
		return
	}
	a := p.st.Approval
	from := ""
	if p.st.Risk != nil {
		from = p.st.Risk.Production
	}
	p.notify(ctx, "window-start", fmt.Sprintf("osflow: outage window of release %s begins", p.st.Release),
		fmt.Sprintf("The outage window %s approved by %s begins: production goes from %s to %s.\nSteps: %s.\nosflow status shows each step as it runs.\n",
			windowText(a), a.By, orNothingYet(from), p.st.Release, strings.Join(p.stepNames(), ", ")))
}

// notifyStep tells the result of the step that just ended.
func (p *promotion) notifyStep(ctx workflow.Context) {
	if !p.notifyTurns || len(p.st.Steps) == 0 {
		return
	}
	n := len(p.st.Steps)
	s := p.st.Steps[n-1]
	p.notify(ctx, fmt.Sprintf("step-%d", n), fmt.Sprintf("osflow: outage of %s: %s %s", p.st.Release, s.Name, s.Status),
		fmt.Sprintf("Step %d, %s: %s at %s after %s: %s\n", n, s.Name, s.Status, s.Ended.UTC().Format(time.RFC3339),
			s.Ended.Sub(s.Started).Round(time.Second), s.Detail))
}

// notifyComment tells a comment and puts it on the candidate's page.
// Comments are numbered in the order they arrive, which is history's.
func (p *promotion) notifyComment(ctx workflow.Context, n Note) {
	if !p.notifyTurns {
		return
	}
	p.comments++
	k := p.comments
	p.telling++
	defer func() { p.telling-- }()
	if p.st.Risk != nil {
		var pub activities.Published
		err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.PublishCandidatePage, p.riskInput(ctx, fmt.Sprintf("comment-%d", k))).Get(ctx, &pub)
		if err != nil {
			p.note(ctx, "could not put the comment on the wiki page: "+rootMessage(err))
		}
	}
	p.notify(ctx, fmt.Sprintf("comment-%d", k), fmt.Sprintf("osflow: %s commented on the promotion of %s", n.By, p.st.Release),
		fmt.Sprintf("%s at %s:\n\n%s\n\n%s\n", n.By, n.At.UTC().Format(time.RFC3339), n.Text, p.pageLine()))
}

// riskInput is the risk report's page and message with the comments so
// far; key names the turn that publishes it.
func (p *promotion) riskInput(ctx workflow.Context, key string) activities.PublishRiskInput {
	in := activities.PublishRiskInput{
		Candidate: p.st.Candidate, Promotion: workflow.GetInfo(ctx).WorkflowExecution.ID, Key: runKey(ctx, key),
	}
	if p.st.Risk != nil {
		in.Risk = *p.st.Risk
	}
	for _, c := range p.st.Comments {
		if c.By != "osflow" {
			in.Comments = append(in.Comments, activities.Comment{By: c.By, Text: c.Text, At: c.At})
		}
	}
	return in
}

// commentsText lists the people's comments for a message.
func (p *promotion) commentsText() string {
	var b strings.Builder
	for _, c := range p.st.Comments {
		if c.By == "osflow" {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nComments:\n")
		}
		fmt.Fprintf(&b, "- %s (%s): %s\n", c.By, c.At.UTC().Format(time.RFC3339), firstLine(c.Text))
	}
	return b.String()
}

func (p *promotion) pageLine() string {
	if p.st.RiskPage == "" {
		return ""
	}
	return "Candidate page: " + p.st.RiskPage
}

// stepNames are the outage's steps in the order they run.
func (p *promotion) stepNames() []string {
	names := []string{"silence monitoring", "backup", "switch production"}
	for _, r := range p.plan.Repos {
		names = append(names, "merge "+r.Name)
	}
	for _, t := range p.plan.Tasks {
		names = append(names, "task "+t.Name)
	}
	return append(names, "verify production")
}

func windowText(a Approval) string {
	return fmt.Sprintf("%s to %s", a.WindowStart.UTC().Format("2006-01-02 15:04 UTC"), a.WindowEnd.UTC().Format("2006-01-02 15:04 UTC"))
}

func orNoComment(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(no comment)"
	}
	return s
}

// notifyMergeBack tells how the merge of production's hotfixes back to
// test ended: each repo's merge, or the error that stopped it.
func notifyMergeBack(ctx workflow.Context, on bool, st MergeBackStatus, cause error) {
	if !on {
		return
	}
	var b strings.Builder
	for _, m := range st.Merges {
		fmt.Fprintf(&b, "- %s into %s: %s\n", m.Repo, m.Into, m.Outcome())
	}
	subject := fmt.Sprintf("osflow: hotfixes of release %s merged back to test", st.Release)
	if cause != nil {
		subject = fmt.Sprintf("osflow: merge-back of release %s FAILED", st.Release)
		fmt.Fprintf(&b, "Stopped: %s\n", rootMessage(cause))
	}
	err := workflow.ExecuteActivity(shortActivityCtx(ctx), promotionActs.Notify, activities.NotifyInput{
		Key: runKey(ctx, "notify-merge-back"), Subject: subject, Text: b.String(),
	}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("could not notify the merge-back's result", "error", err)
	}
}
