package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// The Web UI's current details are what a manager reads first, so they are
// bounded: the risk page and the status query have the full lists.
const (
	detailsMaxAdvisories = 10
	detailsMaxCommits    = 5
	detailsMaxTickets    = 10
	detailsMaxComments   = 5
)

// setWaiting says what the promotion waits for, in the status and in the
// Web UI's current details, with the commands that act on it. Setting
// the details records no command: no version is needed to change them.
func (p *promotion) setWaiting(ctx workflow.Context, what string, commands ...string) {
	p.st.WaitingFor = what
	p.commands = commands
	p.showDetails(ctx)
}

// approveCommand and rejectCommand are the commands an approver types,
// exactly as the CLI takes them; signed: approvals must be signed
// (production.requireSignedApprovals), which takes --key.
func approveCommand(id string, signed bool) string {
	return fmt.Sprintf("osflow approve %s %s --window-start TIME", id, asApprover(signed))
}

func rejectCommand(id string, signed bool) string {
	return fmt.Sprintf("osflow reject %s %s --comment TEXT", id, asApprover(signed))
}

// asApprover is how a decision names who takes it: with the key that
// signs it when decisions must be signed.
func asApprover(signed bool) string {
	if signed {
		return "--as NAME --key FILE"
	}
	return "--as NAME"
}

// renderPromotionDetails is a promotion's current details as Markdown:
// what release, what it changes on production, what it waits for and the
// exact commands (in code blocks, which Markdown leaves as typed: outside
// one, "--as" renders as an en dash), and who decided when.
func renderPromotionDetails(st PromotionStatus, production string, commands []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Release `%s`: %s\n\n", st.Release, cmp.Or(st.State, ApprovalPending))
	// The commands follow in code blocks; one the text ends with is not
	// repeated, others become code spans.
	waiting := oneLine(st.WaitingFor)
	if len(commands) > 0 {
		waiting = strings.TrimSuffix(waiting, ": "+commands[0])
	}
	for _, c := range commands {
		waiting = strings.ReplaceAll(waiting, c, "`"+c+"`")
	}
	fmt.Fprintf(&b, "**Waiting for:** %s\n\n", waiting)
	for _, c := range commands {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", c)
	}
	renderDecision(&b, st.Approval)
	if st.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", oneLine(st.Error))
	}
	// The Web UI shows the top of the details: what people said comes
	// before the lists.
	renderComments(&b, st.Comments)
	renderChanges(&b, st, production)
	renderTasks(&b, st.Candidate)
	renderTickets(&b, "Open tickets at gate time", st.Candidate.OpenTickets)
	renderTickets(&b, "Production users' tickets", st.Users)
	if len(st.Steps) > 0 {
		b.WriteString("### Outage steps\n\n")
		for _, s := range st.Steps {
			fmt.Fprintf(&b, "- %s: **%s** %s\n", s.Name, s.Status, oneLine(s.Detail))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func renderDecision(b *strings.Builder, a Approval) {
	switch {
	case a.By == "":
		b.WriteString("**Decision:** none yet\n\n")
	case a.WindowStart.IsZero():
		fmt.Fprintf(b, "**Decision:** %s by **%s** at %s: %s\n\n", a.State, a.By, utc(a.At), oneLine(a.Comment))
	default:
		fmt.Fprintf(b, "**Decision:** %s by **%s** at %s, window %s to %s: %s\n\n",
			a.State, a.By, utc(a.At), utc(a.WindowStart), utc(a.WindowEnd), oneLine(a.Comment))
	}
}

// renderChanges lists what the promotion changes on production: the
// packages with their advisories (security first), and the config and
// monitoring merges.
func renderChanges(b *strings.Builder, st PromotionStatus, production string) {
	r := st.Risk
	if r == nil {
		fmt.Fprintf(b, "### Changes on %s\n\nThe risk report is being gathered.\n\n", cmp.Or(production, "production"))
		return
	}
	d := r.Packages.Diff
	fmt.Fprintf(b, "### Changes on %s (`%s` → `%s`)\n\n", cmp.Or(production, "production"), orNothingYet(r.Production), st.Release)
	fmt.Fprintf(b, "- Packages: %d upgraded, %d added, %d removed, %d downgraded, %d rebuilt\n",
		d.Upgraded, d.Added, d.Removed, d.Downgraded, d.Rebuilt)
	advisories := slices.Clone(r.Packages.Advisories)
	slices.SortStableFunc(advisories, func(x, y activities.Advisory) int {
		return cmp.Compare(boolRank(x.Type != "security"), boolRank(y.Type != "security"))
	})
	more := r.Packages.MoreAdvisories
	if len(advisories) > detailsMaxAdvisories {
		more += len(advisories) - detailsMaxAdvisories
		advisories = advisories[:detailsMaxAdvisories]
	}
	for _, a := range advisories {
		fmt.Fprintf(b, "- Advisory **%s** (%s, %s): %s", a.ID, a.Type, cmp.Or(a.Severity, "unrated"), oneLine(a.Title))
		if len(a.CVEs) > 0 {
			fmt.Fprintf(b, " (%s)", strings.Join(a.CVEs, ", "))
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(b, "- and %d more advisories (risk report)\n", more)
	}
	renderStaleRepos(b, r.Packages.Stale)
	for _, g := range append(slices.Clone(r.Config), r.Monitoring...) {
		fmt.Fprintf(b, "- %s change in `%s`: %d commits", cmp.Or(g.Kind, "git"), g.Repo, len(g.Commits))
		if len(g.Conflicts) > 0 {
			fmt.Fprintf(b, ", **conflicts** in %s", strings.Join(g.Conflicts, ", "))
		}
		b.WriteString("\n")
		for i, c := range g.Commits {
			if i == detailsMaxCommits {
				fmt.Fprintf(b, "  - and %d more\n", len(g.Commits)-i)
				break
			}
			fmt.Fprintf(b, "  - %s\n", oneLine(c))
		}
	}
	if st.RiskPage != "" {
		fmt.Fprintf(b, "- Risk report: %s\n", st.RiskPage)
	}
	b.WriteString("\n")
}

// renderTasks lists the outage tasks with their durations rehearsed on
// the test cluster.
func renderTasks(b *strings.Builder, c activities.Candidate) {
	fmt.Fprintf(b, "### Outage tasks (estimated %s)\n\n", c.TotalEstimate.Round(time.Second))
	if len(c.Tasks) == 0 {
		b.WriteString("None.\n\n")
		return
	}
	b.WriteString("| task | expected | rehearsed | by |\n|---|---|---|---|\n")
	for _, t := range c.Tasks {
		by := t.By
		if t.Manual && by == "" {
			by = "manual"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", t.Task, t.Expected, t.Measured.Round(time.Second), by)
	}
	b.WriteString("\n")
}

func renderTickets(b *strings.Builder, title string, tickets []activities.TicketRef) {
	fmt.Fprintf(b, "### %s (%d)\n\n", title, len(tickets))
	for i, t := range tickets {
		if i == detailsMaxTickets {
			fmt.Fprintf(b, "- and %d more\n", len(tickets)-i)
			break
		}
		fmt.Fprintf(b, "- %s %s\n", t.ID, oneLine(t.Title))
	}
	b.WriteString("\n")
}

// renderComments shows the newest comments, users' and osflow's own.
func renderComments(b *strings.Builder, notes []Note) {
	if len(notes) == 0 {
		return
	}
	fmt.Fprintf(b, "### Comments (%d)\n\n", len(notes))
	start := max(0, len(notes)-detailsMaxComments)
	for _, n := range notes[start:] {
		fmt.Fprintf(b, "- **%s** at %s: %s\n", n.By, utc(n.At), oneLine(n.Text))
	}
	b.WriteString("\n")
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// oneLine keeps a text on its line of the details: a newline would end a
// list item or a table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// showDetails renders the current details again after the status changed.
func (p *promotion) showDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, renderPromotionDetails(p.st, p.plan.ProductionChannel, p.commands))
}

// Error types of a promotion that ended without reaching production; the
// error's details carry the PromotionStatus.
const (
	ErrTypePromotionRejected   = "PromotionRejected"
	ErrTypePromotionCanceled   = "PromotionCanceled"
	ErrTypePromotionSuperseded = "PromotionSuperseded"
)

// unsuccessful is the failure a promotion that did not reach production
// ends with (nil for one that did): the Web UI shows a completed workflow
// as a success, so a rejected, canceled or superseded promotion fails,
// naming who decided, when and why. Histories from before
// versionPromotionEndsFailed completed; they replay unchanged.
func (p *promotion) unsuccessful(ctx workflow.Context) error {
	if p.st.State != ApprovalRejected && p.st.State != ApprovalCanceled {
		return nil
	}
	if workflow.GetVersion(ctx, versionPromotionEndsFailed, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	a := p.st.Approval
	typ, msg := ErrTypePromotionCanceled, fmt.Sprintf("canceled: %s", strings.TrimPrefix(p.st.WaitingFor, "nothing: "))
	switch {
	case p.supersededBy != nil || p.st.Phase == PhaseSuperseded:
		typ, msg = ErrTypePromotionSuperseded, fmt.Sprintf("release %s was not promoted: %s", p.st.Release, a.Comment)
	case p.st.State == ApprovalRejected:
		typ, msg = ErrTypePromotionRejected, fmt.Sprintf("release %s was rejected by %s at %s: %s", p.st.Release, a.By, utc(a.At), a.Comment)
	case p.decision != nil && !p.decision.Proceed:
		msg = fmt.Sprintf("release %s was not promoted: %s canceled it at the window's start: %s", p.st.Release, p.decision.By, p.decision.Comment)
	case a.By != "":
		msg = fmt.Sprintf("release %s was not promoted: %s canceled the approved outage at %s: %s", p.st.Release, a.By, utc(a.At), a.Comment)
	}
	return temporal.NewNonRetryableApplicationError(msg, typ, nil, p.st)
}
