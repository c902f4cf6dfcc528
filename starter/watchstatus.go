package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
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
}

// watchViews reads the watch schedule of every overlay with sources, and
// the result of its last run.
func watchViews(ctx context.Context, c client.Client, cfg *config.Config) []WatchView {
	var out []WatchView
	for _, r := range cfg.Repos {
		if !r.Overlay || len(r.Sources) == 0 {
			continue
		}
		v := WatchView{Overlay: r.Name, Schedule: workflows.OverlayWatchScheduleID(r.Name)}
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
	}
}
