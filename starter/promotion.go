package starter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/workflows"
)

// promotionID accepts a promotion's workflow ID or its release.
func promotionID(arg string) string {
	if strings.HasPrefix(arg, workflows.PromotionPrefix) || strings.HasPrefix(arg, workflows.BypassPrefix) {
		return arg // a bypass waiting for approval takes the same commands
	}
	return workflows.PromotionWorkflowID(arg)
}

// Promote starts the promotion of release to production. The release must
// be a candidate: the promotion refuses one that did not pass the gate.
func Promote(ctx context.Context, c client.Client, cfg *config.Config, release string) (client.WorkflowRun, error) {
	md := workflows.PromotionMetadata(release)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		StaticSummary:            md.Summary,
		StaticDetails:            md.Details,
		ID:                       workflows.PromotionWorkflowID(release),
		TaskQueue:                cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.Promotion, workflows.PromotionInput{Release: release})
	if err != nil {
		return nil, fmt.Errorf("start the promotion of %s: %w", release, err)
	}
	return run, nil
}

// checkPromotable refuses, before anything starts, a release that is no
// candidate or that production already serves; the promotion checks both
// again, for starts from the Web UI or another client.
func checkPromotable(st *repo.Store, cfg *config.Config, release string) error {
	var c struct{ Release string }
	if err := st.Candidate(release, &c); errors.Is(err, repo.ErrNotFound) || errors.Is(err, repo.ErrInvalid) {
		return UsageError{fmt.Errorf("release %q is no candidate: it has not passed the test cycle's gate and rehearsal (osflow status shows the gate; osflow repo releases lists the releases)", release)}
	} else if err != nil {
		return err
	}
	cur, err := st.Channel(cfg.Channels.Production)
	if err != nil {
		return err
	}
	if cur != "" {
		in, err := st.InChain(cur, release)
		if err != nil {
			return err
		}
		done := false
		if in {
			// Unless its first promotion failed with nothing to roll back to.
			if done, err = st.PromotionDone(release, cfg.Channels.Production); err != nil {
				return err
			}
		}
		if done {
			return UsageError{fmt.Errorf("%s already serves %s: nothing to promote (osflow audit %s shows since when)",
				cfg.Channels.Production, release, cfg.Channels.Production)}
		}
	}
	return nil
}

// updateWorkflow sends an Update to a running workflow and waits for its
// answer: the result, or the refusal as a RefusedError.
func updateWorkflow(ctx context.Context, c client.Client, cfg *config.Config, workflowID, name string, arg, result any) error {
	if err := needWorker(ctx, c, cfg, name, mainWorkflows(cfg)); err != nil {
		return err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	return asRefusal(name, err)
}

// promotionArg is the promotion a command names, or, without one, the
// only promotion waiting for approval.
func promotionArg(ctx context.Context, c client.Client, args []string) (string, error) {
	if len(args) == 1 {
		return promotionID(args[0]), nil
	}
	pending, err := listWorkflows(ctx, c, fmt.Sprintf("WorkflowType IN ('Promotion', 'Bypass') AND ExecutionStatus = 'Running' AND %s = '%s'",
		workflows.AttrApproval.GetName(), workflows.ApprovalPending), 10)
	if err != nil {
		return "", err
	}
	switch len(pending) {
	case 0:
		return "", UsageError{errors.New("no promotion waits for approval (osflow status lists the promotions)")}
	case 1:
		return pending[0].ID, nil
	}
	var ids []string
	for _, p := range pending {
		ids = append(ids, p.ID)
	}
	return "", UsageError{fmt.Errorf("several promotions wait for approval; name one: %s", strings.Join(ids, ", "))}
}

// followPromotion prints a promotion's progress until it ends: one line,
// or one JSON event, per change of what it waits for.
func (a *app) followPromotion(ctx context.Context, c client.Client, id string) error {
	last := ""
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := queryStatus[workflows.PromotionStatus](ctx, c, id, "")
		if err == nil && st.Phase+st.WaitingFor != last {
			last = st.Phase + st.WaitingFor
			if a.jsonOut {
				_ = printJSON(a.stdout, event{Time: time.Now().UTC(), Event: "progress", Data: map[string]string{"state": st.State, "phase": st.Phase, "waitingFor": st.WaitingFor}})
			} else {
				fmt.Fprintf(a.stderr, "%s: %s, waiting for %s\n", st.State, st.Phase, st.WaitingFor)
			}
		}
		switch st.State {
		case workflows.ApprovalDone:
			return a.answer(st.Steps, "production serves %s", st.Release)
		case workflows.ApprovalRolledBack, workflows.ApprovalCanceled, workflows.ApprovalRejected:
			if st.Phase == workflows.PhaseCompensating && st.State == workflows.ApprovalRolledBack && strings.Contains(st.WaitingFor, "end-outage") {
				return fmt.Errorf("%s %s: %s; production is back at %s", id, st.State, st.Error, orNone(st.Previous))
			}
			if st.State != workflows.ApprovalRolledBack {
				return fmt.Errorf("%s %s", id, st.State)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// answer prints what a command applied: JSON with --json, a line otherwise.
func (a *app) answer(v any, format string, args ...any) error {
	if a.jsonOut {
		return printJSON(a.stdout, map[string]any{"applied": true, "result": v})
	}
	_, err := fmt.Fprintf(a.stdout, format+"\n", args...)
	return err
}

func (a *app) promotionCommands() []*cobra.Command {
	var (
		release, as, comment, windowStart, windowEnd, keyFile string
		cancel                                                bool
	)
	asFlag := func(cmd *cobra.Command) {
		cmd.Flags().StringVar(&as, "as", "", "who (default: your login)")
	}
	who := func() (string, error) {
		if as == "" {
			as = actor()
		}
		return as, checkOperator(as)
	}
	promote := &cobra.Command{
		Use:   "promote",
		Short: "Start the production phase of a candidate",
		Long: `Starts promotion-<release> for a release the test cycle made a candidate
(default: the release testing serves). It publishes the risk report and waits
for an approver: osflow approve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The store's answers come first: a release that cannot be
			// promoted is refused without Temporal.
			err := a.withStore(func(cfg *config.Config, st *repo.Store) error {
				if release == "" {
					var err error
					if release, err = st.Channel(cfg.Channels.Testing); err != nil || release == "" {
						return UsageError{fmt.Errorf("no --release, and testing serves nothing to promote (%v)", err)}
					}
				}
				return checkPromotable(st, cfg, release)
			})
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				if err := needWorker(ctx, c, cfg, "osflow promote", mainWorkflows(cfg), repoActivities(cfg)); err != nil {
					return err
				}
				run, err := Promote(ctx, c, cfg, release)
				if err != nil {
					return err
				}
				return a.answer(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()},
					"started %s\nnext: an approver runs `osflow approve %s --as NAME --window-start TIME`", run.GetID(), release)
			})
		},
	}
	promote.Flags().StringVar(&release, "release", "", "the candidate release (default: what testing serves)")

	var wait bool
	approve := &cobra.Command{
		Use:   "approve [PROMOTION]",
		Short: "Approve an outage window for a promotion (approvers only)",
		Long: `PROMOTION is promotion-<release> or the release, or a bypass-... waiting
for approval (no window: it applies at once); without it, the one
promotion or bypass that waits for approval. The window start is RFC 3339
with its offset (2026-12-03T20:00:00+01:00), "2026-12-03 20:00 ZONE" with an
IANA zone or UTC ("2026-12-03 20:00 Europe/Berlin"), "2026-12-03 20:00" in
this machine's local zone (TZ, else /etc/localtime), "now" or "+2h"; the end
defaults to production.window or twice the estimated outage. The answer
shows the window in UTC and in the local zone. With --wait, follows the
promotion until it ends and exits 1 unless production then serves the release.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := who()
			if err != nil {
				return err
			}
			now := time.Now()
			if len(args) == 1 && strings.HasPrefix(args[0], workflows.BypassPrefix) && windowStart != "" {
				return UsageError{errors.New("a bypass has no window: it applies once approved (drop --window-start)")}
			}
			start, err := windowTime(windowStart, now, time.Local)
			if err != nil {
				return UsageError{fmt.Errorf("--window-start %w", err)}
			}
			end, err := windowTime(windowEnd, now, time.Local)
			if err != nil {
				return UsageError{fmt.Errorf("--window-end %w", err)}
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				id, err := promotionArg(ctx, c, args)
				if err != nil {
					return err
				}
				d := decision{id: id, decision: approvalsig.DecisionApprove, comment: comment}
				d.start, d.end = signedWindow(keyFile, start, end)
				statement, sig, err := a.signDecision(ctx, c, cfg, keyFile, &d)
				if err != nil {
					return err
				}
				var res workflows.Approval
				err = updateWorkflow(ctx, c, cfg, id, workflows.UpdateApproveOutage,
					workflows.ApproveRequest{Approver: by, Comment: comment, WindowStart: d.start, WindowEnd: d.end, Statement: statement, Signature: sig}, &res)
				if err != nil {
					return a.refusal(err)
				}
				if strings.HasPrefix(id, workflows.BypassPrefix) {
					if err := a.answer(res, "%s approved by %s: it applies now", id, res.By); err != nil || !wait {
						return err
					}
					return a.waitBypass(ctx, c, cfg, c.GetWorkflow(ctx, id, ""))
				}
				if err := a.answer(res, "%s approved by %s: outage window %s to %s", id, res.By,
					windowText(res.WindowStart, time.Local), windowText(res.WindowEnd, time.Local)); err != nil {
					return err
				}
				if !wait {
					return nil
				}
				return a.followPromotion(ctx, c, id)
			})
		},
	}
	asFlag(approve)
	keyFlag(approve, &keyFile)
	approve.Flags().StringVar(&comment, "comment", "", "why, for the record")
	approve.Flags().StringVar(&windowStart, "window-start", "", "when the outage may begin (required): RFC 3339, \"2026-12-03 20:00 Europe/Berlin\", \"2026-12-03 20:00\" (local zone, TZ), now, +2h")
	approve.Flags().StringVar(&windowEnd, "window-end", "", "when it must be over")
	approve.Flags().BoolVar(&wait, "wait", false, "follow the promotion until it ends")

	reject := &cobra.Command{
		Use:   "reject PROMOTION",
		Short: "Reject a promotion, or cancel an approved one before its window (approvers only)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := who()
			if err != nil {
				return err
			}
			if strings.TrimSpace(comment) == "" {
				return UsageError{errors.New("--comment is required: say why")}
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				id := promotionID(args[0])
				statement, sig, err := a.signDecision(ctx, c, cfg, keyFile, &decision{id: id, decision: approvalsig.DecisionReject, comment: comment})
				if err != nil {
					return err
				}
				var res workflows.Approval
				if err := updateWorkflow(ctx, c, cfg, id, workflows.UpdateRejectOutage,
					workflows.RejectRequest{Approver: by, Comment: comment, Statement: statement, Signature: sig}, &res); err != nil {
					return a.refusal(err)
				}
				return a.answer(res, "rejected by %s; the candidate stays available for `osflow promote --release RELEASE`", res.By)
			})
		},
	}
	asFlag(reject)
	keyFlag(reject, &keyFile)
	reject.Flags().StringVar(&comment, "comment", "", "why (required)")

	text := func(use, short, name string, mk func(by, text string) any) *cobra.Command {
		cmd := &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				by, err := who()
				if err != nil {
					return err
				}
				return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
					var res any
					if err := updateWorkflow(ctx, c, cfg, promotionID(args[0]), name, mk(by, args[1]), &res); err != nil {
						return a.refusal(err)
					}
					return a.answer(res, "%s: done", name)
				})
			},
		}
		asFlag(cmd)
		return cmd
	}
	commentCmd := text("comment PROMOTION TEXT", "Add a note to a promotion (anyone)", workflows.UpdateComment,
		func(by, t string) any { return workflows.CommentRequest{By: by, Text: t} })
	issue := text("outage-issue PROMOTION TEXT", "File a ticket for a problem met during the outage", workflows.UpdateOutageIssue,
		func(by, t string) any { return workflows.OutageIssueRequest{By: by, Text: t} })

	endOutage := &cobra.Command{
		Use: "end-outage PROMOTION", Short: "End a failed outage's monitoring silences before the window's end", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := who()
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				var res string
				if err := updateWorkflow(ctx, c, cfg, promotionID(args[0]), workflows.UpdateEndOutage, workflows.EndOutageRequest{By: by}, &res); err != nil {
					return a.refusal(err)
				}
				return a.answer(res, "%s", res)
			})
		},
	}
	asFlag(endOutage)

	proceed := &cobra.Command{
		Use:   "proceed PROMOTION",
		Short: "When testing moved on before the window: promote the tested candidate anyway, or --cancel",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := who()
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				id := promotionID(args[0])
				d := decision{id: id, decision: approvalsig.DecisionProceed, comment: comment}
				if cancel {
					d.decision = approvalsig.DecisionCancel
				}
				statement, sig, err := a.signDecision(ctx, c, cfg, keyFile, &d)
				if err != nil {
					return err
				}
				var res workflows.ProceedRequest
				if err := updateWorkflow(ctx, c, cfg, id, workflows.UpdateProceed,
					workflows.ProceedRequest{By: by, Proceed: !cancel, Comment: comment, Statement: statement, Signature: sig}, &res); err != nil {
					return a.refusal(err)
				}
				if cancel {
					return a.answer(res, "canceled by %s", by)
				}
				return a.answer(res, "proceeding with the tested candidate (%s)", by)
			})
		},
	}
	asFlag(proceed)
	keyFlag(proceed, &keyFile)
	proceed.Flags().BoolVar(&cancel, "cancel", false, "cancel the outage instead")
	proceed.Flags().StringVar(&comment, "comment", "", "why, for the record")

	resolved := &cobra.Command{
		Use:   "conflict-resolved WORKFLOW REPO",
		Short: "Report a merge conflict resolved by hand (a promotion or a merge-back)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			by, err := who()
			if err != nil {
				return err
			}
			id := args[0]
			if !strings.HasPrefix(id, workflows.MergeBackPrefix) {
				id = promotionID(id)
			}
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				var res workflows.ConflictResolved
				if err := updateWorkflow(ctx, c, cfg, id, workflows.UpdateConflictResolved, workflows.ConflictResolved{Repo: args[1], By: by}, &res); err != nil {
					return a.refusal(err)
				}
				return a.answer(res, "%s: the merge of %s runs again", id, res.Repo)
			})
		},
	}
	asFlag(resolved)
	return []*cobra.Command{promote, approve, reject, commentCmd, issue, endOutage, proceed, resolved}
}
