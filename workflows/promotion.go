package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// States of a promotion, as OsflowApproval shows them.
const (
	ApprovalPending    = "pending"
	ApprovalApproved   = "approved"
	ApprovalRejected   = "rejected"
	ApprovalRunning    = "running"
	ApprovalDone       = "done"
	ApprovalRolledBack = "rolled-back"
	ApprovalCanceled   = "canceled"
)

// Phases of a promotion, as OsflowPhase shows them.
const (
	PhaseAwaitingApproval = "awaiting-approval"
	PhaseAwaitingWindow   = "awaiting-window"
	PhaseAwaitingDecision = "awaiting-decision"
	PhaseOutage           = "outage"
	PhaseCompensating     = "compensating"
	PhaseAfterwards       = "afterwards"
	// PhaseSuperseded: a newer promotion took the place of this one
	// while it waited for approval; it ended canceled.
	PhaseSuperseded = "superseded"
)

// ErrTypePromotionFailed is the type of a failed promotion's error; its
// details carry the PromotionStatus.
const ErrTypePromotionFailed = "PromotionFailed"

// PromotionInput is the candidate a promotion takes to production. Release
// alone is enough (the Web UI's Start Workflow form: {"Release": "..."}):
// the promotion loads the candidate the test cycle recorded.
type PromotionInput struct {
	Release   string
	Candidate activities.Candidate
}

// Note is a comment on a promotion by a user or an admin.
type Note struct {
	By   string
	Text string
	At   time.Time
}

// Step is one step of the outage, as the status shows it.
type Step struct {
	Name    string
	Status  string // running, done, failed, reverted, skipped
	Detail  string
	Started time.Time
	Ended   time.Time
}

// PromotionStatus answers the promotion's status query and is its result.
type PromotionStatus struct {
	Release   string
	Candidate activities.Candidate
	// State is OsflowApproval: pending, approved, rejected, running, done,
	// rolled-back, canceled.
	State string
	Phase string
	// Approval is the decision: who, when, why, and the window.
	Approval Approval
	// WaitingFor says what the promotion waits for and who may act.
	WaitingFor string
	Comments   []Note
	// CommentsDropped counts the oldest comments let go to keep the
	// newest maxComments.
	CommentsDropped int `json:",omitempty"`
	Users           []activities.TicketRef
	Risk            *activities.RiskReport
	RiskPage        string
	Steps           []Step
	// Previous is what production served before this promotion switched
	// it: where a rollback goes.
	Previous string
	Switched bool
	Silences []string
	Backup   activities.BackupResult
	Merges   []activities.MergeRecord
	Tasks    []activities.TaskTiming
	Issues   []activities.TicketRef
	Refused  []string
	Error    string
	// MergeBack is the child workflow that merges production's hotfixes
	// back to test.
	MergeBack string
	// Bypasses are the emergency bypasses made while the promotion ran;
	// the store carries them into production's switch.
	Bypasses []activities.BypassAnnouncement
}

// Promotion is the production phase of one candidate: production users'
// input and the risk report, the approval of an outage window, and inside
// the window: silences, backup, the switch of production to exactly the
// tested release, the merges of the config and monitoring repos, the
// outage tasks and a verification, with everything undone in reverse if a
// step fails; afterwards the report and the merge of production's
// hotfixes back to test.
func Promotion(ctx workflow.Context, in PromotionInput) (PromotionStatus, error) {
	if workflow.GetVersion(ctx, versionPromotionOutage, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return promotionV0(ctx, in)
	}
	p := &promotion{in: in, taskDone: map[string]string{}}
	p.trueState = workflow.GetVersion(ctx, versionPromotionTrueState, workflow.DefaultVersion, 1) == 1
	p.merger = &merger{resolved: map[string]string{}, status: p.setWaiting}
	p.notifyTurnsOn(ctx)
	if err := p.setup(ctx); err != nil {
		return p.st, err
	}
	err := p.run(ctx)
	if p.trueState && temporal.IsCanceledError(err) {
		p.canceled(ctx)
	}
	p.releaseTesting(ctx)
	p.awaitHandlers(ctx)
	if err == nil {
		if err := p.unsuccessful(ctx); err != nil {
			return p.st, err
		}
	}
	if err != nil && !temporal.IsCanceledError(err) {
		p.st.Error = err.Error()
		p.setWaiting(ctx, "nothing: the promotion has ended")
		return p.st, temporal.NewNonRetryableApplicationError(p.st.Error, ErrTypePromotionFailed, nil, p.st)
	}
	return p.st, err
}

type promotion struct {
	in   PromotionInput
	plan activities.PromotionPlan
	st   PromotionStatus
	appr *approval
	// windowOpen is set when the window has begun.
	windowOpen bool
	// decision answers "testing moved on": proceed or cancel.
	decision *ProceedRequest
	// taskDone maps a manual task to who reported it.
	taskDone map[string]string
	merger   *merger
	// outageEnded is set by end-outage.
	outageEnded bool
	// switchedTo is the release production was switched to.
	switchedTo string
	issues     int
	// trueState: versionPromotionTrueState's behaviour.
	trueState  bool
	planLoaded bool
	superseded workflow.ReceiveChannel
	// holdKey is the operation that froze testing for this promotion.
	holdKey string
	// supersededBy is the promotion this one gave way to.
	supersededBy *activities.Superseded
	notifyState
	// commands act on what the promotion waits for (setWaiting).
	commands []string
}

// DefaultWindow is an outage window's length when an approval gives only
// its start: production.window, or twice the candidate's estimated outage
// (an hour at least). The CLI signs the same end the workflow will use.
func DefaultWindow(configured, estimate time.Duration) time.Duration {
	if configured > 0 {
		return configured
	}
	return max(2*estimate, time.Hour)
}

func (p *promotion) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PromotionStatus, error) { return p.st, nil }); err != nil {
		return err
	}
	p.st.State, p.st.Approval.State = ApprovalPending, ApprovalPending
	p.appr = &approval{
		window: true,
		// The plan's window, or twice the estimate of the candidate (known
		// once it is loaded; an hour at least).
		defaultWindow: func() time.Duration { return DefaultWindow(p.plan.Window, p.st.Candidate.TotalEstimate) },
		started:       func() bool { return p.windowOpen },
		state:         &p.st.Approval,
		refuse:        p.refuse,
		decided:       func() {},
	}
	if p.trueState {
		// An approval may arrive before the plan names the approvers: it
		// waits for the plan instead of being refused.
		p.appr.ready = func() bool { return p.planLoaded }
		p.superseded = workflow.GetSignalChannel(ctx, activities.SignalSuperseded)
		if err := workflow.SetUpdateHandlerWithOptions(ctx, activities.UpdateSupersede, p.supersede,
			workflow.UpdateHandlerOptions{Validator: p.checkSupersede}); err != nil {
			return err
		}
	}
	if err := p.appr.register(ctx); err != nil {
		return err
	}
	if err := p.registerCommands(ctx); err != nil {
		return err
	}
	bypasses := workflow.GetSignalChannel(ctx, activities.SignalBypassApplied)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var b activities.BypassAnnouncement
			bypasses.Receive(ctx, &b)
			if !slices.ContainsFunc(p.st.Bypasses, func(k activities.BypassAnnouncement) bool { return k.Bypass == b.Bypass }) {
				p.st.Bypasses = append(p.st.Bypasses, b)
			}
		}
	})
	if err := workflow.ExecuteActivity(shortActivityCtx(ctx), configActs.PromotionPlan).Get(ctx, &p.plan); err != nil {
		return stepError("read the promotion plan", err)
	}
	p.appr.approvers = p.plan.Approvers
	p.planLoaded = true
	return nil
}

func (p *promotion) run(ctx workflow.Context) error {
	if err := p.loadCandidate(ctx); err != nil {
		return err
	}
	if p.trueState && len(p.plan.Approvers) == 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("no approvers are configured (production.approvers): nobody could approve "+
			"this promotion; name them in the configuration, restart the workers, then run osflow promote --release %s", p.st.Release),
			activities.ErrTypeInvalidInput, nil)
	}
	if p.trueState {
		if err := p.notServedYet(ctx); err != nil {
			return err
		}
		p.supersedeOthers(ctx)
		p.holdTesting(ctx)
	}
	p.setState(ctx, ApprovalPending)
	p.setPhase(ctx, PhaseAwaitingApproval)
	p.setWaiting(ctx, "the risk report, then an approval")
	p.gatherInput(ctx)
	if err := p.awaitApproval(ctx); err != nil {
		return err
	}
	if p.supersededBy != nil {
		return p.endSuperseded(ctx)
	}
	if p.st.Approval.State == ApprovalRejected {
		return p.rejected(ctx)
	}
	p.setState(ctx, ApprovalApproved)
	p.notifyApproved(ctx)
	if err := p.awaitWindow(ctx); err != nil || p.st.State != ApprovalApproved {
		return err
	}
	p.notifyWindowStart(ctx)
	if ok, err := p.testingStillMatches(ctx); err != nil || !ok {
		return err
	}
	p.setState(ctx, ApprovalRunning)
	if err := p.outage(ctx); err != nil {
		return p.compensate(ctx, err)
	}
	return p.afterwards(ctx)
}

// loadCandidate takes the candidate from the input, or reads the one the
// test cycle recorded for the release.
func (p *promotion) loadCandidate(ctx workflow.Context) error {
	c := p.in.Candidate
	release := p.in.Release
	if release == "" {
		release = c.Release
	}
	if release == "" {
		return temporal.NewNonRetryableApplicationError("a promotion needs a release: start it with {\"Release\": \"...\"}", activities.ErrTypeInvalidInput, nil)
	}
	if c.Release == "" {
		err := workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.LoadCandidate,
			activities.ReleaseInput{Release: release}).Get(ctx, &c)
		if err != nil {
			return stepError("load the candidate of "+release, err)
		}
	}
	if c.Release != release {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the candidate is of release %s, not %s", c.Release, release), activities.ErrTypeInvalidInput, nil)
	}
	p.st.Release, p.st.Candidate = release, c
	p.merger.release = release
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(release), AttrChannel.ValueSet(p.plan.ProductionChannel))
	return nil
}

// gatherInput lists production users' tickets and publishes the risk
// report. Neither stops the promotion: an approver can still decide on
// the candidate page, and the status says what is missing.
func (p *promotion) gatherInput(ctx workflow.Context) {
	if err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.UserTickets).Get(ctx, &p.st.Users); err != nil {
		p.note(ctx, "could not list production users' tickets: "+rootMessage(err))
	}
	risk := activities.RiskReport{
		Release: p.st.Release, Tasks: p.st.Candidate.Tasks, Estimate: p.st.Candidate.TotalEstimate,
		Tickets: p.st.Candidate.OpenTickets, Users: p.st.Users,
	}
	store := storeActivityCtx(ctx, p.plan.RepoTaskQueue)
	var prod activities.ChannelState
	pkg := workflow.ExecuteActivity(store, repoActs.PackageRisk, activities.DiffSummaryInput{From: p.plan.ProductionChannel, To: p.st.Release})
	inv := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.Inventory)
	git := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.GitChanges)
	cur := workflow.ExecuteActivity(store, repoActs.ChannelState, activities.ChannelStateInput{Channel: p.plan.ProductionChannel})
	var changes [][]activities.GitChange
	for _, f := range []struct {
		what string
		fut  workflow.Future
		into any
	}{{"the package diff", pkg, &risk.Packages}, {"the inventory", inv, &risk.Inventory}, {"the git changes", git, &changes}, {"production", cur, &prod}} {
		if err := f.fut.Get(ctx, f.into); err != nil {
			p.note(ctx, "risk report: could not read "+f.what+": "+rootMessage(err))
		}
	}
	if len(changes) == 2 {
		risk.Config, risk.Monitoring = changes[0], changes[1]
	}
	risk.Production = prod.Release
	p.st.Risk = &risk
	var pub activities.Published
	err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.PublishRisk, p.riskInput(ctx, "risk-report")).Get(ctx, &pub)
	if err != nil {
		p.note(ctx, "could not publish the risk report: "+rootMessage(err))
	}
	p.st.RiskPage = pub.URL
	if p.st.RiskPage == "" {
		p.st.RiskPage = pub.Page
	}
}

// awaitApproval waits for approve-outage or reject-outage, reminding the
// approvers every remindEvery.
func (p *promotion) awaitApproval(ctx workflow.Context) error {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	signed := p.plan.RequireSigned
	p.setWaiting(ctx, fmt.Sprintf("approval by one of %s: %s", strings.Join(p.plan.Approvers, ", "), approveCommand(id, signed)),
		approveCommand(id, signed), rejectCommand(id, signed))
	decided := func() bool { return p.st.Approval.State != ApprovalPending }
	for n := 1; !decided(); n++ {
		if p.plan.RemindEvery <= 0 {
			return workflow.Await(ctx, decided)
		}
		ok, err := workflow.AwaitWithTimeout(ctx, p.plan.RemindEvery, decided)
		if err != nil || ok {
			return err
		}
		p.notify(ctx, fmt.Sprintf("reminder-%d", n), fmt.Sprintf("osflow: release %s still waits for approval", p.st.Release),
			fmt.Sprintf("Promotion %s of release %s has waited for approval since %s.\n%s\n",
				id, p.st.Release, workflow.GetInfo(ctx).WorkflowStartTime.UTC().Format(time.RFC1123), p.st.WaitingFor))
	}
	return nil
}

func (p *promotion) rejected(ctx workflow.Context) error {
	p.setState(ctx, ApprovalRejected)
	p.setPhase(ctx, ApprovalRejected)
	p.setWaiting(ctx, "nothing: rejected")
	p.notify(ctx, "rejected", fmt.Sprintf("osflow: release %s rejected for production", p.st.Release),
		fmt.Sprintf("%s rejected release %s: %s\nThe candidate stays available: osflow promote --release %s\n",
			p.st.Approval.By, p.st.Release, p.st.Approval.Comment, p.st.Release))
	return nil
}

// awaitWindow waits on a durable timer for the window start; a rejection
// before it cancels the outage.
func (p *promotion) awaitWindow(ctx workflow.Context) error {
	p.setPhase(ctx, PhaseAwaitingWindow)
	p.setWaiting(ctx, fmt.Sprintf("the outage window at %s (approved by %s; reject-outage cancels it until then)",
		p.st.Approval.WindowStart.UTC().Format(time.RFC3339), p.st.Approval.By), rejectCommand(workflow.GetInfo(ctx).WorkflowExecution.ID, p.plan.RequireSigned))
	if wait := p.st.Approval.WindowStart.Sub(workflow.Now(ctx)); wait > 0 {
		if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return p.st.Approval.State == ApprovalRejected }); err != nil {
			return err
		}
	}
	if p.st.Approval.State == ApprovalRejected {
		p.setState(ctx, ApprovalCanceled)
		p.setPhase(ctx, ApprovalCanceled)
		p.setWaiting(ctx, "nothing: canceled before its window")
		p.notify(ctx, "canceled", fmt.Sprintf("osflow: outage of release %s canceled", p.st.Release),
			fmt.Sprintf("%s canceled the approved outage of %s: %s\n", p.st.Approval.By, p.st.Release, p.st.Approval.Comment))
		return nil
	}
	p.windowOpen = true
	if !workflow.Now(ctx).Before(p.st.Approval.WindowEnd) {
		p.setState(ctx, ApprovalCanceled)
		p.setPhase(ctx, ApprovalCanceled)
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the window ended at %s before the outage could begin; approve a new one",
			p.st.Approval.WindowEnd.UTC().Format(time.RFC3339)), activities.ErrTypeInvalidInput, nil)
	}
	return nil
}

// testingStillMatches checks at the window's start that testing still
// serves the candidate; if testing has moved on, an approver decides
// whether the tested candidate goes to production anyway.
func (p *promotion) testingStillMatches(ctx workflow.Context) (bool, error) {
	var st activities.ChannelState
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.ChannelState,
		activities.ChannelStateInput{Channel: p.plan.TestingChannel}).Get(ctx, &st)
	if err != nil {
		return false, stepError("read the testing channel", err)
	}
	// The candidate, or the candidate with audited bypasses (chained,
	// since promotion-true-state).
	if st.Release == p.st.Release || st.Base == p.st.Release || p.trueState && slices.Contains(st.Chain, p.st.Release) {
		return true, nil
	}
	p.setPhase(ctx, PhaseAwaitingDecision)
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	as := asApprover(p.plan.RequireSigned)
	proceed, cancel := fmt.Sprintf("osflow proceed %s %s", id, as), fmt.Sprintf("osflow proceed %s --cancel %s", id, as)
	p.setWaiting(ctx, fmt.Sprintf("a decision: testing serves %s now, not the candidate %s. "+
		"An approver runs %s (promote the tested candidate) or %s", st.Release, p.st.Release, proceed, cancel), proceed, cancel)
	p.notify(ctx, "testing-moved", fmt.Sprintf("osflow: testing moved on before the outage of %s", p.st.Release), p.st.WaitingFor)
	decided := func() bool { return p.decision != nil }
	if !p.trueState {
		if err := workflow.Await(ctx, decided); err != nil {
			return false, err
		}
	} else if ok, err := workflow.AwaitWithTimeout(ctx, p.st.Approval.WindowEnd.Sub(workflow.Now(ctx)), decided); err != nil {
		return false, err
	} else if !ok {
		p.setState(ctx, ApprovalCanceled)
		p.setPhase(ctx, ApprovalCanceled)
		return false, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the window ended at %s while waiting for a decision; production was not touched. Start a new promotion: osflow promote --release %s",
			p.st.Approval.WindowEnd.UTC().Format(time.RFC3339), p.st.Release), activities.ErrTypeInvalidInput, nil)
	}
	if !p.decision.Proceed {
		p.setState(ctx, ApprovalCanceled)
		p.setPhase(ctx, ApprovalCanceled)
		p.setWaiting(ctx, "nothing: canceled at the window's start")
		return false, nil
	}
	return true, nil
}

// outage runs the steps inside the window, each keyed so that a retry or
// a worker restart never does one twice.
func (p *promotion) outage(ctx workflow.Context) error {
	p.setPhase(ctx, PhaseOutage)
	p.setWaiting(ctx, "the outage steps (osflow status, or this workflow's pending activities)")
	a := p.st.Approval
	id := workflow.GetInfo(ctx).WorkflowExecution.ID

	if err := p.step(ctx, "silence monitoring", func() (string, error) {
		err := workflow.ExecuteActivity(silenceCtx(ctx), promotionActs.Silence, activities.SilenceInput{
			Key: runKey(ctx, "silence"), Start: workflow.Now(ctx), End: a.WindowEnd,
			Comment: fmt.Sprintf("osflow outage of release %s (%s, approved by %s)", p.st.Release, id, a.By),
		}).Get(ctx, &p.st.Silences)
		return fmt.Sprintf("%d silences until %s", len(p.st.Silences), a.WindowEnd.UTC().Format(time.RFC3339)), err
	}); err != nil {
		return err
	}
	if err := p.step(ctx, "backup", func() (string, error) {
		err := workflow.ExecuteActivity(backupCtx(ctx), promotionActs.RunBackup, activities.KeyInput{Key: runKey(ctx, "backup")}).Get(ctx, &p.st.Backup)
		return fmt.Sprintf("job %s: %s", p.st.Backup.JobID, p.st.Backup.Status), err
	}); err != nil {
		return err
	}
	if err := p.step(ctx, "switch production", func() (string, error) { return p.switchProduction(ctx) }); err != nil {
		return err
	}
	for _, r := range p.plan.Repos {
		if err := p.step(ctx, "merge "+r.Name, func() (string, error) { return p.merge(ctx, r) }); err != nil {
			return err
		}
	}
	for _, t := range p.plan.Tasks {
		if err := p.step(ctx, "task "+t.Name, func() (string, error) { return p.task(ctx, t) }); err != nil {
			return err
		}
	}
	return p.step(ctx, "verify production", func() (string, error) { return p.verify(ctx) })
}

func (p *promotion) step(ctx workflow.Context, name string, fn func() (string, error)) error {
	err := runStep(ctx, &p.st.Steps, name, fn)
	p.notifyStep(ctx)
	return err
}

// runStep runs one step of a promotion or a bypass and records it, timed,
// in steps: what the status shows and the outcome report lists.
func runStep(ctx workflow.Context, steps *[]Step, name string, fn func() (string, error)) error {
	*steps = append(*steps, Step{Name: name, Status: "running", Started: workflow.Now(ctx)})
	i := len(*steps) - 1
	detail, err := fn()
	s := &(*steps)[i]
	s.Ended, s.Detail, s.Status = workflow.Now(ctx), detail, "done"
	if err != nil {
		s.Status, s.Detail = "failed", rootMessage(err)
		return stepError(name, err)
	}
	return nil
}

func (p *promotion) switchProduction(ctx workflow.Context) (string, error) {
	a := p.st.Approval
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	key := runKey(ctx, "switch-production")
	var sw activities.ChannelSwitch
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.SwitchChannel, activities.SwitchChannelInput{
		Channel: p.plan.ProductionChannel, Release: p.st.Release, Key: key,
		Actor:  fmt.Sprintf("%s (approved by %s)", id, a.By),
		Reason: fmt.Sprintf("outage window %s to %s: %s", a.WindowStart.UTC().Format(time.RFC3339), a.WindowEnd.UTC().Format(time.RFC3339), a.Comment),
	}).Get(ctx, &sw)
	if err != nil {
		return "", err
	}
	if sw.Frozen {
		return "", fmt.Errorf("production is frozen; it was not switched (osflow status shows who froze it)")
	}
	p.st.Previous, p.st.Switched = sw.From, sw.Changed
	// Recorded under the release switched to: the candidate, or the
	// candidate with bypasses the store carried into it.
	p.switchedTo = sw.To
	err = workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.RecordPromotion, activities.PromotionRecordInput{
		Release: sw.To, Key: key, Promotion: id, Run: workflow.GetInfo(ctx).WorkflowExecution.RunID,
		Channel: p.plan.ProductionChannel, Approver: a.By, Comment: a.Comment, WindowStart: a.WindowStart, WindowEnd: a.WindowEnd,
		Signed: lastApproval(a.Proofs),
	}).Get(ctx, nil)
	if err != nil {
		return "", stepError("record the promotion in the release's provenance", err)
	}
	return fmt.Sprintf("%s: %s -> %s", p.plan.ProductionChannel, orNothingYet(sw.From), sw.To), nil
}

// merge merges one repo's test branch into production; a conflict files
// a ticket and waits for conflict-resolved, then merges again.
func (p *promotion) merge(ctx workflow.Context, r activities.GitRepoPlan) (string, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	rec, err := p.merger.merge(ctx, r, r.Test, r.Production,
		fmt.Sprintf("osflow: promote release %s to %s (%s, approved by %s)", p.st.Release, r.Production, id, p.st.Approval.By), "promotion")
	if err != nil {
		return "", err
	}
	p.setWaiting(ctx, "the outage steps")
	p.st.Merges = append(p.st.Merges, rec)
	if rec.Commit == "" {
		return "nothing to merge", nil
	}
	return "merge commit " + rec.Commit, nil
}

// task runs one outage task on production, or waits for a manual one.
func (p *promotion) task(ctx workflow.Context, t activities.TaskPlan) (string, error) {
	timing := activities.TaskTiming{Task: t.Name, Manual: t.Manual, Where: t.Where, Expected: t.Expected}
	start := workflow.Now(ctx)
	if t.Manual {
		id := workflow.GetInfo(ctx).WorkflowExecution.ID
		done := fmt.Sprintf("osflow task-done %s --promotion %s --as NAME", t.Name, id)
		p.setWaiting(ctx, fmt.Sprintf("manual task %s: %s", t.Name, done), done)
		if err := workflow.Await(ctx, func() bool { return p.taskDone[t.Name] != "" }); err != nil {
			return "", err
		}
		timing.By, timing.Measured = p.taskDone[t.Name], workflow.Now(ctx).Sub(start)
	} else {
		var res activities.TaskResult
		err := workflow.ExecuteActivity(taskActivityCtx(ctx, t), testActs.RunTask, activities.RunTaskInput{
			Task: t.Name, Release: p.st.Release, Channel: p.plan.ProductionChannel,
		}).Get(ctx, &res)
		if err != nil {
			return "", err
		}
		timing.Measured = res.Duration
	}
	p.st.Tasks = append(p.st.Tasks, timing)
	return fmt.Sprintf("%s (expected %s)", timing.Measured.Round(time.Second), t.Expected), nil
}

// verify runs the verification suites against production; any failing
// case fails the outage.
func (p *promotion) verify(ctx workflow.Context) (string, error) {
	var failed []string
	for _, suite := range p.plan.Verify {
		var res activities.SuiteResult
		err := workflow.ExecuteActivity(suiteActivityCtx(ctx, p.plan.SuiteTimeouts[suite]), testActs.RunSuite, activities.RunSuiteInput{
			Suite: suite, Channel: p.plan.ProductionChannel, Release: p.st.Release, Bounded: true,
		}).Get(ctx, &res)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s could not run: %s", suite, rootMessage(err)))
			continue
		}
		for _, c := range res.Cases {
			if c.Failed() {
				failed = append(failed, fmt.Sprintf("%s: %s", c.Fingerprint(), firstLine(c.Message)))
			}
		}
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("production fails verification: %s", strings.Join(failed, "; "))
	}
	return fmt.Sprintf("%d suites passed", len(p.plan.Verify)), nil
}

// compensate undoes the outage in reverse after a failed step: the merges
// are reverted with revert commits (never a force-push) and production
// goes back to its previous release. Monitoring stays silenced until
// end-outage or the window's end, so the rollback pages nobody.
func (p *promotion) compensate(ctx workflow.Context, cause error) error {
	p.st.Error = cause.Error()
	p.setPhase(ctx, PhaseCompensating)
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	// The undo must run even if the promotion is being cancelled.
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	for i := len(p.st.Merges) - 1; i >= 0; i-- {
		m := p.st.Merges[i]
		if m.Commit == "" {
			continue
		}
		_ = p.step(dctx, "revert merge in "+m.Repo, func() (string, error) {
			var head string
			err := workflow.ExecuteActivity(ticketActivityCtx(dctx), promotionActs.Revert, activities.RevertInput{
				Repo: m.Repo, Branch: m.Into, Commit: m.Commit,
				Message: fmt.Sprintf("osflow: revert the promotion of %s (%s failed: %s)", p.st.Release, id, firstLine(rootMessage(cause))),
			}).Get(dctx, &head)
			return "revert commit " + head, err
		})
	}
	outcome := ApprovalRolledBack
	if p.st.Switched {
		if p.st.Previous == "" {
			p.note(dctx, "production served nothing before this promotion: it stays at "+p.st.Release)
		} else if err := p.step(dctx, "roll back production", func() (string, error) {
			var sw activities.ChannelSwitch
			err := workflow.ExecuteActivity(storeActivityCtx(dctx, p.plan.RepoTaskQueue), repoActs.RollbackChannel, activities.RollbackInput{
				Channel: p.plan.ProductionChannel, To: p.st.Previous, Key: runKey(dctx, "rollback-production"),
				Actor: id, Reason: "outage of " + p.st.Release + " failed: " + firstLine(rootMessage(cause)),
			}).Get(dctx, &sw)
			return fmt.Sprintf("%s: %s -> %s", p.plan.ProductionChannel, sw.From, sw.To), err
		}); err != nil {
			p.note(dctx, "PRODUCTION WAS NOT ROLLED BACK: "+err.Error())
		}
		_ = workflow.ExecuteActivity(storeActivityCtx(dctx, p.plan.RepoTaskQueue), repoActs.RecordPromotion, activities.PromotionRecordInput{
			Release: p.switchedTo, Key: runKey(dctx, "switch-production"), Promotion: id, Run: workflow.GetInfo(dctx).WorkflowExecution.RunID,
			Channel: p.plan.ProductionChannel, Approver: p.st.Approval.By, Outcome: ApprovalRolledBack,
		}).Get(dctx, nil)
	}
	var t activities.TicketRef
	_ = workflow.ExecuteActivity(ticketActivityCtx(dctx), promotionActs.FileTicket, activities.TicketInput{
		Fingerprint: "outage/" + p.st.Release,
		Title:       fmt.Sprintf("outage of release %s failed and was rolled back", p.st.Release),
		Body:        fmt.Sprintf("Promotion %s failed: %s\n\nSteps:\n%s", id, rootMessage(cause), renderSteps(p.st.Steps)),
		Key:         runKey(dctx, "failure-ticket"),
	}).Get(dctx, &t)
	if t.ID != "" {
		p.st.Issues = append(p.st.Issues, t)
	}
	p.notify(dctx, "failed", fmt.Sprintf("osflow: outage of release %s FAILED and was rolled back", p.st.Release),
		fmt.Sprintf("%s\n\nSteps:\n%s\nTicket: %s %s\nMonitoring stays silenced until end-outage or %s.\n",
			rootMessage(cause), renderSteps(p.st.Steps), t.ID, t.URL, p.st.Approval.WindowEnd.UTC().Format(time.RFC3339)))
	p.setState(dctx, outcome)
	p.endSilencesAtWindowEnd(dctx)
	return cause
}

// endSilencesAtWindowEnd keeps monitoring silenced until end-outage or the
// window's end, whichever comes first, then ends the silences.
func (p *promotion) endSilencesAtWindowEnd(ctx workflow.Context) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	end := fmt.Sprintf("osflow end-outage %s --as NAME", id)
	p.setWaiting(ctx, fmt.Sprintf("end-outage or the window's end at %s to end the silences: %s",
		p.st.Approval.WindowEnd.UTC().Format(time.RFC3339), end), end)
	if wait := p.st.Approval.WindowEnd.Sub(workflow.Now(ctx)); wait > 0 {
		_, _ = workflow.AwaitWithTimeout(ctx, wait, func() bool { return p.outageEnded })
	}
	p.endSilences(ctx)
}

func (p *promotion) endSilences(ctx workflow.Context) {
	if workflow.GetVersion(ctx, versionSilencesEnded, workflow.DefaultVersion, 1) >= 1 {
		_ = p.step(ctx, "end silences", func() (string, error) {
			var res activities.UnsilenceResult
			err := workflow.ExecuteActivity(silenceCtx(ctx), promotionActs.Unsilence, activities.KeyInput{Key: runKey(ctx, "silence")}).Get(ctx, &res)
			var app *temporal.ApplicationError
			if errors.As(err, &app) && app.Type() == activities.ErrTypeSilencesRemain && app.HasDetails() && app.Details(&res) == nil {
				// Still in force after every retry: the step fails and says
				// which, and how to end them.
				err = errors.New(res.Summary(p.st.Silences))
			}
			return res.Summary(p.st.Silences), err
		})
		return
	}
	_ = p.step(ctx, "end silences", func() (string, error) {
		err := workflow.ExecuteActivity(silenceCtx(ctx), promotionActs.Unsilence, activities.KeyInput{Key: runKey(ctx, "silence")}).Get(ctx, nil)
		return fmt.Sprintf("%d silences ended", len(p.st.Silences)), err
	})
}

// afterwards ends the silences, reports actual against expected durations,
// publishes the outcome and starts the merge of production's hotfixes back
// to test.
func (p *promotion) afterwards(ctx workflow.Context) error {
	p.setPhase(ctx, PhaseAfterwards)
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	p.endSilences(ctx)
	report := renderOutcome(p.st, id)
	_ = workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.PublishOutcome, activities.OutcomeInput{
		Release: p.st.Release, Promotion: id, Page: report, Key: runKey(ctx, "outcome"),
	}).Get(ctx, nil)
	serves := p.st.Release
	if p.trueState {
		serves = p.productionNow(ctx)
	}
	p.notify(ctx, "done", fmt.Sprintf("osflow: production now serves release %s", serves), report)
	_ = workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.RecordPromotion, activities.PromotionRecordInput{
		Release: p.switchedTo, Key: runKey(ctx, "switch-production"), Promotion: id, Run: workflow.GetInfo(ctx).WorkflowExecution.RunID,
		Channel: p.plan.ProductionChannel, Approver: p.st.Approval.By, Outcome: ApprovalDone,
	}).Get(ctx, nil)
	p.st.MergeBack = MergeBackWorkflowID(p.st.Release)
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        p.st.MergeBack,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	}), MergeBack, MergeBackInput{Release: p.st.Release, Promotion: id, Repos: p.plan.Repos})
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil && !isAlreadyStarted(err) {
		p.note(ctx, "could not start the merge-back: "+rootMessage(err))
	}
	p.setState(ctx, ApprovalDone)
	p.setPhase(ctx, ApprovalDone)
	p.setWaiting(ctx, "nothing: production serves "+serves+"; hotfixes merge back in "+p.st.MergeBack)
	return nil
}

func (p *promotion) notify(ctx workflow.Context, step, subject, text string) {
	err := workflow.ExecuteActivity(shortActivityCtx(ctx), promotionActs.Notify, activities.NotifyInput{
		Key: runKey(ctx, "notify-"+step), Subject: subject, Text: text,
	}).Get(ctx, nil)
	if err != nil {
		p.note(ctx, "could not notify ("+step+"): "+rootMessage(err))
	}
}

// A promotion keeps its newest maxComments notes, each at most
// maxCommentLen bytes: the status is the workflow's result and its query
// answer, and Temporal refuses a payload over 2 MiB (1,000 comments of
// 4,000 characters were 4 MB). Bounding the list changes no command.
const (
	maxComments   = 100
	maxCommentLen = 4000
)

// addNote adds a note to the status, within the bounds.
func (p *promotion) addNote(n Note) {
	if len(n.Text) > maxCommentLen {
		n.Text = strings.ToValidUTF8(n.Text[:maxCommentLen], "") + "…"
	}
	if len(p.st.Comments) >= maxComments {
		p.st.CommentsDropped++
	}
	p.st.Comments = appendBounded(p.st.Comments, n, maxComments)
}

// note records something an operator must know in the status.
func (p *promotion) note(ctx workflow.Context, text string) {
	p.addNote(Note{By: "osflow", Text: text, At: workflow.Now(ctx)})
	p.showDetails(ctx)
	workflow.GetLogger(ctx).Warn(text)
}

func (p *promotion) refuse(ctx workflow.Context, name, by string, err error) {
	msg := fmt.Sprintf("%s %s from %q refused: %v", workflow.Now(ctx).UTC().Format(time.RFC3339), name, by, err)
	p.st.Refused = appendBounded(p.st.Refused, msg, maxRefusals)
	workflow.GetLogger(ctx).Warn("operator signal refused", "signal", name, "by", by, "error", err)
}

func (p *promotion) setState(ctx workflow.Context, state string) {
	p.st.State = state
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrApproval.ValueSet(state))
	p.showDetails(ctx)
}

func (p *promotion) setPhase(ctx workflow.Context, phase string) {
	p.st.Phase = phase
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
	p.showDetails(ctx)
}

func silenceCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, MaximumInterval: time.Minute, MaximumAttempts: 20,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
		},
	})
}

// backupCtx gives a backup job hours; its progress heartbeats at every
// poll of the job.
func backupCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 8 * time.Hour,
		HeartbeatTimeout:    5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 30 * time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
		},
	})
}

func renderSteps(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "- %s: %s (%s) %s\n", s.Name, s.Status, s.Ended.Sub(s.Started).Round(time.Second), s.Detail)
	}
	return b.String()
}

// renderOutcome is the outage report: each task's actual against expected
// duration, and every step.
func renderOutcome(st PromotionStatus, id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Outage of release %s\n\nPromotion `%s`, approved by %s (%s), window %s to %s.\n\n",
		st.Release, id, st.Approval.By, st.Approval.Comment,
		st.Approval.WindowStart.UTC().Format(time.RFC3339), st.Approval.WindowEnd.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Production: %s -> %s.\n\n## Tasks\n\n| task | expected | rehearsed | actual | by |\n|---|---|---|---|---|\n", orNothingYet(st.Previous), st.Release)
	rehearsed := map[string]time.Duration{}
	for _, t := range st.Candidate.Tasks {
		rehearsed[t.Task] = t.Measured
	}
	for _, t := range st.Tasks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t.Task, t.Expected, rehearsed[t.Task].Round(time.Second), t.Measured.Round(time.Second), t.By)
	}
	b.WriteString("\n## Steps\n\n" + renderSteps(st.Steps))
	if len(st.Issues) > 0 {
		b.WriteString("\n## Issues met during the outage\n\n")
		for _, t := range st.Issues {
			fmt.Fprintf(&b, "- %s %s\n", t.ID, t.Title)
		}
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func orNothingYet(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}
