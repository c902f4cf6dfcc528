package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// The Web UI's current details of the test cycle and the daily sync, in
// Markdown; set at each change of phase. Setting them records no command.

// showCycleDetails renders the test cycle's current details.
func (c *testCycle) showCycleDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, renderCycleDetails(c.state))
}

func renderCycleDetails(st TestCycleState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Test cycle: %s\n\n", st.Phase)
	fmt.Fprintf(&b, "- Testing serves `%s`; %d rounds run, clean streak %d\n", orNothingYet(st.Current), st.RoundsRun, st.CleanStreak)
	fmt.Fprintf(&b, "- Open tickets: %d (%d blockers)\n", st.OpenTickets, st.Blockers)
	if st.Frozen {
		fmt.Fprintf(&b, "- Testing is **frozen** by %s: %s\n", st.FrozenBy, oneLine(st.FrozenReason))
	}
	if len(st.Gate.Reasons) > 0 {
		fmt.Fprintf(&b, "- Gate: %s\n", oneLine(strings.Join(st.Gate.Reasons, "; ")))
	}
	if st.Promoted != "" {
		fmt.Fprintf(&b, "- Candidate `%s`: its promotion is `%s`\n", st.Promoted, PromotionWorkflowID(st.Promoted))
	}
	if st.LastError != "" {
		fmt.Fprintf(&b, "- **Last error:** %s\n", oneLine(st.LastError))
	}
	if st.WaitingFor != "" {
		fmt.Fprintf(&b, "\n**Waiting for** the rehearsal's manual task %s:\n\n```\nosflow task-done %s --as NAME\n```\n", st.WaitingFor, st.WaitingFor)
	}
	return b.String()
}

// showSyncDetails renders the daily sync's current details.
func (d *dailySync) showSyncDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, renderSyncDetails(d.status))
}

func renderSyncDetails(st DailySyncStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Daily sync: %s\n\n", st.Phase)
	if st.Release != "" {
		fmt.Fprintf(&b, "- Release `%s`", st.Release)
		if !st.Created {
			b.WriteString(" (already in the store)")
		}
		b.WriteString("\n")
	}
	for _, r := range st.Repos {
		changed := "unchanged"
		if r.Changed {
			changed = fmt.Sprintf("changed, %d files downloaded", r.Downloaded)
		}
		fmt.Fprintf(&b, "- Repo %s: snapshot `%s`, %d packages, %s\n", r.Repo, r.Snapshot, r.Packages, changed)
	}
	// A repo that failed and is carried over is no less part of the
	// release than one that synced.
	renderStaleRepos(&b, st.Stale)
	for _, sw := range st.Switches {
		switch {
		case sw.Frozen:
			fmt.Fprintf(&b, "- %s is frozen: it stays at `%s`\n", sw.Channel, orNothingYet(sw.From))
		case sw.Changed:
			fmt.Fprintf(&b, "- %s: `%s` → `%s`\n", sw.Channel, orNothingYet(sw.From), sw.To)
		}
	}
	if st.Error != "" {
		fmt.Fprintf(&b, "- **Error:** %s\n", oneLine(st.Error))
	}
	return b.String()
}

// renderStaleRepos lists the repos a release carries over from an
// earlier one because they failed to sync.
func renderStaleRepos(b *strings.Builder, stale []activities.StaleRepo) {
	for _, s := range stale {
		fmt.Fprintf(b, "- Repo %s is **stale**: it keeps snapshot `%s`, failing to sync since %s: %s\n",
			s.Repo, s.Snapshot, utc(s.Since), oneLine(s.Cause))
	}
}

// showBypassDetails renders a bypass's current details.
func (b *bypass) showBypassDetails(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, renderBypassDetails(b.st, workflow.GetInfo(ctx).WorkflowExecution.ID, b.plan.Approvers, b.plan.RequireSigned))
}

func renderBypassDetails(st BypassStatus, id string, approvers []string, signed bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Bypass into overlay `%s`: %s\n\n- Asked for by %s: %s\n", st.Overlay, st.Phase, st.Actor, oneLine(st.Reason))
	for _, p := range st.Packages {
		fmt.Fprintf(&b, "- Package `%s`\n", p.NEVRA)
	}
	for _, sw := range st.Switches {
		fmt.Fprintf(&b, "- %s: `%s` → `%s`\n", sw.Channel, orNothingYet(sw.From), sw.To)
	}
	if a := st.Approval; a.By != "" {
		fmt.Fprintf(&b, "- **Decision:** %s by **%s** at %s: %s\n", a.State, a.By, utc(a.At), oneLine(a.Comment))
	}
	if st.Error != "" {
		fmt.Fprintf(&b, "- **Error:** %s\n", oneLine(st.Error))
	}
	if st.Phase == PhaseAwaitingApproval {
		fmt.Fprintf(&b, "\n**Waiting for** approval by one of %s:\n\n```\nosflow approve %s %s\n```\n\n```\n%s\n```\n",
			strings.Join(approvers, ", "), id, asApprover(signed), rejectCommand(id, signed))
	}
	return b.String()
}
