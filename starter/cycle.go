package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

// cycleAnswerTimeout bounds how long freeze waits for the cycle to confirm.
const cycleAnswerTimeout = time.Minute

func (a *app) freezeCommands() []*cobra.Command {
	var reason string
	freeze := &cobra.Command{
		Use:   "freeze",
		Short: "Hold testing at its current release while the gate converges",
		Long: `While testing is frozen, DailySync keeps mirroring and moving daily, but
testing stays at the release under test, and so do rollbacks. ` + "`osflow unfreeze`" + ` releases it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(reason) == "" {
				return UsageError{errors.New("--reason is required: it is shown to everyone who wonders why testing stopped moving")}
			}
			return a.setFreeze(cmd.Context(), workflows.FreezeRequest{Frozen: true, Actor: "cli/" + actor(), Reason: reason})
		},
	}
	freeze.Flags().StringVar(&reason, "reason", "", "why (required)")
	unfreeze := &cobra.Command{
		Use:   "unfreeze",
		Short: "Release testing: the next daily sync moves it again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.setFreeze(cmd.Context(), workflows.FreezeRequest{Frozen: false, Actor: "cli/" + actor(), Reason: "unfreeze"})
		},
	}
	return []*cobra.Command{freeze, unfreeze}
}

func (a *app) setFreeze(ctx context.Context, req workflows.FreezeRequest) error {
	return a.withClient(ctx, func(ctx context.Context, cfg *config.Config, c client.Client) error {
		st, err := SetFreeze(ctx, c, cfg, req)
		if err != nil {
			return err
		}
		if a.jsonOut {
			return printJSON(a.stdout, map[string]any{"frozen": st.Frozen, "release": st.Current, "by": st.FrozenBy})
		}
		if st.Frozen {
			_, err = fmt.Fprintf(a.stdout, "testing frozen at %s; `osflow unfreeze` releases it\n", orNone(st.Current))
		} else {
			_, err = fmt.Fprintln(a.stdout, "testing released; the next daily sync moves it")
		}
		return err
	})
}

// SetFreeze asks the test cycle to freeze or release testing and waits
// until it reports the new state.
func SetFreeze(ctx context.Context, c client.Client, cfg *config.Config, req workflows.FreezeRequest) (workflows.TestCycleState, error) {
	_, err := c.SignalWithStartWorkflow(ctx, workflows.TestCycleWorkflowID, workflows.SignalFreeze, req,
		client.StartWorkflowOptions{ID: workflows.TestCycleWorkflowID, TaskQueue: cfg.Temporal.TaskQueue},
		workflows.TestCycleWorkflowType, workflows.TestCycleState{})
	if err != nil {
		return workflows.TestCycleState{}, fmt.Errorf("signal the test cycle: %w", err)
	}
	deadline := time.Now().Add(cycleAnswerTimeout)
	for {
		st, err := CycleStatus(ctx, c)
		if err == nil && st.Frozen == req.Frozen && st.PendingFreeze == nil {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("the test cycle did not confirm within %s (is a worker running? `osflow status` shows it)", cycleAnswerTimeout)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// CycleStatus queries the running test cycle.
func CycleStatus(ctx context.Context, c client.Client) (workflows.TestCycleState, error) {
	var st workflows.TestCycleState
	v, err := c.QueryWorkflow(ctx, workflows.TestCycleWorkflowID, "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query the test cycle: %w", err)
	}
	return st, v.Get(&st)
}

func (a *app) taskDoneCommand() *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "task-done TASK",
		Short: "Report a manual outage task as done, so its duration is measured",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				as = actor()
			}
			if err := CheckOperatorName(as); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, _ *config.Config, c client.Client) error {
				st, err := CycleStatus(ctx, c)
				if err != nil {
					return err
				}
				if st.WaitingFor != args[0] {
					return UsageError{fmt.Errorf("the rehearsal is not waiting for task %q (waiting for: %s)", args[0], orNone(st.WaitingFor))}
				}
				err = c.SignalWorkflow(ctx, workflows.TestCycleWorkflowID, "", workflows.SignalTaskDone, workflows.TaskDone{Task: args[0], By: as})
				if err != nil {
					return fmt.Errorf("signal task-done: %w", err)
				}
				_, err = fmt.Fprintf(a.stdout, "task %s reported done by %s\n", args[0], as)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "who did it (default: your login)")
	return cmd
}
