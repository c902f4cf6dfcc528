package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
)

// WatchView is an overlay's watch of its vendor sources as `osflow
// status` shows it: its schedule and what the last run did.
type WatchView struct {
	Overlay  string     `json:"overlay"`
	Schedule string     `json:"schedule"`
	Paused   bool       `json:"paused,omitempty"`
	Next     *time.Time `json:"next,omitempty"`
	// LastRun is the workflow ID of the last run the schedule started.
	LastRun string     `json:"lastRun,omitempty"`
	LastAt  *time.Time `json:"lastAt,omitempty"`
	// Outcome says what that run did, in a line: running, no new version,
	// what it added or bypassed, or why it failed.
	Outcome string `json:"outcome"`
	// Held are the builds a bypass was started with that no check offers
	// again, with why they are held.
	Held []HeldView `json:"held,omitempty"`
}

// HeldView is a watched build held by its bypass, as `osflow status`
// shows it.
type HeldView struct {
	NEVRA  string `json:"nevra"`
	Source string `json:"source"`
	Bypass string `json:"bypass"`
	// Why says what became of the bypass: still running, bypass failed,
	// rejected by an approver, or refused by its checks.
	Why string `json:"why"`
	// Retry is the command that offers the build again at the next
	// check; empty while its bypass runs.
	Retry string `json:"retry,omitempty"`
}

// heldViews says why each held build of an overlay is held. A build whose
// bypass completed is on production and not listed.
func heldViews(ctx context.Context, c client.Client, st *repo.Store, overlay string) ([]HeldView, error) {
	log, err := st.SourceLog(overlay)
	if err != nil {
		return nil, err
	}
	held, _ := activities.HeldBuilds(log)
	var out []HeldView
	for _, b := range held {
		why, retry, done := heldBypass(ctx, c, b.Bypass)
		if done {
			continue
		}
		v := HeldView{NEVRA: b.NEVRA, Source: b.Source, Bypass: b.Bypass, Why: why}
		if retry {
			v.Retry = fmt.Sprintf("osflow overlay retry %s %s", overlay, b.NEVRA)
		}
		out = append(out, v)
	}
	return out, nil
}

// heldBypass says what became of a watch's bypass: why its build is
// held, whether it may be retried (the bypass ended without bringing it),
// or done when the bypass completed.
func heldBypass(ctx context.Context, c client.Client, id string) (why string, retry, done bool) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return fmt.Sprintf("bypass %s is not in Temporal (never started, or past its retention)", id), true, false
	case err != nil:
		return fmt.Sprintf("bypass %s: unknown: %s", id, rootCause(err)), false, false
	}
	switch s := desc.GetWorkflowExecutionInfo().GetStatus(); s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return fmt.Sprintf("bypass %s is running: approve or reject it (osflow status shows what it waits for)", id), false, false
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "", false, true
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var app *temporal.ApplicationError
		var bs workflows.BypassStatus
		if !errors.As(err, &app) || !app.HasDetails() || app.Details(&bs) != nil {
			return fmt.Sprintf("bypass %s failed: %s", id, rootCause(err)), true, false
		}
		return heldReason(id, bs), true, false
	default:
		return fmt.Sprintf("bypass %s %s", id, strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))), true, false
	}
}

// heldReason tells a failed bypass's end: an approver rejected it, its
// checks refused the packages (the policy, a package not allowed, a
// downgrade, a bad checksum), or a later step failed.
func heldReason(id string, bs workflows.BypassStatus) string {
	if bs.Approval.State == workflows.ApprovalRejected {
		return fmt.Sprintf("rejected by %s: %s (bypass %s)", bs.Approval.By, bs.Approval.Comment, id)
	}
	for _, s := range bs.Steps {
		if s.Status == "failed" && (s.Name == "read the bypass policy" || s.Name == "check the packages") {
			return fmt.Sprintf("refused: %s (bypass %s)", s.Detail, id)
		}
	}
	return fmt.Sprintf("bypass failed: %s (bypass %s)", bs.Error, id)
}

// watchViews reads the watch schedule of every overlay with sources, and
// the result of its last run.
func watchViews(ctx context.Context, c client.Client, cfg *config.Config, st *repo.Store) []WatchView {
	var out []WatchView
	for _, r := range cfg.Repos {
		if !r.Overlay || len(r.Sources) == 0 {
			continue
		}
		v := WatchView{Overlay: r.Name, Schedule: workflows.OverlayWatchScheduleID(r.Name)}
		held, heldErr := heldViews(ctx, c, st, r.Name)
		v.Held = held
		d, err := c.ScheduleClient().GetHandle(ctx, v.Schedule).Describe(ctx)
		if err != nil {
			v.Outcome = fmt.Sprintf("no schedule (%s): run `osflow schedule apply`", rootCause(err))
			out = append(out, v)
			continue
		}
		v.Paused = d.Schedule.State != nil && d.Schedule.State.Paused
		if len(d.Info.NextActionTimes) > 0 {
			v.Next = &d.Info.NextActionTimes[0]
		}
		v.Outcome = "never run: `temporal schedule trigger --schedule-id " + v.Schedule + "` checks at once"
		if n := len(d.Info.RecentActions); n > 0 {
			last := d.Info.RecentActions[n-1]
			at := last.ActualTime
			v.LastAt = &at
			if run := last.StartWorkflowResult; run != nil {
				v.LastRun = run.WorkflowID
				v.Outcome = watchOutcome(ctx, c, run.WorkflowID, run.FirstExecutionRunID)
			}
		}
		if heldErr != nil {
			v.Outcome += "; held builds unknown: " + heldErr.Error()
		}
		out = append(out, v)
	}
	return out
}

// watchOutcome says in a line what a watch run did, without waiting for
// one that still runs.
func watchOutcome(ctx context.Context, c client.Client, id, runID string) string {
	desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		return "unknown: " + rootCause(err)
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "running"
	}
	var st workflows.OverlayWatchStatus
	if err := c.GetWorkflow(ctx, id, runID).Get(ctx, &st); err != nil {
		return "failed: " + rootCause(err)
	}
	var parts []string
	if len(st.Added) > 0 {
		parts = append(parts, "added "+strings.Join(st.Added, ", ")+" (the next daily sync takes it)")
	}
	if st.Bypass != "" {
		parts = append(parts, "started bypass "+st.Bypass+" with "+strings.Join(st.BypassPackages, ", "))
	}
	if len(parts) == 0 {
		return "no new version"
	}
	return strings.Join(parts, "; ")
}

// rootCause is an error's innermost message, without Temporal's envelopes.
func rootCause(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		return app.Message()
	}
	return err.Error()
}

func printWatches(w io.Writer, watches []WatchView) {
	if len(watches) == 0 {
		return
	}
	fmt.Fprintln(w, "\nWATCHED VENDOR SOURCES")
	for _, v := range watches {
		when := "-"
		if v.LastAt != nil {
			when = v.LastAt.Local().Format("2006-01-02 15:04")
		}
		next := ""
		switch {
		case v.Paused:
			next = "; paused"
		case v.Next != nil:
			next = "; next " + v.Next.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "  %-12s last %s: %s%s\n", v.Overlay, when, v.Outcome, next)
		for _, h := range v.Held {
			fmt.Fprintf(w, "  %-12s held %s: %s\n", "", h.NEVRA, h.Why)
			if h.Retry != "" {
				fmt.Fprintf(w, "  %-12s   offer it again at the next check: %s\n", "", h.Retry)
			}
		}
	}
}
