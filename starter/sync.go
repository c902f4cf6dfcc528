package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

// ManualSyncWorkflowID is the ID of a DailySync started by `osflow sync`.
// One ID means a second `osflow sync` attaches to a running one instead of
// racing it for the channels.
const ManualSyncWorkflowID = workflows.DailySyncManualPrefix + "sync"

func (a *app) syncCommand() *cobra.Command {
	var (
		wait       bool
		reason     string
		allowOlder []string
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run DailySync now: mirror every repo, release, switch daily and testing",
		Long: `Starts DailySync now. If a manual sync is already running, attaches to it.
With --wait, shows progress until it ends and exits 1 if it failed.

--allow-older REPO accepts, for this sync, an upstream repomd.xml of REPO
that is older than the one osflow last accepted (or than repos[].maxAge),
which is otherwise refused as a replayed or frozen mirror. The acceptance
is recorded in STORE/snapshots/REPO.accepted.log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(allowOlder) > 0 {
				cfg, err := a.loadConfig()
				if err != nil {
					return err
				}
				for _, name := range allowOlder {
					if _, ok := cfg.Repo(name); !ok {
						return UsageError{fmt.Errorf("--allow-older %s: no such repo in %s", name, cfg.Path)}
					}
				}
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				// Without --wait a sync may well start before its worker does.
				if wait {
					if err := needWorker(ctx, c, cfg, "osflow sync --wait", mainWorkflows(cfg), repoActivities(cfg)); err != nil {
						return err
					}
				}
				run, err := StartSyncInput(ctx, c, cfg, workflows.DailySyncInput{Actor: "cli/" + actor(), Reason: reason, AllowOlder: allowOlder})
				if err != nil {
					return err
				}
				if !wait {
					if a.jsonOut {
						return printJSON(a.stdout, map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
					}
					_, err := fmt.Fprintf(a.stdout, "started DailySync %s (run %s)\nfollow it with `osflow sync --wait` or in the Web UI\n", run.GetID(), run.GetRunID())
					return err
				}
				st, err := WaitSync(ctx, c, run, a.progressPrinter())
				if a.jsonOut {
					if perr := printJSON(a.stdout, event{Time: time.Now().UTC(), Event: "done", Data: st}); perr != nil {
						return perr
					}
				} else {
					printSyncSummary(a.stdout, st)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the sync to finish, showing progress")
	cmd.Flags().StringVar(&reason, "reason", "manual sync", "reason recorded in the channel audit log")
	cmd.Flags().StringArrayVar(&allowOlder, "allow-older", nil, "accept an older upstream repomd.xml of this repo (repeatable)")
	return cmd
}

// StartSync starts DailySync on the main task queue, or returns the manual
// sync already running.
func StartSync(ctx context.Context, c client.Client, cfg *config.Config, who, reason string) (client.WorkflowRun, error) {
	return StartSyncInput(ctx, c, cfg, workflows.DailySyncInput{Actor: "cli/" + who, Reason: reason})
}

// StartSyncInput is StartSync with the whole input of DailySync.
func StartSyncInput(ctx context.Context, c client.Client, cfg *config.Config, in workflows.DailySyncInput) (client.WorkflowRun, error) {
	md := workflows.DailySyncMetadata(in.Actor)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		StaticSummary:            md.Summary,
		StaticDetails:            md.Details,
		ID:                       ManualSyncWorkflowID,
		TaskQueue:                cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.DailySync, in)
	if err != nil {
		return nil, fmt.Errorf("start DailySync: %w", err)
	}
	return run, nil
}

// WaitSync waits for a running DailySync to end and returns its final
// status. Meanwhile it reads the run's progress every progressEvery and
// hands each change to report. The reading runs beside the wait, not in
// turn with it, so that a progress read still in flight never delays the
// result (on a loaded server one takes tens of milliseconds).
func WaitSync(ctx context.Context, c client.Client, run client.WorkflowRun, report func(activities.SyncProgress)) (workflows.DailySyncStatus, error) {
	pctx, stop := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		followProgress(pctx, c, run, report)
	}()
	var st workflows.DailySyncStatus
	err := run.Get(ctx, &st)
	stop()
	<-followed // no progress is reported after WaitSync returns
	switch {
	case ctx.Err() != nil:
		return st, ctx.Err()
	case err != nil:
		return failedSync(run.GetID(), st, err)
	}
	return st, nil
}

// progressEvery is how often WaitSync reads a run's progress.
const progressEvery = 500 * time.Millisecond

// followProgress reports each change of a run's progress until ctx ends.
func followProgress(ctx context.Context, c client.Client, run client.WorkflowRun, report func(activities.SyncProgress)) {
	seen := map[string]activities.SyncProgress{}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, p := range pendingProgress(ctx, c, run) {
				if seen[p.Repo] != p {
					seen[p.Repo] = p
					report(p)
				}
			}
		}
	}
}

// failedSync explains a failed DailySync from the status its error
// carries: the root cause once, and which channels it moved before it
// failed (so "nothing changed" is said only when true).
func failedSync(id string, st workflows.DailySyncStatus, err error) (workflows.DailySyncStatus, error) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == workflows.ErrTypeSyncFailed {
		_ = app.Details(&st)
	}
	if st.Phase == "" {
		st.Phase = workflows.PhaseFailed
	}
	cause := st.Error
	if cause == "" {
		cause = err.Error()
		st.Error = cause
	}
	var moved []string
	for _, sw := range st.Switches {
		if sw.Changed {
			moved = append(moved, fmt.Sprintf("%s %s -> %s", sw.Channel, orNone(sw.From), sw.To))
		}
	}
	next := "no channel was changed; fix the cause and run `osflow sync --wait` again"
	if len(moved) > 0 {
		next = "it had already switched " + strings.Join(moved, ", ") + "; see `osflow status`, then run `osflow sync --wait` again"
	}
	return st, fmt.Errorf("DailySync %s failed: %s\n%s", id, cause, next)
}

// pendingProgress reads the heartbeat details of a run's pending activities.
// Errors are ignored: progress is a courtesy, the result is what counts.
func pendingProgress(ctx context.Context, c client.Client, run client.WorkflowRun) []activities.SyncProgress {
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		return nil
	}
	dc := converter.GetDefaultDataConverter()
	var out []activities.SyncProgress
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetHeartbeatDetails() == nil {
			continue
		}
		var p activities.SyncProgress
		if err := dc.FromPayloads(pa.GetHeartbeatDetails(), &p); err == nil && p.Repo != "" {
			out = append(out, p)
		}
	}
	return out
}

func (a *app) progressPrinter() func(activities.SyncProgress) {
	return func(p activities.SyncProgress) {
		if a.jsonOut {
			_ = printJSON(a.stdout, event{Time: time.Now().UTC(), Event: "progress", Data: p})
			return
		}
		line := fmt.Sprintf("%-12s %-10s", p.Repo, p.Stage)
		if p.FilesTotal > 0 {
			line += fmt.Sprintf(" %d/%d files", p.FilesDone, p.FilesTotal)
		}
		if p.BytesTotal > 0 {
			line += fmt.Sprintf(" %s/%s", humanBytes(p.BytesDone), humanBytes(p.BytesTotal))
		}
		fmt.Fprintln(a.stderr, line)
	}
}

func printSyncSummary(w io.Writer, st workflows.DailySyncStatus) {
	for _, r := range st.Repos {
		state := "unchanged"
		if r.Changed {
			state = fmt.Sprintf("new snapshot, %d files (%s) downloaded", r.Downloaded, humanBytes(r.DownloadedBytes))
		}
		fmt.Fprintf(w, "%-12s snapshot %s, %d packages: %s\n", r.Repo, r.Snapshot, r.Packages, state)
		printMirror(w, r)
	}
	for _, s := range st.Stale {
		ticket := ""
		if id := st.Tickets[s.Repo]; id != "" {
			ticket = ", ticket " + id
		}
		fmt.Fprintf(w, "%-12s STALE: failed to sync (%s); keeps snapshot %s, failing since %s%s\n", s.Repo,
			activities.FirstLine(s.Cause), s.Snapshot, s.Since.Local().Format("2006-01-02 15:04"), ticket)
	}
	if st.TicketError != "" {
		fmt.Fprintf(w, "stale repo tickets not filed: %s\n", st.TicketError)
	}
	if st.Release != "" {
		fmt.Fprintf(w, "release %s\n", st.Release)
	}
	for _, s := range st.Switches {
		if s.Changed {
			fmt.Fprintf(w, "channel %s: %s -> %s\n", s.Channel, orNone(s.From), s.To)
		} else {
			fmt.Fprintf(w, "channel %s: unchanged at %s\n", s.Channel, s.To)
		}
	}
	if st.Phase == workflows.PhaseDone {
		fmt.Fprintln(w, "next: the test cycle runs on the new testing release; see `osflow status`")
	}
}

// printMirror says which of a repo's mirrors was read, and which were
// refused and why.
func printMirror(w io.Writer, r activities.RepoSync) {
	if r.Mirror != "" {
		fmt.Fprintf(w, "%-12s read from %s\n", "", r.Mirror)
	}
	for _, m := range r.Refused {
		fmt.Fprintf(w, "%-12s refused %s: %s\n", "", m.Mirror, m.Reason)
	}
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}
