package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// TestCycleWorkflowType is the registered name of TestCycle, which
// DailySync starts by name through SignalWithStart.
const TestCycleWorkflowType = "TestCycle"

// Bounds on the state carried through continue-as-new.
const (
	maxRememberedReleases = 30
	maxRememberedRounds   = 20
	maxRefusals           = 10
	maxWatched            = 500
)

// Phases of the test cycle, as OsflowPhase shows them.
const (
	PhaseAwaitingRelease = "awaiting-release"
	PhaseTesting         = "testing"
	PhaseWaiting         = "waiting"
	PhaseRehearsal       = "rehearsal"
	PhaseCandidate       = "candidate"
	PhaseError           = "error"
)

// SuiteRunCase names the case that stands for a suite's run itself.
const SuiteRunCase = activities.SuiteRunCase

// rehearsalActor is who holds testing frozen during a rehearsal.
const rehearsalActor = "test-cycle/rehearsal"

// retryAfterError is how soon the cycle looks again after it could not
// read the testing channel.
const retryAfterError = 5 * time.Minute

// Round is one pass of the suites over the release under test.
type Round struct {
	Release string
	At      time.Time
	Tickets activities.TicketSummary
	Error   string
}

// RoundProgress is the round running now, for `osflow status`.
type RoundProgress struct {
	Release    string
	Since      time.Time
	Suite      string
	SuiteSince time.Time
}

// TestCycleState is everything TestCycle carries across continue-as-new,
// and what its status query shows.
type TestCycleState struct {
	// Current is what testing served when the cycle last read it.
	Current      string
	CurrentSince time.Time
	// Pending was the newest release signalled before version 1 of
	// versionCycleReconcile; the cycle now reads testing instead.
	Pending  string
	Releases []activities.TestingUpdated
	// Frozen, FrozenBy, FrozenReason and FrozenAt mirror the store's
	// freeze of testing as last read.
	Frozen       bool
	FrozenBy     string
	FrozenReason string
	FrozenAt     string
	// PendingFreeze is a freeze request a run before version 1 had not
	// applied yet; the current code applies it on start.
	PendingFreeze *FreezeRequest
	// RehearsalKey is the key of the freeze the rehearsal holds, if any.
	RehearsalKey string
	Rounds       []Round
	RoundsRun    int
	// LastTested is the release of the last round, whether or not it
	// could file its results (the gate then says the round failed).
	LastTested  string
	CleanStreak int
	OpenTickets int
	Blockers    int
	// Watch lists the fingerprints of open tickets: their cases are
	// reported even when they pass, so their tickets can close.
	Watch       []string
	LastRoundAt time.Time
	LastError   string
	Gate        Gate
	Phase       string
	InRound     *RoundProgress
	// TestNow asks for a round at once (`osflow test now`).
	TestNow   bool
	TestNowBy string
	// Wake is set by a testing-updated signal: read testing again.
	Wake bool
	// Refused lists operator signals that failed validation, newest last.
	Refused []string
	// Signals counts the operator signals handled, for their keys.
	Signals int
	// Rehearsal holds the timings measured so far in the current rehearsal.
	Rehearsal []activities.TaskTiming
	// WaitingFor names the manual task the rehearsal waits for.
	WaitingFor string
	Candidate  *activities.Candidate
	// Promoted is the last release handed to a promotion.
	Promoted string
}

// TestCycle follows the testing channel for as long as osflow runs: it
// tests what testing serves (when it changes, on an interval, and on
// request), files failures as tickets, and when the ticket trend passes
// the gate it rehearses the outage with testing frozen, assembles the
// candidate and starts its promotion.
//
// It acts on the channel as it is: every loop reads what testing serves
// and whether it is frozen. A testing-updated signal only wakes it.
func TestCycle(ctx workflow.Context, state TestCycleState) error {
	if workflow.GetVersion(ctx, versionCycleReconcile, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return testCycleV0(ctx, state)
	}
	c := &testCycle{state: state, taskDone: map[string]string{}}
	if err := c.setup(ctx); err != nil {
		return err
	}
	return c.run(ctx)
}

type testCycle struct {
	state TestCycleState
	plan  activities.TestPlan
	// mu orders everything that reads or changes the testing channel's
	// freeze: the loop's reconcile, the rehearsal and the freeze handlers.
	mu      workflow.Mutex
	updates workflow.ReceiveChannel
	signals []workflow.ReceiveChannel
	// inflight counts signal handlers still running.
	inflight int
	// dirty wakes the loop after a handler changed the state.
	dirty bool
	// taskDone maps a manual rehearsal task to who reported it done.
	taskDone map[string]string
}

func (c *testCycle) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (TestCycleState, error) {
		return c.state, nil
	}); err != nil {
		return err
	}
	c.mu = workflow.NewMutex(ctx)
	c.updates = workflow.GetSignalChannel(ctx, SignalTestingUpdated)
	if err := c.registerCommands(ctx); err != nil {
		return err
	}
	if err := c.readPlan(ctx); err != nil {
		return err
	}
	if c.state.LastTested == "" && len(c.state.Rounds) > 0 {
		c.state.LastTested = c.state.Rounds[len(c.state.Rounds)-1].Release
	}
	c.state.Pending, c.state.InRound = "", nil
	if c.state.Phase == "" {
		c.setPhase(ctx, PhaseAwaitingRelease)
	}
	return nil
}

// readPlan reads the worker's configuration: at start and before every
// round, so a changed configuration reaches the cycle at its next round.
func (c *testCycle) readPlan(ctx workflow.Context) error {
	var plan activities.TestPlan
	if err := workflow.ExecuteActivity(shortActivityCtx(ctx), configActs.TestPlan).Get(ctx, &plan); err != nil {
		return stepError("read the test plan", err)
	}
	c.plan = plan
	return nil
}

func (c *testCycle) run(ctx workflow.Context) error {
	if pf := c.state.PendingFreeze; pf != nil {
		c.state.PendingFreeze = nil
		c.operatorSignal(ctx, "freeze", pf.Actor, func() error { return c.checkFreeze(*pf) }, func(key string) error {
			_, err := c.freeze(ctx, *pf, key)
			return err
		})
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.reconcile(ctx)
		if c.roundDue(ctx) {
			c.round(ctx)
			if c.gateOpen() {
				c.promote(ctx)
			}
		} else if err := c.waitForWork(ctx); err != nil {
			return err
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return c.continueAsNew(ctx)
		}
	}
}

// continueAsNew starts a fresh run with the state, once every handler has
// finished and every delivered signal has been taken into the state.
func (c *testCycle) continueAsNew(ctx workflow.Context) error {
	err := workflow.Await(ctx, func() bool {
		if !workflow.AllHandlersFinished(ctx) || c.inflight > 0 {
			return false
		}
		for _, ch := range c.signals {
			if ch.Len() > 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	var u activities.TestingUpdated
	for c.updates.ReceiveAsync(&u) {
		c.noteRelease(u)
	}
	return workflow.NewContinueAsNewError(ctx, TestCycleWorkflowType, c.state)
}

// reconcile reads what testing serves and whether it is frozen.
func (c *testCycle) reconcile(ctx workflow.Context) {
	if err := c.mu.Lock(ctx); err != nil {
		return
	}
	defer c.mu.Unlock()
	if _, err := c.readTesting(ctx); err != nil {
		c.state.LastError = stepError("read the testing channel", err).Error()
		c.setPhase(ctx, PhaseError)
	}
}

// readTesting reads the testing channel into the state. Call it with mu held.
func (c *testCycle) readTesting(ctx workflow.Context) (activities.ChannelState, error) {
	var st activities.ChannelState
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, c.plan.RepoTaskQueue), repoActs.ChannelState,
		activities.ChannelStateInput{Channel: c.plan.TestingChannel}).Get(ctx, &st)
	if err != nil {
		return st, err
	}
	c.applyChannel(ctx, st)
	return st, nil
}

// applyChannel takes a read of the testing channel into the state.
func (c *testCycle) applyChannel(ctx workflow.Context, st activities.ChannelState) {
	if st.Release != c.state.Current {
		c.state.Current, c.state.CurrentSince = st.Release, workflow.Now(ctx)
		if st.Release != "" {
			_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(st.Release), AttrChannel.ValueSet(c.plan.TestingChannel))
		}
	}
	c.state.Frozen = st.Freeze != nil
	c.state.FrozenBy, c.state.FrozenReason, c.state.FrozenAt = "", "", ""
	if fz := st.Freeze; fz != nil {
		c.state.FrozenBy, c.state.FrozenReason, c.state.FrozenAt = fz.Actor, fz.Reason, fz.Release
		if fz.Key != c.state.RehearsalKey {
			c.state.RehearsalKey = "" // an operator holds it now
		}
	} else {
		c.state.RehearsalKey = ""
	}
}

// noteRelease records a testing-updated signal; the loop reads testing.
func (c *testCycle) noteRelease(u activities.TestingUpdated) {
	c.state.Wake = true
	if u.Release != "" && (len(c.state.Releases) == 0 || c.state.Releases[len(c.state.Releases)-1].Release != u.Release) {
		c.state.Releases = appendBounded(c.state.Releases, u, maxRememberedReleases)
	}
}

func (c *testCycle) roundDue(ctx workflow.Context) bool {
	if c.state.Current == "" {
		return false
	}
	return c.state.TestNow || c.state.LastTested != c.state.Current ||
		(c.plan.RoundInterval > 0 && !workflow.Now(ctx).Before(c.state.LastRoundAt.Add(c.plan.RoundInterval)))
}

// waitForWork blocks until a signal or command arrives or the next round
// is due.
func (c *testCycle) waitForWork(ctx workflow.Context) error {
	if c.state.Phase != PhaseError {
		if c.state.Current == "" {
			c.setPhase(ctx, PhaseAwaitingRelease)
		} else {
			c.setPhase(ctx, PhaseWaiting)
		}
	}
	woken := func() bool {
		return c.state.Wake || c.state.TestNow || c.dirty || c.updates.Len() > 0
	}
	var err error
	switch {
	case c.state.Phase == PhaseError:
		_, err = workflow.AwaitWithTimeout(ctx, retryAfterError, woken)
	case c.state.Current == "" || c.plan.RoundInterval <= 0:
		err = workflow.Await(ctx, woken)
	default:
		wait := c.state.LastRoundAt.Add(c.plan.RoundInterval).Sub(workflow.Now(ctx))
		_, err = workflow.AwaitWithTimeout(ctx, max(wait, time.Second), woken)
	}
	var u activities.TestingUpdated
	for c.updates.ReceiveAsync(&u) {
		c.noteRelease(u)
	}
	c.state.Wake, c.dirty = false, false
	return err
}

// round runs every suite on the release testing serves and files the
// results. A failure of the round itself (tracker down, suite broken after
// retries) is recorded and the round runs again at the next trigger: the
// cycle lives for weeks and must not die with one bad hour.
func (c *testCycle) round(ctx workflow.Context) {
	if err := c.readPlan(ctx); err != nil {
		c.fail(ctx, "read the test plan", err)
		return
	}
	release := c.state.Current
	c.setPhase(ctx, PhaseTesting)
	now := workflow.Now(ctx)
	c.state.LastRoundAt, c.state.TestNow, c.state.TestNowBy, c.state.LastTested = now, false, "", release
	c.state.RoundsRun++
	r := Round{Release: release, At: now}
	c.state.InRound = &RoundProgress{Release: release, Since: now}
	defer func() { c.state.InRound = nil }()

	// Results by reference: inline, a round of many suites at the failure
	// cap passed Temporal's payload limit and the server terminated the
	// cycle. Rounds begun before carry theirs inline.
	byRef := workflow.GetVersion(ctx, versionCycleResultsByRef, workflow.DefaultVersion, 1) >= 1
	results := make([]activities.SuiteResult, 0, len(c.plan.Suites))
	for _, suite := range c.plan.Suites {
		c.state.InRound.Suite, c.state.InRound.SuiteSince = suite, workflow.Now(ctx)
		var res activities.SuiteResult
		err := workflow.ExecuteActivity(suiteActivityCtx(ctx, c.plan.SuiteTimeouts[suite]), testActs.RunSuite, activities.RunSuiteInput{
			Suite: suite, Channel: c.plan.TestingChannel, Release: release, Bounded: true, ByRef: byRef, Watch: c.state.Watch,
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
	err := workflow.ExecuteActivity(ticketActivityCtx(ctx), ticketActs.ProcessResults, activities.ProcessResultsInput{
		Release: release, Channel: c.plan.TestingChannel, Results: results,
		Key: runKey(ctx, fmt.Sprintf("round-%d/tickets", c.state.RoundsRun)),
	}).Get(ctx, &sum)
	if err != nil {
		r.Error = rootMessage(err)
		c.state.LastError = "file the results of round " + fmt.Sprint(c.state.RoundsRun) + ": " + r.Error
		c.state.Rounds = appendBounded(c.state.Rounds, r, maxRememberedRounds)
		c.state.Gate = c.evaluateGate(ctx, true)
		c.setPhase(ctx, PhaseError)
		return
	}
	r.Tickets = sum.Bounded()
	c.state.LastError = ""
	c.state.Rounds = appendBounded(c.state.Rounds, r, maxRememberedRounds)
	if cleanRound(c.plan, sum) {
		c.state.CleanStreak++
	} else {
		c.state.CleanStreak = 0
	}
	c.state.OpenTickets, c.state.Blockers = sum.Open, sum.Blockers
	c.state.Watch = sum.OpenFingerprints
	if len(c.state.Watch) > maxWatched {
		c.state.Watch = c.state.Watch[:maxWatched]
	}
	c.state.Gate = c.evaluateGate(ctx, false)
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrOpenTickets.ValueSet(int64(sum.Open)))
	c.setPhase(ctx, PhaseWaiting)
}

func (c *testCycle) evaluateGate(ctx workflow.Context, lastRoundFailed bool) Gate {
	return EvaluateGate(GateInput{
		Plan: c.plan, CleanStreak: c.state.CleanStreak, Blockers: c.state.Blockers,
		Soaked: workflow.Now(ctx).Sub(c.state.CurrentSince), LastRoundFailed: lastRoundFailed,
	})
}

// gateOpen says whether the release testing serves passed the gate and
// has not been handed to a promotion yet.
func (c *testCycle) gateOpen() bool {
	return c.state.Gate.Passed && c.state.LastTested == c.state.Current && c.state.Promoted != c.state.Current
}

// promote rehearses the outage on the test cluster with testing frozen at
// the release, assembles the candidate and starts its promotion. The
// freeze makes the candidate exactly what was rehearsed.
func (c *testCycle) promote(ctx workflow.Context) {
	release, gate := c.state.Current, c.state.Gate
	key, ok := c.holdTesting(ctx, release)
	if !ok {
		return
	}
	// Released even when the cycle is cancelled mid-rehearsal.
	defer func() {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		c.releaseTesting(dctx, release, key)
	}()
	timings, ok := c.rehearse(ctx, release)
	if !ok {
		return
	}
	c.setPhase(ctx, PhaseCandidate)
	var diff activities.DiffSummary
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, c.plan.RepoTaskQueue), repoActs.DiffSummary, activities.DiffSummaryInput{
		From: c.plan.ProductionChannel, To: release,
	}).Get(ctx, &diff)
	if err != nil {
		c.fail(ctx, "diff against production", err)
		return
	}
	// Decoded by hand: which fields the result carries tells which build
	// assembled it (recordsCandidate).
	var assembled json.RawMessage
	err = workflow.ExecuteActivity(ticketActivityCtx(ctx), candidateActs.Assemble, activities.CandidateInput{
		Release: release, Production: c.plan.ProductionChannel, Diff: diff, Tasks: timings, Rounds: c.state.RoundsRun,
		Gate: gate.Reasons,
	}).Get(ctx, &assembled)
	var cand activities.Candidate
	if err == nil {
		err = json.Unmarshal(assembled, &cand)
	}
	if err != nil {
		c.fail(ctx, "assemble candidate", err)
		return
	}
	// The candidate joins the release's provenance: a promotion started by
	// hand loads it, and `osflow audit` shows the gate it passed.
	if recordsCandidate(ctx, assembled) {
		if err := workflow.ExecuteActivity(storeActivityCtx(ctx, c.plan.RepoTaskQueue), repoActs.RecordCandidate, cand).Get(ctx, nil); err != nil {
			c.fail(ctx, "record the candidate", err)
			return
		}
	}
	c.state.Candidate = &cand
	// The metadata is no part of the command replay compares.
	md := PromotionMetadata(release)
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		StaticSummary:     md.Summary,
		StaticDetails:     md.Details,
		WorkflowID:        PromotionWorkflowID(release),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	}), Promotion, PromotionInput{Release: release, Candidate: cand})
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

// recordsCandidate says whether this run records the candidate before it
// starts the promotion. RecordCandidate came in unversioned, so a history
// without the marker was made either by a build from before it (which went
// from Assemble straight to the promotion) or by the builds that added it
// without a marker. Those builds also added Rounds and Gate to Candidate,
// always encoded, and the same worker ran Assemble and the task right
// after it: the assembled result says which of the two it was. Only a
// fleet of mixed builds polling together at that moment defeats this.
func recordsCandidate(ctx workflow.Context, assembled json.RawMessage) bool {
	if workflow.GetVersion(ctx, versionCycleRecordCandidate, workflow.DefaultVersion, 1) >= 1 {
		return true
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(assembled, &fields); err != nil {
		return true
	}
	_, ok := fields["Rounds"]
	return ok
}

// holdTesting freezes testing at release for the rehearsal. An operator's
// freeze at that release holds it already (key ""); if testing moved on
// meanwhile there is nothing to rehearse (ok false): the loop tests the
// new release next.
func (c *testCycle) holdTesting(ctx workflow.Context, release string) (key string, ok bool) {
	if err := c.mu.Lock(ctx); err != nil {
		return "", false
	}
	defer c.mu.Unlock()
	st, err := c.readTesting(ctx)
	if err != nil {
		c.fail(ctx, "read the testing channel", err)
		return "", false
	}
	if st.Release != release {
		workflow.GetLogger(ctx).Info("testing moved on before the rehearsal", "release", release, "testing", st.Release)
		return "", false
	}
	if st.Freeze != nil {
		return "", true
	}
	key = runKey(ctx, fmt.Sprintf("round-%d/rehearsal-freeze", c.state.RoundsRun))
	var after activities.ChannelState
	err = workflow.ExecuteActivity(storeActivityCtx(ctx, c.plan.RepoTaskQueue), repoActs.SetFreeze, activities.FreezeInput{
		Channel: c.plan.TestingChannel, Frozen: true, Release: release, Actor: rehearsalActor,
		Reason: "outage rehearsal of " + release + "; released when the candidate is ready", Key: key,
	}).Get(ctx, &after)
	if err != nil {
		c.fail(ctx, "freeze testing for the rehearsal", err)
		return "", false
	}
	c.state.RehearsalKey = key
	c.applyChannel(ctx, after)
	return key, true
}

// releaseTesting ends the rehearsal's own freeze; an operator who took the
// freeze over keeps it.
func (c *testCycle) releaseTesting(ctx workflow.Context, release, key string) {
	if key == "" {
		return
	}
	if err := c.mu.Lock(ctx); err != nil {
		return
	}
	defer c.mu.Unlock()
	var after activities.ChannelState
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, c.plan.RepoTaskQueue), repoActs.SetFreeze, activities.FreezeInput{
		Channel: c.plan.TestingChannel, Frozen: false, Actor: rehearsalActor,
		Reason: "outage rehearsal of " + release + " ended", Key: key + "/release", IfKey: key,
	}).Get(ctx, &after)
	if err != nil {
		c.state.LastError = stepError("release testing after the rehearsal", err).Error()
		return
	}
	c.applyChannel(ctx, after)
}

// rehearse runs the outage tasks against the test cluster in order and
// measures each; a manual task waits for its task-done.
func (c *testCycle) rehearse(ctx workflow.Context, release string) ([]activities.TaskTiming, bool) {
	c.setPhase(ctx, PhaseRehearsal)
	c.state.Rehearsal = nil
	for _, t := range c.plan.Tasks {
		timing := activities.TaskTiming{Task: t.Name, Manual: t.Manual, Where: t.Where, Expected: t.Expected}
		start := workflow.Now(ctx)
		if t.Manual {
			by, err := c.waitTaskDone(ctx, t.Name)
			if err != nil {
				return nil, false
			}
			timing.By, timing.Measured = by, workflow.Now(ctx).Sub(start)
		} else {
			var res activities.TaskResult
			err := workflow.ExecuteActivity(taskActivityCtx(ctx, t), testActs.RunTask,
				activities.RunTaskInput{Task: t.Name, Release: release}).Get(ctx, &res)
			if err != nil {
				c.taskFailed(ctx, release, t.Name, err)
				return nil, false
			}
			timing.Measured = res.Duration
		}
		c.state.Rehearsal = append(c.state.Rehearsal, timing)
	}
	return c.state.Rehearsal, true
}

// waitTaskDone blocks until an operator reports the task done.
func (c *testCycle) waitTaskDone(ctx workflow.Context, task string) (string, error) {
	c.state.WaitingFor = task
	c.showCycleDetails(ctx)
	delete(c.taskDone, task)
	defer func() { c.state.WaitingFor = ""; c.showCycleDetails(ctx) }()
	err := workflow.Await(ctx, func() bool { return c.taskDone[task] != "" })
	return c.taskDone[task], err
}

// taskFailed files a failed rehearsal task like a failing test: the
// outage plan is not ready, so the gate starts over.
func (c *testCycle) taskFailed(ctx workflow.Context, release, task string, err error) {
	results := []activities.SuiteResult{{Suite: "outage", Cases: []activities.CaseResult{{
		Suite: "outage", Name: task, Status: "failed", Message: rootMessage(err),
	}}}}
	var sum activities.TicketSummary
	if terr := workflow.ExecuteActivity(ticketActivityCtx(ctx), ticketActs.ProcessResults, activities.ProcessResultsInput{
		Release: release, Channel: c.plan.TestingChannel, Results: results,
		Key: runKey(ctx, fmt.Sprintf("round-%d/rehearsal-%s", c.state.RoundsRun, task)),
	}).Get(ctx, &sum); terr == nil {
		c.state.OpenTickets, c.state.Blockers = sum.Open, sum.Blockers
	}
	c.fail(ctx, "rehearse task "+task, err)
}

func (c *testCycle) fail(ctx workflow.Context, what string, err error) {
	c.state.LastError = stepError(what, err).Error()
	c.state.CleanStreak = 0
	c.state.Gate = Gate{}
	c.setPhase(ctx, PhaseError)
	workflow.GetLogger(ctx).Error("test cycle step failed", "step", what, "error", err)
}

func (c *testCycle) setPhase(ctx workflow.Context, phase string) {
	c.state.Phase = phase
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
	c.showCycleDetails(ctx)
}

// suiteActivityCtx gives a suite its configured time, plus a margin for
// the activity around it. RunSuite heartbeats every few seconds, so a
// dead worker is noticed within suiteHeartbeatTimeout and the suite runs
// again on another at once (it was 5 minutes and a 1-minute backoff: a
// worker killed mid-suite stalled the round for 6). A suite's run has no
// side effect to key, so the retry simply runs it again.
//
// Only the options changed, no command: the SDK matches a
// ScheduleActivityTask on replay by activity ID and type alone
// (isCommandMatchEvent in go.temporal.io/sdk v1.51.0
// internal/internal_task_handlers.go), and a running workflow's next suite
// may as well follow a dead worker promptly, so no version.
func suiteActivityCtx(ctx workflow.Context, timeout time.Duration) workflow.Context {
	if timeout <= 0 {
		timeout = time.Hour
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout + 5*time.Minute,
		HeartbeatTimeout:    suiteHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			// Each worker kill during the suite takes one.
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
		},
	})
}

// suiteHeartbeatTimeout is six of RunSuite's heartbeats (every 5 s).
const suiteHeartbeatTimeout = 30 * time.Second

// ticketActivityCtx retries tracker calls for a long time: a tracker
// outage or a rate limit delays the round, it does not lose its results.
func ticketActivityCtx(ctx workflow.Context) workflow.Context {
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

func appendBounded[T any](list []T, v T, max int) []T {
	list = append(list, v)
	if len(list) > max {
		list = append([]T(nil), list[len(list)-max:]...)
	}
	return list
}

// isAlreadyStarted tells a promotion that exists already (this release was
// promoted before a continue-as-new or a reset) from a real failure.
func isAlreadyStarted(err error) bool { return temporal.IsWorkflowExecutionAlreadyStartedError(err) }

// singleLine checks an operator-supplied name or reason.
func singleLine(what, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is required", what)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s must be one line of printable text, got %q", what, v)
		}
	}
	return nil
}
