package starter

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
)

// Status is what `osflow status` reports.
type Status struct {
	Channels []ChannelStatus  `json:"channels"`
	Running  []WorkflowStatus `json:"running"`
	Recent   []WorkflowStatus `json:"recentSyncs"`
	NextSync *time.Time       `json:"nextSync,omitempty"`
	Cycle    *CycleView       `json:"testCycle,omitempty"`
	// Promotions are the running promotions; those pending approval carry
	// the commands that approve them.
	Promotions []PromotionView `json:"promotions,omitempty"`
	// Bypasses are the emergency bypasses since production's last
	// promotion: fixes that reached production without a test cycle.
	Bypasses []repo.BypassRecord `json:"bypassesSincePromotion,omitempty"`
	// Users are production users' open reports (osflow report).
	Users *UsersView `json:"productionUsers,omitempty"`
	// Watches are the overlays' watches of their vendor sources.
	Watches   []WatchView `json:"watchedSources,omitempty"`
	Temporal  string      `json:"temporalError,omitempty"`
	StoreRoot string      `json:"store"`

	// Waiting lists scheduled activities that no worker takes (pending.go).
	Waiting []WaitingActivity `json:"waitingForWorker,omitempty"`
}

// CycleView is the test cycle as `osflow status` shows it.
type CycleView struct {
	Phase       string   `json:"phase"`
	Release     string   `json:"release"`
	Pending     string   `json:"pending,omitempty"`
	Frozen      bool     `json:"frozen"`
	FrozenBy    string   `json:"frozenBy,omitempty"`
	Rounds      int      `json:"rounds"`
	CleanStreak int      `json:"cleanStreak"`
	OpenTickets int      `json:"openTickets"`
	Blockers    int      `json:"blockers"`
	Gate        []string `json:"gate"`
	GatePassed  bool     `json:"gatePassed"`
	WaitingFor  string   `json:"waitingForTask,omitempty"`
	LastError   string   `json:"lastError,omitempty"`
	Promoted    string   `json:"promoted,omitempty"`
	// InRound is the round running now: release, suite and since when.
	InRound *workflows.RoundProgress `json:"round,omitempty"`
	// Stuck lists the cycle's activities that are failing and retrying.
	Stuck   []string `json:"stuck,omitempty"`
	Refused []string `json:"refusedSignals,omitempty"`
	// Candidate is the last candidate, with the gate it passed: the
	// cycle's own gate starts over once it is made.
	Candidate *CandidateGate `json:"lastCandidate,omitempty"`
}

// PromotionView is a running promotion as `osflow status` shows it.
type PromotionView struct {
	ID         string   `json:"id"`
	Release    string   `json:"release"`
	State      string   `json:"state"`
	Phase      string   `json:"phase"`
	WaitingFor string   `json:"waitingFor"`
	Approvers  []string `json:"approvers,omitempty"`
	// Approve holds the command that approves it, in three forms: osflow,
	// the Temporal CLI's Update, and its Signal (what tctl, deprecated and
	// not installed here, used to send).
	Approve []string `json:"approve,omitempty"`
	Error   string   `json:"error,omitempty"`
	Refused []string `json:"refusedSignals,omitempty"`
	// Steps are the outage's steps with their times (statuspromotion.go).
	Steps    []StepView             `json:"steps,omitempty"`
	Comments []workflows.Note       `json:"comments,omitempty"`
	Users    []activities.TicketRef `json:"productionUsers,omitempty"`
	// Advisories are those the risk report lists, each with the packages
	// that carry it; RiskPage is where the report is.
	Advisories []string `json:"advisories,omitempty"`
	RiskPage   string   `json:"riskPage,omitempty"`
}

// advisoryLines names the advisories of a risk report with their packages.
func advisoryLines(r *activities.RiskReport) []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, a := range r.Packages.Advisories {
		line := fmt.Sprintf("%s (%s, %s): %s", a.ID, a.Type, cmp.Or(a.Severity, "unrated"), strings.Join(a.Packages, ", "))
		if a.MorePackages > 0 {
			line += fmt.Sprintf(" and %d more", a.MorePackages)
		}
		out = append(out, line)
	}
	if r.Packages.MoreAdvisories > 0 {
		out = append(out, fmt.Sprintf("... and %d more (see the risk report)", r.Packages.MoreAdvisories))
	}
	return out
}

// approveCommands are the three ways to approve a promotion or, without
// a window, a bypass; when approvals must be signed, osflow's with --key.
func approveCommands(id string, window, signed bool) []string {
	if signed {
		// A signed approval takes a statement the Temporal CLI forms do
		// not show; the README shows them with ssh-keygen -Y sign.
		if !window {
			return []string{"osflow approve " + id + " --as NAME --key FILE [--comment TEXT]"}
		}
		return []string{"osflow approve " + id + " --as NAME --key FILE --window-start TIME [--window-end TIME] [--comment TEXT]"}
	}
	input, flags := `'{"Approver":"NAME","Comment":"TEXT","WindowStart":"2026-12-24T20:00:00Z"}'`, " --window-start TIME [--window-end TIME]"
	if !window {
		input, flags = `'{"Approver":"NAME","Comment":"TEXT"}'`, ""
	}
	return []string{
		"osflow approve " + id + " --as NAME" + flags + " [--comment TEXT]",
		"temporal workflow update execute --workflow-id " + id + " --name " + workflows.UpdateApproveOutage + " --input " + input,
		"temporal workflow signal --workflow-id " + id + " --name " + workflows.SignalApproveOutage + " --input " + input,
	}
}

// ChannelStatus is one channel and the release it serves.
type ChannelStatus struct {
	Channel  string       `json:"channel"`
	Release  string       `json:"release"`
	LastMove *repo.Switch `json:"lastSwitch,omitempty"`
	// Stale are the repos the release carries over from an earlier one
	// because their sync failed, and the snapshot each serves.
	Stale map[string]repo.StaleRepo `json:"staleRepos,omitempty"`
	// Snapshots of the stale repos, by name.
	StaleSnapshots map[string]string `json:"staleSnapshots,omitempty"`
}

// WorkflowStatus is one workflow execution as the status view shows it.
type WorkflowStatus struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Status  string    `json:"status"`
	Start   time.Time `json:"start"`
	Phase   string    `json:"phase,omitempty"`
	Release string    `json:"release,omitempty"`
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show channels and their releases, running workflows and recent syncs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			st, err := a.collectStatus(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return printJSON(a.stdout, st)
			}
			a.printStatus(st)
			if st.Temporal != "" {
				return fmt.Errorf("temporal: %s", st.Temporal)
			}
			return nil
		},
	}
}

func (a *app) collectStatus(ctx context.Context, cfg *config.Config) (Status, error) {
	st := Status{StoreRoot: cfg.Store}
	store, err := a.openStore(cfg)
	if err != nil {
		return st, err
	}
	channels, err := store.Channels()
	if err != nil {
		return st, err
	}
	for _, name := range []string{cfg.Channels.Daily, cfg.Channels.Testing, cfg.Channels.Production} {
		if _, ok := channels[name]; !ok {
			channels[name] = ""
		}
	}
	for name, rel := range channels {
		cs := ChannelStatus{Channel: name, Release: rel}
		if r, err := store.Release(rel); err == nil && len(r.Stale) > 0 {
			cs.Stale, cs.StaleSnapshots = r.Stale, map[string]string{}
			for n := range r.Stale {
				cs.StaleSnapshots[n] = r.Repos[n]
			}
		}
		if h, err := store.History(name); err == nil {
			// The last entry that moved the channel: the log also keeps
			// freezes and keyed no-ops.
			for i := len(h) - 1; i >= 0; i-- {
				if h[i].Moved() {
					cs.LastMove = &h[i]
					break
				}
			}
		}
		st.Channels = append(st.Channels, cs)
	}
	sort.Slice(st.Channels, func(i, j int) bool { return st.Channels[i].Channel < st.Channels[j].Channel })
	if st.Bypasses, err = store.BypassesSincePromotion(cfg.Channels.Production); err != nil {
		return st, err
	}

	st.Users = usersView(ctx, cfg)

	logger, err := a.logger(cfg)
	if err != nil {
		return st, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := Dial(dctx, cfg, logger, nil)
	if err != nil {
		st.Temporal = err.Error()
		return st, nil
	}
	defer c.Close()
	if st.Running, err = listWorkflows(ctx, c, "ExecutionStatus = 'Running'", 50); err != nil {
		st.Temporal = err.Error()
	}
	if st.Recent, err = listWorkflows(ctx, c, "WorkflowType = 'DailySync'", 5); err != nil {
		st.Temporal = err.Error()
	}
	if st.Waiting, err = waitingActivities(ctx, c, cfg, st.Running, time.Now()); err != nil {
		st.Temporal = err.Error()
	}
	if cs, err := CycleStatus(ctx, c); err == nil {
		st.Cycle = &CycleView{
			Phase: cs.Phase, Release: cs.Current, Pending: cs.Pending, Frozen: cs.Frozen, FrozenBy: cs.FrozenBy,
			Rounds: cs.RoundsRun, CleanStreak: cs.CleanStreak, OpenTickets: cs.OpenTickets, Blockers: cs.Blockers,
			Gate: cs.Gate.Reasons, GatePassed: cs.Gate.Passed, WaitingFor: cs.WaitingFor, LastError: cs.LastError, Promoted: cs.Promoted,
			InRound: cs.InRound, Refused: cs.Refused, Stuck: retrying(ctx, c, workflows.TestCycleWorkflowID),
			Candidate: candidateGate(cs.Candidate),
		}
		if cs.Frozen {
			st.Cycle.FrozenBy = fmt.Sprintf("%s at %s (%s)", cs.FrozenBy, cs.FrozenAt, cs.FrozenReason)
		}
	}
	for _, r := range st.Running {
		switch r.Type {
		case "Promotion":
			st.Promotions = append(st.Promotions, promotionView(ctx, c, cfg, r.ID))
		case workflows.BypassWorkflowType:
			st.Promotions = append(st.Promotions, bypassView(ctx, c, cfg, r.ID))
		case "MergeBack":
			st.Promotions = append(st.Promotions, mergeBackView(ctx, c, r.ID))
		}
	}
	st.Watches = watchViews(ctx, c, cfg, store)
	if d, err := c.ScheduleClient().GetHandle(ctx, workflows.DailySyncScheduleID).Describe(ctx); err == nil && len(d.Info.NextActionTimes) > 0 {
		next := d.Info.NextActionTimes[0]
		st.NextSync = &next
	}
	return st, nil
}

func promotionView(ctx context.Context, c client.Client, cfg *config.Config, id string) PromotionView {
	v := PromotionView{ID: id, Approvers: cfg.Production.Approvers}
	ps, err := queryStatus[workflows.PromotionStatus](ctx, c, id, "")
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Release, v.State, v.Phase, v.WaitingFor, v.Refused = ps.Release, ps.State, ps.Phase, ps.WaitingFor, ps.Refused
	promotionDetails(&v, ps)
	v.Advisories, v.RiskPage = advisoryLines(ps.Risk), ps.RiskPage
	if ps.State == workflows.ApprovalPending {
		v.Approve = approveCommands(id, true, cfg.Production.RequireSignedApprovals)
	}
	return v
}

// bypassView shows a running bypass like a promotion: its phase and, when
// it waits for approval, the commands that give it.
func bypassView(ctx context.Context, c client.Client, cfg *config.Config, id string) PromotionView {
	v := PromotionView{ID: id, Approvers: cfg.Production.Approvers}
	bs, err := queryStatus[workflows.BypassStatus](ctx, c, id, "")
	if err != nil {
		v.Error = err.Error()
		return v
	}
	v.Release, v.State, v.Phase, v.Refused = "overlay "+bs.Overlay, bs.Approval.State, bs.Phase, bs.Refused
	v.WaitingFor = "the bypass to finish"
	if bs.Approval.State == workflows.ApprovalPending {
		v.WaitingFor = "approve-outage (no window: it applies at once)"
		v.Approve = approveCommands(id, false, cfg.Production.RequireSignedApprovals)
	}
	return v
}

// retrying describes a workflow's pending activities that failed at least
// once: an operator sees "RunSuite attempt 4: <error>" rather than a bare
// phase while a suite or the tracker keeps failing.
func retrying(ctx context.Context, c client.Client, workflowID string) []string {
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return nil
	}
	var out []string
	for _, pa := range desc.GetPendingActivities() {
		f := pa.GetLastFailure()
		if pa.GetAttempt() < 2 && f == nil {
			continue
		}
		line := fmt.Sprintf("%s attempt %d", pa.GetActivityType().GetName(), pa.GetAttempt())
		if f != nil {
			line += ": " + rootFailure(f)
		}
		if next := pa.GetNextAttemptScheduleTime(); next != nil {
			line += fmt.Sprintf(" (next attempt %s)", next.AsTime().Local().Format("15:04:05"))
		}
		out = append(out, line)
	}
	return out
}

// rootFailure is the innermost message of a failure chain.
func rootFailure(f *failurepb.Failure) string {
	for f.GetCause() != nil {
		f = f.GetCause()
	}
	return f.GetMessage()
}

func listWorkflows(ctx context.Context, c client.Client, query string, limit int) ([]WorkflowStatus, error) {
	var out []WorkflowStatus
	var token []byte
	for len(out) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: int32(limit), NextPageToken: token,
		})
		if err != nil {
			return out, fmt.Errorf("list workflows (%s): %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			ws := WorkflowStatus{
				ID:     e.GetExecution().GetWorkflowId(),
				Type:   e.GetType().GetName(),
				Status: e.GetStatus().String(),
				Start:  e.GetStartTime().AsTime(),
			}
			if sa := e.GetSearchAttributes(); sa != nil {
				ws.Phase = keyword(sa.GetIndexedFields()[workflows.AttrPhase.GetName()])
				ws.Release = keyword(sa.GetIndexedFields()[workflows.AttrRelease.GetName()])
			}
			out = append(out, ws)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

func keyword(p *commonpb.Payload) string {
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

func (a *app) printStatus(st Status) {
	w := a.stdout
	fmt.Fprintf(w, "store %s\n\nCHANNEL      RELEASE              LAST SWITCH\n", st.StoreRoot)
	for _, c := range st.Channels {
		last := "-"
		if c.LastMove != nil {
			last = fmt.Sprintf("%s by %s (%s)", c.LastMove.Time.Local().Format("2006-01-02 15:04"), c.LastMove.Actor, c.LastMove.Reason)
		}
		fmt.Fprintf(w, "%-12s %-20s %s\n", c.Channel, orNone(c.Release), last)
		for _, n := range slices.Sorted(maps.Keys(c.Stale)) {
			s := c.Stale[n]
			fmt.Fprintf(w, "  STALE repo %s: snapshot %s, failing to sync since %s: %s\n", n, c.StaleSnapshots[n],
				s.Since.Local().Format("2006-01-02 15:04"), activities.FirstLine(s.Cause))
		}
	}
	if len(st.Bypasses) > 0 {
		fmt.Fprintln(w, "\nBYPASSES SINCE THE LAST PROMOTION (untested on the test cluster until testing's next round; osflow audit production)")
		for _, b := range st.Bypasses {
			fmt.Fprintf(w, "  %s %s into %s by %s: %s (%s)\n", b.Time.Local().Format("2006-01-02 15:04"), strings.Join(b.Packages, ", "),
				b.Overlay, b.Actor, b.Reason, b.Bypass)
		}
	}
	printUsers(w, st.Users)
	if st.Temporal != "" {
		fmt.Fprintf(w, "\nTemporal unreachable: %s\n", st.Temporal)
		return
	}
	fmt.Fprintln(w, "\nRUNNING")
	if len(st.Running) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, r := range st.Running {
		fmt.Fprintf(w, "  %-28s %-16s phase=%s release=%s since %s\n", r.ID, r.Type, orNone(r.Phase), orNone(r.Release), r.Start.Local().Format("2006-01-02 15:04"))
	}
	printWaiting(w, st.Waiting)
	fmt.Fprintln(w, "\nRECENT SYNCS")
	if len(st.Recent) == 0 {
		fmt.Fprintln(w, "  (none) — run `osflow sync --wait`")
	}
	for _, r := range st.Recent {
		fmt.Fprintf(w, "  %-40s %-10s phase=%s release=%s %s\n", r.ID, r.Status, orNone(r.Phase), orNone(r.Release), r.Start.Local().Format("2006-01-02 15:04"))
	}
	if st.NextSync != nil {
		fmt.Fprintf(w, "\nnext scheduled sync: %s\n", st.NextSync.Local().Format(time.RFC1123))
	}
	printWatches(w, st.Watches)
	for _, p := range st.Promotions {
		kind := "PROMOTION"
		switch {
		case strings.HasPrefix(p.ID, workflows.BypassPrefix):
			kind = "BYPASS"
		case p.Phase == "merge-back":
			kind = "MERGE-BACK"
		}
		fmt.Fprintf(w, "\n%s %s  release=%s state=%s phase=%s\n  waiting for %s\n", kind, p.ID, orNone(p.Release), orNone(p.State), p.Phase, p.WaitingFor)
		if len(p.Approve) > 0 {
			fmt.Fprintf(w, "  approvers: %s; approve with one of:\n", strings.Join(p.Approvers, ", "))
			for _, c := range p.Approve {
				fmt.Fprintf(w, "    %s\n", c)
			}
		}
		printPromotionDetails(w, p)
		for _, r := range p.Refused {
			fmt.Fprintf(w, "  %s\n", r)
		}
		if len(p.Advisories) > 0 {
			fmt.Fprintf(w, "  advisories new to production (risk report: %s):\n", orNone(p.RiskPage))
		}
		for _, a := range p.Advisories {
			fmt.Fprintf(w, "    %s\n", a)
		}
	}
	if cy := st.Cycle; cy != nil {
		fmt.Fprintf(w, "\nTEST CYCLE  phase=%s release=%s rounds=%d open tickets=%d blockers=%d\n",
			cy.Phase, orNone(cy.Release), cy.Rounds, cy.OpenTickets, cy.Blockers)
		if cy.Frozen {
			fmt.Fprintf(w, "  testing FROZEN by %s (osflow unfreeze releases it)\n", cy.FrozenBy)
		}
		if cy.Pending != "" {
			fmt.Fprintf(w, "  next release to test: %s\n", cy.Pending)
		}
		for _, r := range cy.Gate {
			fmt.Fprintf(w, "  gate %s\n", r)
		}
		if len(cy.Gate) == 0 {
			printCandidateGate(w, cy.Candidate)
		}
		if r := cy.InRound; r != nil {
			fmt.Fprintf(w, "  round on %s running since %s: suite %s since %s\n", r.Release,
				r.Since.Local().Format("15:04:05"), r.Suite, r.SuiteSince.Local().Format("15:04:05"))
		}
		for _, s := range cy.Stuck {
			fmt.Fprintf(w, "  retrying: %s\n", s)
		}
		for _, r := range cy.Refused {
			fmt.Fprintf(w, "  %s\n", r)
		}
		if cy.WaitingFor != "" {
			fmt.Fprintf(w, "  rehearsal waits for manual task %q: osflow task-done %s --as NAME\n", cy.WaitingFor, cy.WaitingFor)
		}
		if cy.Promoted != "" {
			fmt.Fprintf(w, "  last candidate: %s (promotion %s)\n", cy.Promoted, workflows.PromotionWorkflowID(cy.Promoted))
		}
		if cy.LastError != "" {
			fmt.Fprintf(w, "  last error: %s\n", cy.LastError)
		}
	}
}
