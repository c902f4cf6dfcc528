package starter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

// RefusedError is an operator command the workflow's validator refused:
// nothing was applied, and Reason says why.
type RefusedError struct {
	Command string
	Reason  string
}

func (e RefusedError) Error() string { return e.Command + " refused: " + e.Reason }

func (a *app) freezeCommands() []*cobra.Command {
	var reason string
	freeze := &cobra.Command{
		Use:   "freeze",
		Short: "Hold testing at the release it serves while the gate converges",
		Long: `While testing is frozen, DailySync keeps mirroring and moving daily, but
testing stays at the release under test, and so do rollbacks. ` + "`osflow unfreeze`" + ` releases it.
The test cycle answers at once, even during a round: frozen at which
release, or refused and why (already frozen, nothing served yet).`,
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
		res, err := SetFreeze(ctx, c, cfg, req)
		if err != nil {
			return a.refusal(err)
		}
		if a.jsonOut {
			return printJSON(a.stdout, map[string]any{"applied": true, "frozen": res.Frozen, "release": res.Release, "by": res.By})
		}
		if res.Frozen {
			_, err = fmt.Fprintf(a.stdout, "testing frozen at %s by %s; `osflow unfreeze` releases it\n", orNone(res.Release), res.By)
		} else {
			_, err = fmt.Fprintf(a.stdout, "testing released at %s; the next daily sync moves it\n", orNone(res.Release))
		}
		return err
	})
}

// refusal prints a refused command as JSON when asked, and returns it.
func (a *app) refusal(err error) error {
	var r RefusedError
	if a.jsonOut && errors.As(err, &r) {
		_ = printJSON(a.stdout, map[string]any{"applied": false, "command": r.Command, "refused": r.Reason})
	}
	return err
}

// SetFreeze asks the test cycle, through its freeze Update, to freeze or
// release testing, and returns what it applied. It starts the cycle if it
// is not running.
func SetFreeze(ctx context.Context, c client.Client, cfg *config.Config, req workflows.FreezeRequest) (workflows.FreezeResult, error) {
	var res workflows.FreezeResult
	return res, updateCycle(ctx, c, cfg, workflows.UpdateFreeze, req, &res)
}

// TaskDone reports a manual rehearsal task done.
func TaskDone(ctx context.Context, c client.Client, cfg *config.Config, d workflows.TaskDone) (workflows.TaskDoneResult, error) {
	var res workflows.TaskDoneResult
	return res, updateCycle(ctx, c, cfg, workflows.UpdateTaskDone, d, &res)
}

// TestNow asks the test cycle for a round at once.
func TestNow(ctx context.Context, c client.Client, cfg *config.Config, by string) (workflows.TestNowResult, error) {
	var res workflows.TestNowResult
	return res, updateCycle(ctx, c, cfg, workflows.UpdateTestNow, workflows.TestNowRequest{By: by}, &res)
}

// updateCycle sends an Update to the test cycle, starting the cycle first
// if it is not running, and waits for the answer: the result, or the
// validator's refusal as a RefusedError.
func updateCycle(ctx context.Context, c client.Client, cfg *config.Config, name string, arg, result any) error {
	if err := needWorker(ctx, c, cfg, name, mainWorkflows(cfg)); err != nil {
		return err
	}
	md := workflows.TestCycleMetadata()
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		StaticSummary:            md.Summary,
		StaticDetails:            md.Details,
		ID:                       workflows.TestCycleWorkflowID,
		TaskQueue:                cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.TestCycleWorkflowType, workflows.TestCycleState{})
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID:   workflows.TestCycleWorkflowID,
			UpdateName:   name,
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	return asRefusal(name, err)
}

// asRefusal turns the error a validator or handler returned into a
// RefusedError; transport and server errors pass unchanged.
func asRefusal(command string, err error) error {
	if err == nil {
		return nil
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		return RefusedError{Command: command, Reason: app.Message()}
	}
	return fmt.Errorf("%s: %w", command, err)
}

// CycleStatus queries the running test cycle.
func CycleStatus(ctx context.Context, c client.Client) (workflows.TestCycleState, error) {
	return queryStatus[workflows.TestCycleState](ctx, c, workflows.TestCycleWorkflowID, "")
}

// queryStatus asks a workflow (its latest run when runID is empty) for
// its status query.
func queryStatus[T any](ctx context.Context, c client.Client, workflowID, runID string) (T, error) {
	var st T
	v, err := c.QueryWorkflow(ctx, workflowID, runID, workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		return st, fmt.Errorf("query %s: %w", workflowID, err)
	}
	return st, nil
}

func (a *app) taskDoneCommand() *cobra.Command {
	var as, promotion string
	cmd := &cobra.Command{
		Use:   "task-done TASK",
		Short: "Report a manual outage task as done, so its duration is measured",
		Long: `Reports a manual outage task as done: of the test cycle's rehearsal, or with
--promotion of a promotion's outage. The workflow answers with what it
recorded, or refuses (it does not wait for that task, or someone reported it
already). Without --promotion a refusal names the promotion that waits for
the task, if one does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				as = actor()
			}
			if err := checkOperator(as); err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				d := workflows.TaskDone{Task: args[0], By: as}
				var res workflows.TaskDoneResult
				var err error
				if promotion != "" {
					err = updateWorkflow(ctx, c, cfg, promotionID(promotion), workflows.UpdateTaskDone, d, &res)
				} else {
					res, err = TaskDone(ctx, c, cfg, d)
					var r RefusedError
					if errors.As(err, &r) {
						r.Reason += taskDoneHint(args[0], promotionsWaitingFor(ctx, c, args[0]))
						err = r
					}
				}
				if err != nil {
					return a.refusal(err)
				}
				if a.jsonOut {
					return printJSON(a.stdout, map[string]any{"applied": true, "task": res.Task, "by": res.By, "release": res.Release})
				}
				_, err = fmt.Fprintf(a.stdout, "task %s of %s reported done by %s\n", res.Task, res.Release, res.By)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "who did it (default: your login)")
	cmd.Flags().StringVar(&promotion, "promotion", "", "a promotion's outage task (promotion-<release> or the release); default: the rehearsal")
	return cmd
}

// taskDoneHint completes the rehearsal's refusal of a task: the task
// may be a promotion's outage task, reported with --promotion, and which
// promotions wait for it.
func taskDoneHint(task string, waiting []string) string {
	hint := "; an outage task needs --promotion PROMOTION"
	switch len(waiting) {
	case 0:
		return hint + " (no promotion waits for " + strconv.Quote(task) + " now; osflow status lists the promotions)"
	case 1:
		return hint + fmt.Sprintf(": %s waits for it: osflow task-done %s --promotion %s --as NAME", waiting[0], task, waiting[0])
	}
	return hint + ": " + strings.Join(waiting, ", ") + " wait for it"
}

// promotionsWaitingFor lists the running promotions whose outage waits for
// the manual task; errors leave a promotion out, the hint being a courtesy.
func promotionsWaitingFor(ctx context.Context, c client.Client, task string) []string {
	running, err := listWorkflows(ctx, c, "WorkflowType = 'Promotion' AND ExecutionStatus = 'Running'", 50)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range running {
		st, err := queryStatus[workflows.PromotionStatus](ctx, c, r.ID, "")
		if err == nil && strings.HasPrefix(st.WaitingFor, "manual task "+task+":") {
			out = append(out, r.ID)
		}
	}
	return out
}

func (a *app) testCommand() *cobra.Command {
	test := &cobra.Command{
		Use:   "test",
		Short: "Steer the test cycle",
	}
	test.AddCommand(&cobra.Command{
		Use:   "now",
		Short: "Run a round of the test suites on the testing release at once",
		Long: `Asks the test cycle for a round now instead of at the next new release or
round interval. Refused while a round runs (it says which suite, since
when) or during the rehearsal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				res, err := TestNow(ctx, c, cfg, "cli/"+actor())
				if err != nil {
					return a.refusal(err)
				}
				if a.jsonOut {
					return printJSON(a.stdout, map[string]any{"applied": true, "release": res.Release})
				}
				_, err = fmt.Fprintf(a.stdout, "a round on %s starts now; follow it with `osflow status`\n", res.Release)
				return err
			})
		},
	})
	return test
}

// checkOperator refuses an operator name that would corrupt an audit line.
func checkOperator(name string) error {
	if strings.TrimSpace(name) == "" {
		return UsageError{errors.New("--as: a name is required")}
	}
	if len(name) > maxOperatorName {
		return UsageError{fmt.Errorf("--as: a name of at most %d bytes, please", maxOperatorName)}
	}
	// Not only C0 and DEL: C1 controls and format characters (bidi
	// overrides, zero-width) forge or hide text in audit logs too.
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return UsageError{fmt.Errorf("--as %q: %U is not printable; one line of printable text, please", name, r)}
		}
	}
	return nil
}

// maxOperatorName bounds an operator name: it goes into audit logs,
// tickets and workflow history.
const maxOperatorName = 100
