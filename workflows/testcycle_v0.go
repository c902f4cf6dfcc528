package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// testCycleV0 is TestCycle as it was before version 1 of
// versionCycleReconcile: runs started by that code replay and go on with it
// until their next continue-as-new, which starts the current code. Do not
// change it; delete it once no site can have such a run (see README,
// "Upgrading osflow").
//
// It follows the testing channel for as long as osflow runs: it
// tests every new testing release (and re-tests on an interval), files
// failures as tickets, and when the ticket trend passes the gate it
// rehearses the outage, assembles the candidate and starts its promotion.
func testCycleV0(ctx workflow.Context, state TestCycleState) error {
	c := &testCycleV0Impl{state: state}
	if err := c.setup(ctx); err != nil {
		return err
	}
	return c.run(ctx)
}

type testCycleV0Impl struct {
	state   TestCycleState
	plan    activities.TestPlan
	updates workflow.ReceiveChannel
	tasks   workflow.ReceiveChannel
	freezes workflow.ReceiveChannel
}

func (c *testCycleV0Impl) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (TestCycleState, error) {
		return c.state, nil
	}); err != nil {
		return err
	}
	c.updates = workflow.GetSignalChannel(ctx, SignalTestingUpdated)
	c.tasks = workflow.GetSignalChannel(ctx, SignalTaskDone)
	c.freezes = workflow.GetSignalChannel(ctx, SignalFreeze)
	// The plan is read once per run: a configuration change reaches the
	// cycle at its next continue-as-new.
	err := workflow.ExecuteActivity(c.localCtx(ctx), configActs.TestPlan).Get(ctx, &c.plan)
	if err != nil {
		return fmt.Errorf("read test plan: %w", err)
	}
	if c.state.Phase == "" {
		c.setPhase(ctx, PhaseAwaitingRelease)
	}
	return nil
}

func (c *testCycleV0Impl) run(ctx workflow.Context) error {
	for {
		c.drain(ctx)
		if c.state.PendingFreeze != nil {
			c.applyFreeze(ctx)
			continue
		}
		if c.state.Pending == "" && !c.roundDue(ctx) {
			c.waitForWork(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if c.state.Pending != "" {
			c.state.Current, c.state.Pending = c.state.Pending, ""
			c.state.CurrentSince = workflow.Now(ctx)
		}
		c.round(ctx)
		if c.state.Gate.Passed && c.state.Promoted != c.state.Current {
			c.promote(ctx)
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return c.continueAsNew(ctx)
		}
	}
}

// continueAsNew starts a fresh run with the state. Signals still in the
// channels are drained into the state first, or they would be lost.
func (c *testCycleV0Impl) continueAsNew(ctx workflow.Context) error {
	c.drain(ctx)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, TestCycleWorkflowType, c.state)
}

// drain takes every waiting signal without blocking.
func (c *testCycleV0Impl) drain(ctx workflow.Context) {
	for {
		var u activities.TestingUpdated
		var f FreezeRequest
		var d TaskDone
		switch {
		case c.updates.ReceiveAsync(&u):
			c.recordRelease(ctx, u)
		case c.freezes.ReceiveAsync(&f):
			c.state.PendingFreeze = &f
		case c.tasks.ReceiveAsync(&d):
			c.ignoreTaskDone(ctx, d)
		default:
			return
		}
	}
}

// stateSelector listens for the signals that only change state: a new
// release waits in Pending, a freeze request is applied at the loop's top.
func (c *testCycleV0Impl) stateSelector(ctx workflow.Context) workflow.Selector {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(c.updates, func(ch workflow.ReceiveChannel, _ bool) {
		var u activities.TestingUpdated
		ch.Receive(ctx, &u)
		c.recordRelease(ctx, u)
	})
	sel.AddReceive(c.freezes, func(ch workflow.ReceiveChannel, _ bool) {
		var f FreezeRequest
		ch.Receive(ctx, &f)
		c.state.PendingFreeze = &f
	})
	return sel
}

// waitForWork blocks until a signal arrives or the next round is due.
func (c *testCycleV0Impl) waitForWork(ctx workflow.Context) {
	sel := c.stateSelector(ctx)
	sel.AddReceive(c.tasks, func(ch workflow.ReceiveChannel, _ bool) {
		var d TaskDone
		ch.Receive(ctx, &d)
		c.ignoreTaskDone(ctx, d)
	})
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	if c.state.Current != "" {
		wait := c.state.LastRoundAt.Add(c.plan.RoundInterval).Sub(workflow.Now(ctx))
		if wait < time.Second {
			wait = time.Second
		}
		sel.AddFuture(workflow.NewTimer(timerCtx, wait), func(workflow.Future) {})
	}
	sel.Select(ctx)
}

func (c *testCycleV0Impl) roundDue(ctx workflow.Context) bool {
	return c.state.Current != "" && c.plan.RoundInterval > 0 &&
		!workflow.Now(ctx).Before(c.state.LastRoundAt.Add(c.plan.RoundInterval))
}

// recordRelease takes a new testing release. While testing is frozen no
// new release reaches it, so a signal then is ignored; a repeated signal
// for a known release changes nothing, so SignalWithStart retries are harmless.
func (c *testCycleV0Impl) recordRelease(ctx workflow.Context, u activities.TestingUpdated) {
	if u.Release == "" || u.Release == c.state.Current || u.Release == c.state.Pending {
		return
	}
	if c.state.Frozen {
		workflow.GetLogger(ctx).Warn("testing is frozen; ignoring new release", "release", u.Release)
		return
	}
	c.state.Pending = u.Release
	c.state.Releases = appendBounded(c.state.Releases, u, maxRememberedReleases)
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(u.Release), AttrChannel.ValueSet(c.plan.TestingChannel))
	workflow.GetLogger(ctx).Info("testing updated", "release", u.Release, "actor", u.Actor)
}

func (c *testCycleV0Impl) ignoreTaskDone(ctx workflow.Context, d TaskDone) {
	workflow.GetLogger(ctx).Warn("task-done received while no rehearsal waits for it; ignored", "task", d.Task, "by", d.By)
}

// applyFreeze records the freeze in the store, where DailySync sees it.
func (c *testCycleV0Impl) applyFreeze(ctx workflow.Context) {
	req := *c.state.PendingFreeze
	c.state.PendingFreeze = nil
	err := workflow.ExecuteActivity(c.storeCtx(ctx), repoActs.SetFreeze, activities.FreezeInput{
		Channel: c.plan.TestingChannel, Frozen: req.Frozen, Actor: req.Actor, Reason: req.Reason,
	}).Get(ctx, nil)
	if err != nil {
		c.state.LastError = fmt.Sprintf("freeze=%v by %s: %v", req.Frozen, req.Actor, err)
		workflow.GetLogger(ctx).Error("freeze failed", "error", err)
		return
	}
	c.state.Frozen = req.Frozen
	c.state.FrozenBy = ""
	if req.Frozen {
		c.state.FrozenBy = req.Actor
		c.state.Pending = ""
	}
}

// round runs every suite on the current release and files the results.
// A failure of the round itself (tracker down, suite broken after retries)
// is recorded and the round runs again at the next trigger: the cycle
// lives for weeks and must not die with one bad hour.
func (c *testCycleV0Impl) round(ctx workflow.Context) {
	c.setPhase(ctx, PhaseTesting)
	now := workflow.Now(ctx)
	c.state.LastRoundAt = now
	c.state.RoundsRun++
	r := Round{Release: c.state.Current, At: now}

	results := make([]activities.SuiteResult, 0, len(c.plan.Suites))
	suiteCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Minute, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
		},
	})
	for _, suite := range c.plan.Suites {
		var res activities.SuiteResult
		err := workflow.ExecuteActivity(suiteCtx, testActs.RunSuite, activities.RunSuiteInput{
			Suite: suite, Channel: c.plan.TestingChannel, Release: c.state.Current,
		}).Get(ctx, &res)
		// The suite's own run is a case too: a suite that cannot run is a
		// failure to track, never a clean round, and its ticket closes
		// when the suite runs again.
		run := activities.CaseResult{Suite: suite, Name: SuiteRunCase, Status: "passed"}
		if err != nil {
			res = activities.SuiteResult{Suite: suite}
			run.Status, run.Message = "error", rootMessage(err)
		}
		res.Cases = append(res.Cases, run)
		results = append(results, res)
	}

	var sum activities.TicketSummary
	err := workflow.ExecuteActivity(c.ticketCtx(ctx), ticketActs.ProcessResults, activities.ProcessResultsInput{
		Release: c.state.Current, Channel: c.plan.TestingChannel, Results: results,
	}).Get(ctx, &sum)
	if err != nil {
		r.Error = rootMessage(err)
		c.state.LastError = r.Error
		c.state.Rounds = appendBounded(c.state.Rounds, r, maxRememberedRounds)
		c.state.Gate = EvaluateGate(GateInput{Plan: c.plan, CleanStreak: c.state.CleanStreak, Blockers: c.state.Blockers, Soaked: now.Sub(c.state.CurrentSince), LastRoundFailed: true})
		c.setPhase(ctx, PhaseError)
		return
	}
	r.Tickets = sum
	c.state.LastError = ""
	c.state.Rounds = appendBounded(c.state.Rounds, r, maxRememberedRounds)
	if len(sum.New) == 0 {
		c.state.CleanStreak++
	} else {
		c.state.CleanStreak = 0
	}
	c.state.OpenTickets, c.state.Blockers = sum.Open, sum.Blockers
	c.state.Gate = EvaluateGate(GateInput{Plan: c.plan, CleanStreak: c.state.CleanStreak, Blockers: sum.Blockers, Soaked: now.Sub(c.state.CurrentSince)})
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrOpenTickets.ValueSet(int64(sum.Open)))
	c.setPhase(ctx, PhaseWaiting)
}

// promote rehearses the outage on the test cluster, assembles the
// candidate and starts its promotion.
func (c *testCycleV0Impl) promote(ctx workflow.Context) {
	release := c.state.Current
	timings, ok := c.rehearse(ctx)
	if !ok {
		return
	}
	c.setPhase(ctx, PhaseCandidate)
	var diff activities.DiffSummary
	err := workflow.ExecuteActivity(c.storeCtx(ctx), repoActs.DiffSummary, activities.DiffSummaryInput{
		From: c.plan.ProductionChannel, To: release,
	}).Get(ctx, &diff)
	if err != nil {
		c.fail(ctx, "diff against production", err)
		return
	}
	var cand activities.Candidate
	err = workflow.ExecuteActivity(c.ticketCtx(ctx), candidateActs.Assemble, activities.CandidateInput{
		Release: release, Production: c.plan.ProductionChannel, Diff: diff, Tasks: timings, Rounds: c.state.RoundsRun,
	}).Get(ctx, &cand)
	if err != nil {
		c.fail(ctx, "assemble candidate", err)
		return
	}
	c.state.Candidate = &cand
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        PromotionWorkflowID(release),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	}), Promotion, PromotionInput{Candidate: cand})
	var started workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(ctx, &started); err != nil && !isAlreadyStarted(err) {
		c.fail(ctx, "start promotion", err)
		return
	}
	c.state.Promoted = release
	c.state.CleanStreak = 0
	c.state.Gate = Gate{}
	workflow.GetLogger(ctx).Info("candidate ready; promotion started", "release", release, "promotion", PromotionWorkflowID(release))
}

// rehearse runs the outage tasks against the test cluster in order and
// measures each; a manual task waits for its task-done signal.
func (c *testCycleV0Impl) rehearse(ctx workflow.Context) ([]activities.TaskTiming, bool) {
	c.setPhase(ctx, PhaseRehearsal)
	c.state.Rehearsal = nil
	taskCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 24 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		// An outage task is not assumed idempotent: it runs once.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	for _, t := range c.plan.Tasks {
		timing := activities.TaskTiming{Task: t.Name, Manual: t.Manual, Where: t.Where, Expected: t.Expected}
		start := workflow.Now(ctx)
		if t.Manual {
			timing.By = c.waitTaskDone(ctx, t.Name)
			if ctx.Err() != nil {
				return nil, false
			}
			timing.Measured = workflow.Now(ctx).Sub(start)
		} else {
			var res activities.TaskResult
			err := workflow.ExecuteActivity(taskCtx, testActs.RunTask, activities.RunTaskInput{Task: t.Name, Release: c.state.Current}).Get(ctx, &res)
			if err != nil {
				c.taskFailed(ctx, t.Name, err)
				return nil, false
			}
			timing.Measured = res.Duration
		}
		c.state.Rehearsal = append(c.state.Rehearsal, timing)
	}
	return c.state.Rehearsal, true
}

// waitTaskDone blocks until an operator reports the task done, keeping
// other signals: a new release waits in Pending, a freeze is applied later.
func (c *testCycleV0Impl) waitTaskDone(ctx workflow.Context, task string) (by string) {
	c.state.WaitingFor = task
	defer func() { c.state.WaitingFor = "" }()
	for by == "" && ctx.Err() == nil {
		sel := c.stateSelector(ctx)
		sel.AddReceive(c.tasks, func(ch workflow.ReceiveChannel, _ bool) {
			var d TaskDone
			ch.Receive(ctx, &d)
			if d.Task == task {
				by = d.By
				if by == "" {
					by = "unknown"
				}
				return
			}
			workflow.GetLogger(ctx).Warn("task-done for a task not being waited for", "task", d.Task, "waiting", task)
		})
		sel.Select(ctx)
	}
	return by
}

// taskFailed files a failed rehearsal task like a failing test: the
// outage plan is not ready, so the gate starts over.
func (c *testCycleV0Impl) taskFailed(ctx workflow.Context, task string, err error) {
	results := []activities.SuiteResult{{Suite: "outage", Cases: []activities.CaseResult{{
		Suite: "outage", Name: task, Status: "failed", Message: rootMessage(err),
	}}}}
	var sum activities.TicketSummary
	if terr := workflow.ExecuteActivity(c.ticketCtx(ctx), ticketActs.ProcessResults, activities.ProcessResultsInput{
		Release: c.state.Current, Channel: c.plan.TestingChannel, Results: results,
	}).Get(ctx, &sum); terr == nil {
		c.state.OpenTickets, c.state.Blockers = sum.Open, sum.Blockers
	}
	c.fail(ctx, "rehearse task "+task, err)
}

func (c *testCycleV0Impl) fail(ctx workflow.Context, what string, err error) {
	c.state.LastError = what + ": " + rootMessage(err)
	c.state.CleanStreak = 0
	c.state.Gate = Gate{}
	c.setPhase(ctx, PhaseError)
	workflow.GetLogger(ctx).Error("test cycle step failed", "step", what, "error", err)
}

func (c *testCycleV0Impl) setPhase(ctx workflow.Context, phase string) {
	c.state.Phase = phase
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
}

func (c *testCycleV0Impl) localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
	})
}

func (c *testCycleV0Impl) storeCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           c.plan.RepoTaskQueue,
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeBadContent},
		},
	})
}

// ticketCtx retries tracker calls for a long time: a tracker outage or a
// rate limit delays the round, it does not lose its results.
func (c *testCycleV0Impl) ticketCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
			MaximumAttempts:        20,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
		},
	})
}
