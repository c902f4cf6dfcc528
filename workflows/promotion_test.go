package workflows

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/monitoring"
)

var promotionPlan = activities.PromotionPlan{
	Approvers:         []string{"alice", "bob"},
	RemindEvery:       24 * time.Hour,
	ProductionChannel: "production",
	TestingChannel:    "testing",
	RepoTaskQueue:     "osflow-repo",
	Tasks:             []activities.TaskPlan{{Name: "drain", Expected: 10 * time.Minute}, {Name: "firmware", Manual: true, Expected: 30 * time.Minute}},
	Verify:            []string{"repoclosure"},
	Repos: []activities.GitRepoPlan{
		{Name: "puppet", Kind: "config", Test: "test", Production: "production"},
		{Name: "nagios", Kind: "monitoring", Test: "test", Production: "production"},
	},
}

var candidate = activities.Candidate{Release: "r2", Production: "production", TotalEstimate: 40 * time.Minute,
	Tasks: []activities.TaskTiming{{Task: "drain", Measured: 7 * time.Minute}, {Task: "firmware", Manual: true, Measured: 30 * time.Minute}}}

// world stands in for the systems a promotion changes: the production and
// testing channels, the git repos, the silences, and every side effect
// with how often it was asked for.
type world struct {
	production, testing string
	// testingBase is what testing's release was derived from by a bypass.
	testingBase      string
	silenced         bool
	merged, reverted []string
	calls            map[string]int
	notes            []string
	// fail names the activity that fails, with a non-retryable error.
	fail string
	// productionBase is what production's release was derived from.
	productionBase string
	// planGate, when set, holds the promotion plan until it is closed:
	// approvals may come first.
	planGate chan struct{}
	// supersede is what SupersedePromotions answers, and superseding the
	// input it was asked with.
	supersede   []string
	superseding []activities.SupersedeInput
	// heldBy is the key of the freeze on testing ("": not frozen).
	heldBy string
	// testingChain, when set, is testing's derivation chain.
	testingChain []string
	// promotionFailed: production serves the candidate only because its
	// first promotion failed with nothing to roll back to.
	promotionFailed bool
	// noApprovers: the plan names none.
	noApprovers bool
	// conflicts is how many merges of each repo conflict first.
	conflicts map[string]int
	// closed are the tickets closed, with their comments.
	closed map[string]string
	// silences are what Silence makes (default one); stillSilenced those
	// that Unsilence leaves in force.
	silences      []string
	stillSilenced []monitoring.Remaining
	// keys and requireSigned: the approvers' SSH keys in the plan, and
	// whether decisions must be signed.
	keys          map[string]string
	requireSigned bool
	// sent are the notifications, with their keys and texts.
	sent []activities.NotifyInput
}

// made are the silences Silence makes.
func (w *world) made() []string {
	if w.silences == nil {
		return []string{"alertmanager:abc"}
	}
	return w.silences
}

func (w *world) call(name string) error {
	w.calls[name]++
	if w.fail == name {
		return temporal.NewNonRetryableApplicationError(name+" failed (injected)", activities.ErrTypeInvalidInput, nil)
	}
	return nil
}

func newPromotionEnv(t *testing.T, w *world) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Promotion)
	env.RegisterWorkflow(MergeBack)
	for _, a := range []any{&activities.ConfigActivities{}, &activities.RepoActivities{}, &activities.TestActivities{},
		&activities.PromotionActivities{}, &activities.CycleActivities{}} {
		env.RegisterActivity(a)
	}
	w.calls = map[string]int{}
	env.OnActivity(configActs.PromotionPlan, mock.Anything).Return(func(context.Context) (activities.PromotionPlan, error) {
		if w.planGate != nil {
			select {
			case <-w.planGate:
			case <-time.After(10 * time.Second):
				t.Error("the plan's gate was never opened")
			}
		}
		plan := promotionPlan
		if w.noApprovers {
			plan.Approvers = nil
		}
		plan.ApproverKeys, plan.RequireSigned = w.keys, w.requireSigned
		return plan, nil
	})
	env.OnActivity(cycleActs.SupersedePromotions, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SupersedeInput) ([]string, error) {
			w.superseding = append(w.superseding, in)
			return w.supersede, nil
		})
	env.OnActivity(repoActs.PromotionDone, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PromotionDoneInput) (bool, error) {
			require.Equal(t, "production", in.Channel)
			return !w.promotionFailed, nil
		})
	env.OnActivity(repoActs.SetFreeze, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FreezeInput) (activities.ChannelState, error) {
			require.Equal(t, "testing", in.Channel)
			w.calls["SetFreeze"]++
			switch {
			case in.Frozen:
				require.Equal(t, w.testing, in.Release, "a freeze holds what testing serves")
				w.heldBy = in.Key
			case in.IfKey == w.heldBy:
				w.heldBy = ""
			}
			return activities.ChannelState{Channel: "testing", Release: w.testing}, nil
		})
	env.OnActivity(promotionActs.UserTickets, mock.Anything).Return([]activities.TicketRef{{ID: "U-1", Title: "please keep python2"}}, nil)
	env.OnActivity(repoActs.PackageRisk, mock.Anything, mock.Anything).Return(activities.PackageRisk{
		Diff: activities.DiffSummary{Upgraded: 3}, Advisories: []activities.Advisory{{ID: "RLSA-1", Type: "security", Severity: "Important"}}}, nil)
	env.OnActivity(promotionActs.Inventory, mock.Anything).Return([]activities.InventoryDiff{{Name: "kernel-cmdline", Testing: "a", Production: "b"}}, nil)
	env.OnActivity(promotionActs.GitChanges, mock.Anything).Return([][]activities.GitChange{{{Repo: "puppet"}}, {{Repo: "nagios"}}}, nil)
	env.OnActivity(repoActs.ChannelState, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ChannelStateInput) (activities.ChannelState, error) {
			if in.Channel == "testing" {
				st := activities.ChannelState{Channel: "testing", Release: w.testing, Base: cmp.Or(w.testingBase, w.testing),
					Chain: w.testingChain}
				if st.Chain == nil {
					st.Chain = chain(w.testing, w.testingBase)
				}
				if w.heldBy != "" {
					actor, _, _ := strings.Cut(w.heldBy, "/hold-testing")
					st.Freeze = &activities.FreezeState{Actor: actor}
				}
				return st, nil
			}
			return activities.ChannelState{Channel: in.Channel, Release: w.production, Base: cmp.Or(w.productionBase, w.production),
				Chain: chain(w.production, w.productionBase)}, nil
		})
	env.OnActivity(promotionActs.PublishRisk, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishRiskInput) (activities.Published, error) {
			w.calls["PublishRisk"]++
			require.Equal(t, w.production, in.Risk.Production, "the risk report says what production serves")
			return activities.Published{Page: "Release-r2", URL: "https://wiki/Release-r2"}, nil
		})
	env.OnActivity(promotionActs.Notify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NotifyInput) error {
			w.notes = append(w.notes, in.Subject)
			w.sent = append(w.sent, in)
			return nil
		})
	env.OnActivity(promotionActs.Silence, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SilenceInput) ([]string, error) {
			if err := w.call("Silence"); err != nil {
				return nil, err
			}
			w.silenced = true
			return w.made(), nil
		})
	env.OnActivity(promotionActs.Unsilence, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.KeyInput) (activities.UnsilenceResult, error) {
			w.calls["Unsilence"]++
			res := activities.UnsilenceResult{Remaining: w.stillSilenced}
			for _, id := range w.made() {
				if !slices.Contains(res.RemainingIDs(), id) {
					res.Ended = append(res.Ended, id)
				}
			}
			if len(res.Remaining) > 0 {
				return res, temporal.NewApplicationError("end silences: "+res.Summary(nil), activities.ErrTypeSilencesRemain, res)
			}
			w.silenced = false
			return res, nil
		})
	env.OnActivity(promotionActs.RunBackup, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.KeyInput) (activities.BackupResult, error) {
			return activities.BackupResult{JobID: "42", Status: "completed successfully"}, w.call("RunBackup")
		})
	env.OnActivity(repoActs.SwitchChannel, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SwitchChannelInput) (activities.ChannelSwitch, error) {
			require.Equal(t, "production", in.Channel)
			require.Equal(t, "r2", in.Release, "production gets exactly the candidate")
			require.Contains(t, in.Actor, "approved by alice")
			if err := w.call("SwitchChannel"); err != nil {
				return activities.ChannelSwitch{}, err
			}
			from := w.production
			w.production = in.Release
			return activities.ChannelSwitch{Channel: in.Channel, From: from, To: in.Release, Changed: true, Key: in.Key}, nil
		})
	env.OnActivity(repoActs.RecordPromotion, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(promotionActs.Merge, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MergeInput) (activities.MergeRecord, error) {
			require.Contains(t, in.Message, "r2")
			if err := w.call("Merge " + in.Repo); err != nil {
				return activities.MergeRecord{}, err
			}
			if w.conflicts[in.Repo] > 0 {
				w.conflicts[in.Repo]--
				return activities.MergeRecord{Repo: in.Repo, Into: in.Into, Conflicts: []string{"site.pp"}}, nil
			}
			w.merged = append(w.merged, in.Repo)
			return activities.MergeRecord{Repo: in.Repo, Into: in.Into, Commit: "c-" + in.Repo}, nil
		})
	env.OnActivity(promotionActs.Revert, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RevertInput) (string, error) {
			w.calls["Revert "+in.Repo]++
			w.reverted = append(w.reverted, in.Repo)
			return "r-" + in.Repo, nil
		})
	env.OnActivity(testActs.RunTask, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RunTaskInput) (activities.TaskResult, error) {
			require.Equal(t, "production", in.Channel)
			return activities.TaskResult{Task: in.Task, Duration: 9 * time.Minute}, w.call("RunTask " + in.Task)
		})
	env.OnActivity(testActs.RunSuite, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RunSuiteInput) (activities.SuiteResult, error) {
			require.Equal(t, "production", in.Channel)
			if w.fail == "verify" {
				w.calls["RunSuite"]++
				return activities.SuiteResult{Suite: in.Suite, Cases: []activities.CaseResult{{Suite: in.Suite, Name: "baseos", Status: "failed", Message: "nothing provides libfoo"}}}, nil
			}
			return activities.SuiteResult{Suite: in.Suite, Passed: 3}, w.call("RunSuite")
		})
	env.OnActivity(repoActs.RollbackChannel, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RollbackInput) (activities.ChannelSwitch, error) {
			w.calls["RollbackChannel"]++
			require.NotEmpty(t, in.To, "the rollback target is absolute")
			from := w.production
			w.production = in.To
			return activities.ChannelSwitch{Channel: in.Channel, From: from, To: in.To, Changed: true}, nil
		})
	env.OnActivity(promotionActs.FileTicket, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TicketInput) (activities.TicketRef, error) {
			w.calls["FileTicket "+in.Fingerprint]++
			return activities.TicketRef{ID: "OSF-9", Title: in.Title}, nil
		})
	env.OnActivity(promotionActs.CloseTicket, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CloseTicketInput) error {
			if w.closed == nil {
				w.closed = map[string]string{}
			}
			w.closed[in.ID] = in.Comment
			return nil
		})
	env.OnActivity(promotionActs.PublishOutcome, mock.Anything, mock.Anything).Return(activities.Published{Page: "Outage-r2"}, nil)
	env.OnWorkflow(MergeBack, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in MergeBackInput) (MergeBackStatus, error) {
			w.calls["MergeBack"]++
			require.Len(t, in.Repos, 2)
			return MergeBackStatus{Release: in.Release}, nil
		})
	return env
}

// chain is a release's derivation chain as the store reads it: itself,
// then the release it was derived from.
func chain(release, base string) []string {
	if base == "" || base == release {
		return []string{release}
	}
	return []string{release, base}
}

func queryPromotion(t *testing.T, env *testsuite.TestWorkflowEnvironment) PromotionStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st PromotionStatus
	require.NoError(t, v.Get(&st))
	return st
}

// window is an approval for a window starting in, and lasting, d.
func window(env *testsuite.TestWorkflowEnvironment, in, d time.Duration) ApproveRequest {
	start := env.Now().Add(in)
	return ApproveRequest{Approver: "alice", Comment: "go", WindowStart: start, WindowEnd: start.Add(d)}
}

func TestPromotionApprovalValidators(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	answers := map[string]*answer{}
	send := func(at time.Duration, name, label string, req func() any) {
		a := &answer{}
		answers[label] = a
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(name, label, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { a.refused = err }, OnAccept: func() {},
				OnComplete: func(v any, err error) { a.refused, a.result = err, v },
			}, req())
		}, at)
	}
	send(time.Minute, UpdateApproveOutage, "unknown approver", func() any {
		r := window(env, time.Hour, time.Hour)
		r.Approver = "mallory"
		return r
	})
	send(2*time.Minute, UpdateApproveOutage, "window in the past", func() any { return window(env, -2*time.Hour, time.Hour) })
	send(3*time.Minute, UpdateApproveOutage, "end before start", func() any {
		r := window(env, time.Hour, time.Hour)
		r.WindowEnd = r.WindowStart.Add(-time.Minute)
		return r
	})
	send(4*time.Minute, UpdateApproveOutage, "no window", func() any { return ApproveRequest{Approver: "alice"} })
	send(5*time.Minute, UpdateRejectOutage, "reject without a reason", func() any { return RejectRequest{Approver: "bob"} })
	// The rejection ends the promotion: what comes with it is refused.
	send(6*time.Minute, UpdateRejectOutage, "reject", func() any { return RejectRequest{Approver: "bob", Comment: "not before the conference"} })
	send(6*time.Minute, UpdateApproveOutage, "approval after rejection", func() any { return window(env, time.Hour, time.Hour) })
	send(6*time.Minute, UpdateRejectOutage, "second rejection", func() any { return RejectRequest{Approver: "alice", Comment: "me too"} })

	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	st := promotionEnd(t, env, ErrTypePromotionRejected, "release r2 was rejected by bob at ")
	for label, want := range map[string]string{
		"unknown approver":         `"mallory" may not approve: the approvers are alice, bob`,
		"window in the past":       "is in the past",
		"end before start":         "before it starts",
		"no window":                "a window start is required",
		"reject without a reason":  "say why",
		"approval after rejection": "already rejected by bob",
		"second rejection":         "already rejected by bob",
	} {
		require.ErrorContains(t, answers[label].refused, want, label)
	}
	require.NoError(t, answers["reject"].refused)
	require.Equal(t, ApprovalRejected, st.State)
	require.Equal(t, "not before the conference", st.Approval.Comment)
	require.Zero(t, w.calls["SwitchChannel"], "a rejected promotion moves nothing")
	require.Contains(t, w.notes, "osflow: release r2 rejected for production")
}

func TestPromotionSecondApprovalIsRefusedAndRemindersGoOut(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	var first, second answer
	sendUpdate[Approval](env, 50*time.Hour, UpdateApproveOutage, window(env, 51*time.Hour, 2*time.Hour), &first)
	sendUpdate[Approval](env, 50*time.Hour+time.Minute, UpdateApproveOutage, ApproveRequest{Approver: "bob", WindowStart: env.Now().Add(60 * time.Hour)}, &second)
	var waiting PromotionStatus
	env.RegisterDelayedCallback(func() { waiting = queryPromotion(t, env) }, 10*time.Hour)
	var firmwareDone answer
	sendUpdate[TaskDone](env, 100*time.Hour+time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmwareDone)

	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	require.NoError(t, firmwareDone.refused, "the firmware task is marked done")

	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, first.refused)
	require.ErrorContains(t, second.refused, "already approved by alice")
	require.Equal(t, PhaseAwaitingApproval, waiting.Phase)
	require.Contains(t, waiting.WaitingFor, "approval by one of alice, bob")
	require.Equal(t, []activities.TicketRef{{ID: "U-1", Title: "please keep python2"}}, waiting.Users)
	require.Equal(t, "https://wiki/Release-r2", waiting.RiskPage)
	reminders := 0
	for _, n := range w.notes {
		if strings.Contains(n, "still waits for approval") {
			reminders++
		}
	}
	require.Equal(t, 2, reminders, "reminded at 24h and 48h, approved at 50h")
	var st PromotionStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, ApprovalDone, st.State)
}

// The whole outage: nothing happens before the window; inside it every
// step runs once, production serves exactly the candidate, and
// afterwards the silences end and the merge-back starts.
func TestPromotionOutage(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	var approved answer
	sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 24*time.Hour, 4*time.Hour), &approved)
	var beforeWindow, inTask PromotionStatus
	env.RegisterDelayedCallback(func() { beforeWindow = queryPromotion(t, env) }, 23*time.Hour)
	env.RegisterDelayedCallback(func() { inTask = queryPromotion(t, env) }, 24*time.Hour+5*time.Minute)
	var issue, done answer
	sendUpdate[activities.TicketRef](env, 24*time.Hour+6*time.Minute, UpdateOutageIssue, OutageIssueRequest{By: "carol", Text: "node c12 did not come back"}, &issue)
	sendUpdate[TaskDoneResult](env, 24*time.Hour+20*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &done)

	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, approved.refused)
	require.Equal(t, PhaseAwaitingWindow, beforeWindow.Phase)
	require.Equal(t, "r1", beforeWindow.Risk.Production)
	require.Equal(t, ApprovalApproved, beforeWindow.State)
	require.Equal(t, ApprovalRunning, inTask.State)
	require.Contains(t, inTask.WaitingFor, "manual task firmware")
	require.True(t, w.silenced == false)
	require.NoError(t, issue.refused)
	require.NoError(t, done.refused)

	var st PromotionStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, ApprovalDone, st.State)
	require.Equal(t, "r2", w.production)
	require.Equal(t, "r1", st.Previous)
	require.Equal(t, []string{"puppet", "nagios"}, w.merged)
	require.Empty(t, w.reverted)
	require.Len(t, st.Tasks, 2)
	require.Equal(t, "carol", st.Tasks[1].By)
	require.Equal(t, 20*time.Minute, st.Tasks[1].Measured, "task-done 20 minutes after the wait began at the window's start")
	require.Len(t, st.Issues, 1)
	require.Equal(t, MergeBackWorkflowID("r2"), st.MergeBack)
	for _, step := range []string{"Silence", "RunBackup", "SwitchChannel", "Merge puppet", "Merge nagios", "RunTask drain", "RunSuite", "Unsilence", "MergeBack"} {
		require.Equal(t, 1, w.calls[step], "%s runs once", step)
	}
	require.Contains(t, w.notes, "osflow: production now serves release r2")
}

// Issue 16 #11: after a Nagios config change mid-outage "6 silences
// ended" was reported while 5 downtimes remained. The step says what
// Unsilence ended and what remains, retried, with how to end it by hand.
func TestPromotionEndSilencesSaysWhatRemains(t *testing.T) {
	made := []string{"nagios:host:1", "nagios:host:2", "nagios:host:3", "nagios:service:4", "nagios:service:5", "nagios:service:6"}
	hand := "printf '[%s] DEL_SVC_DOWNTIME;6\\n' \"$(date +%s)\" > /var/lib/nagios4/rw/nagios.cmd"
	for _, tt := range []struct {
		name      string
		remaining []monitoring.Remaining
		status    string
		detail    string
		attempts  int
	}{
		{name: "all ended", status: "done", detail: "6 of 6 silences ended", attempts: 1},
		{name: "one remains", remaining: []monitoring.Remaining{{ID: "nagios:service:6", EndByHand: hand}}, status: "failed",
			detail: "5 of 6 silences ended; 1 remains: nagios:service:6 (end it by hand: " + hand + ")", attempts: 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &world{production: "r1", testing: "r2", silences: made, stillSilenced: tt.remaining}
			env := newPromotionEnv(t, w)
			sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 24*time.Hour, 4*time.Hour), &answer{})
			sendUpdate[TaskDoneResult](env, 24*time.Hour+20*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &answer{})
			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
			require.NoError(t, env.GetWorkflowError())
			var st PromotionStatus
			require.NoError(t, env.GetWorkflowResult(&st))
			require.Equal(t, ApprovalDone, st.State, "the outage is done; what remains is reported")
			i := slices.IndexFunc(st.Steps, func(s Step) bool { return s.Name == "end silences" })
			require.GreaterOrEqual(t, i, 0, "%+v", st.Steps)
			require.Equal(t, tt.status, st.Steps[i].Status)
			require.Equal(t, tt.detail, st.Steps[i].Detail)
			require.Equal(t, tt.attempts, w.calls["Unsilence"], "a silence that remains is retried")
		})
	}
}

// A failure at each outage step leaves production on its previous
// release, reverts the merges already made, keeps monitoring silenced
// until the window's end, and repeats no step.
func TestPromotionCompensatesAFailureAtEachStep(t *testing.T) {
	for _, tt := range []struct {
		fail     string
		switched bool
		reverted []string
		// firmware: the outage got as far as its manual task.
		firmware bool
	}{
		{fail: "Silence"},
		{fail: "RunBackup"},
		{fail: "SwitchChannel"},
		{fail: "Merge puppet", switched: true},
		{fail: "Merge nagios", switched: true, reverted: []string{"puppet"}},
		{fail: "RunTask drain", switched: true, reverted: []string{"nagios", "puppet"}},
		{fail: "verify", switched: true, reverted: []string{"nagios", "puppet"}, firmware: true},
	} {
		t.Run(tt.fail, func(t *testing.T) {
			w := &world{production: "r1", testing: "r2", fail: tt.fail}
			env := newPromotionEnv(t, w)
			var approved answer
			sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 2*time.Hour, 3*time.Hour), &approved)
			var silencedAfterFailure bool
			env.RegisterDelayedCallback(func() { silencedAfterFailure = w.silenced }, 3*time.Hour)
			var firmwareDone answer
			sendUpdate[TaskDone](env, 2*time.Hour+10*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmwareDone)

			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
			if tt.firmware {
				require.NoError(t, firmwareDone.refused, "the outage reached its manual task")
			} else {
				require.ErrorContains(t, firmwareDone.refused, "not waiting for task", "a failure ends the outage before its manual task")
			}

			err := env.GetWorkflowError()
			require.Error(t, err)
			var app *temporal.ApplicationError
			require.ErrorAs(t, err, &app)
			var st PromotionStatus
			require.NoError(t, app.Details(&st))
			require.Equal(t, ApprovalRolledBack, st.State)
			require.Equal(t, "r1", w.production, "production is back on its previous release")
			require.Equal(t, tt.reverted, w.reverted, "the merges made are reverted, newest first")
			require.False(t, w.silenced, "silences end at the window's end")
			if tt.fail != "Silence" {
				require.True(t, silencedAfterFailure, "monitoring stays silenced after the failure, until the window's end")
			}
			if tt.switched {
				require.Equal(t, 1, w.calls["RollbackChannel"])
			} else {
				require.Zero(t, w.calls["RollbackChannel"])
			}
			require.Equal(t, 2, w.calls["SetFreeze"], "testing held, then released")
			require.Empty(t, w.heldBy)
			for name, n := range w.calls {
				if !strings.HasPrefix(name, "FileTicket") && name != "SetFreeze" {
					require.Equal(t, 1, n, "%s ran %d times", name, n)
				}
			}
			require.Equal(t, 1, w.calls["FileTicket outage/r2"], "the failure is filed")
			require.Zero(t, w.calls["MergeBack"])
			require.True(t, slices.ContainsFunc(w.notes, func(n string) bool { return strings.Contains(n, "FAILED") }))
		})
	}
}

func TestPromotionTestingMovedOnBeforeTheWindow(t *testing.T) {
	for _, proceed := range []bool{true, false} {
		t.Run(fmt.Sprint("proceed=", proceed), func(t *testing.T) {
			w := &world{production: "r1", testing: "r2"}
			env := newPromotionEnv(t, w)
			var approved, wrong, decided answer
			sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 2*time.Hour, 3*time.Hour), &approved)
			env.RegisterDelayedCallback(func() { w.testing = "r3" }, 90*time.Minute)
			sendUpdate[ProceedRequest](env, 2*time.Hour+time.Minute, UpdateProceed, ProceedRequest{By: "mallory", Proceed: true}, &wrong)
			var waiting PromotionStatus
			env.RegisterDelayedCallback(func() { waiting = queryPromotion(t, env) }, 2*time.Hour+2*time.Minute)
			sendUpdate[ProceedRequest](env, 2*time.Hour+3*time.Minute, UpdateProceed, ProceedRequest{By: "bob", Proceed: proceed}, &decided)
			var firmwareDone answer
			sendUpdate[TaskDone](env, 3*time.Hour, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmwareDone)

			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
			require.NoError(t, firmwareDone.refused, "the firmware task is marked done")

			failure := ErrTypePromotionCanceled
			if proceed {
				failure = ""
			}
			st := promotionEnd(t, env, failure, "")
			require.ErrorContains(t, wrong.refused, "may not approve")
			require.Equal(t, PhaseAwaitingDecision, waiting.Phase)
			require.Contains(t, waiting.WaitingFor, "testing serves r3 now, not the candidate r2")
			require.NoError(t, decided.refused)
			if proceed {
				require.Equal(t, ApprovalDone, st.State)
				require.Equal(t, "r2", w.production, "the tested candidate, not what testing serves now")
			} else {
				require.Equal(t, ApprovalCanceled, st.State)
				require.Equal(t, "r1", w.production)
				require.Zero(t, w.calls["Silence"])
			}
		})
	}
}

// A bypass while a promotion waits for its window: testing serves the
// candidate with the fix carried into it, which is still the candidate;
// the promotion records the bypass and switches production to the
// candidate (the store carries the fix into that switch too).
func TestPromotionTakesABypassInItsStride(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	var approved answer
	sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 2*time.Hour, 3*time.Hour), &approved)
	announcement := activities.BypassAnnouncement{Bypass: "bypass-site-1", Overlay: "site", Snapshot: "s2", Testing: "r2+b", Reason: "CVE-2026-1234", Actor: "cli/carol"}
	env.RegisterDelayedCallback(func() {
		w.testing, w.testingBase = "r2+b", "r2"
		env.SignalWorkflow(activities.SignalBypassApplied, announcement)
		env.SignalWorkflow(activities.SignalBypassApplied, announcement) // a retried announcement
	}, 90*time.Minute)
	var waiting PromotionStatus
	env.RegisterDelayedCallback(func() { waiting = queryPromotion(t, env) }, 100*time.Minute)
	var firmwareDone answer
	sendUpdate[TaskDone](env, 3*time.Hour, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmwareDone)

	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	require.NoError(t, firmwareDone.refused, "the firmware task is marked done")

	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, approved.refused)
	require.Equal(t, []activities.BypassAnnouncement{announcement}, waiting.Bypasses, "the waiting promotion knows of the bypass, once")
	var st PromotionStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, ApprovalDone, st.State, "no decision asked: testing still serves the candidate, with the fix")
	require.Equal(t, "r2", w.production)
}

// A promotion started from the Web UI with a release alone loads the
// candidate the test cycle recorded, and refuses a release without one.
func TestPromotionLoadsItsCandidate(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	env.OnActivity(repoActs.LoadCandidate, mock.Anything, activities.ReleaseInput{Release: "r2"}).Return(candidate, nil)
	var rejected answer
	sendUpdate[Approval](env, time.Hour, UpdateRejectOutage, RejectRequest{Approver: "alice", Comment: "later"}, &rejected)
	env.ExecuteWorkflow(Promotion, PromotionInput{Release: "r2"})
	st := promotionEnd(t, env, ErrTypePromotionRejected, "")
	require.Equal(t, candidate.TotalEstimate, st.Candidate.TotalEstimate)

	env2 := newPromotionEnv(t, &world{production: "r1", testing: "r2"})
	env2.OnActivity(repoActs.LoadCandidate, mock.Anything, mock.Anything).Return(activities.Candidate{},
		temporal.NewNonRetryableApplicationError("release r9 has no candidate", activities.ErrTypeInvalidInput, nil))
	env2.ExecuteWorkflow(Promotion, PromotionInput{Release: "r9"})
	require.ErrorContains(t, env2.GetWorkflowError(), "release r9 has no candidate")
}
