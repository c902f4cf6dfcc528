package workflows

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/activities"
)

var bypassPlan = activities.BypassPlan{Overlay: "site", Approvers: []string{"alice"},
	Channels: []string{"testing", "production"}, RepoTaskQueue: "osflow-repo"}

var fixedOpenSSL = BypassPackage{Path: "/store/tmp/bypass-cli-1/openssl-3.0.7-27.el9.x86_64.rpm"}

// bypassWorld records what a bypass asked of the store and the others.
type bypassWorld struct {
	plan    activities.BypassPlan
	planErr error
	// stageErr refuses the packages, as StageBypass does.
	stageErr error
	calls    map[string]int
	applied  activities.ApplyBypassInput
	tickets  []activities.TicketInput
	woken    []activities.SignalWithStartInput
	// noProduction: production serves nothing yet, so the store switches
	// testing only.
	noProduction bool
}

func newBypassEnv(t *testing.T, w *bypassWorld) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Bypass)
	for _, a := range []any{&activities.ConfigActivities{}, &activities.RepoActivities{}, &activities.TestActivities{},
		&activities.PromotionActivities{}, &activities.CycleActivities{}} {
		env.RegisterActivity(a)
	}
	w.calls = map[string]int{}
	env.OnActivity(configActs.BypassPlan, mock.Anything, mock.Anything).Return(w.plan, w.planErr)
	env.OnActivity(repoActs.StageBypass, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.StageBypassInput) ([]activities.StagedRPM, error) {
			w.calls["StageBypass"]++
			require.NotEmpty(t, in.Key)
			if w.stageErr != nil {
				return nil, w.stageErr
			}
			return []activities.StagedRPM{{Path: in.Packages[0].Path, NEVRA: "openssl-1:3.0.7-27.el9.x86_64", Replaces: "openssl-1:3.0.7-24.el9.x86_64"}}, nil
		})
	env.OnActivity(repoActs.ApplyBypass, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ApplyBypassInput) (activities.BypassResult, error) {
			w.calls["ApplyBypass"]++
			w.applied = in
			res := activities.BypassResult{Snapshot: "site/2026-12-01T0900", Switches: []activities.ChannelSwitch{
				{Channel: "testing", From: "r7", To: "r7+b1", Changed: true},
				{Channel: "production", From: "r6", To: "r6+b1", Changed: true},
			}}
			if w.noProduction {
				res.Switches = res.Switches[:1]
			}
			return res, nil
		})
	env.OnActivity(testActs.Visible, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.VisibleInput) error {
			w.calls["Visible "+in.Channel]++
			require.Equal(t, []string{"openssl-1:3.0.7-27.el9.x86_64"}, in.NEVRAs)
			return nil
		})
	env.OnActivity(cycleActs.SignalWithStart, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SignalWithStartInput) (string, error) {
			w.woken = append(w.woken, in)
			return "run-1", nil
		})
	env.OnActivity(cycleActs.AnnounceBypass, mock.Anything, mock.Anything).Return(1, nil)
	env.OnActivity(promotionActs.FileTicket, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TicketInput) (activities.TicketRef, error) {
			w.tickets = append(w.tickets, in)
			return activities.TicketRef{ID: "OSF-12"}, nil
		})
	env.OnActivity(promotionActs.Notify, mock.Anything, mock.Anything).Return(nil)
	return env
}

func bypassInput() BypassInput {
	return BypassInput{Overlay: "site", Packages: []BypassPackage{fixedOpenSSL},
		Reason: "CVE-2026-1234: remote code execution in openssl", Actor: "carol"}
}

func TestBypassGoesStraightToBothChannelsAndFoldsBack(t *testing.T) {
	w := &bypassWorld{plan: bypassPlan}
	env := newBypassEnv(t, w)

	env.ExecuteWorkflow(Bypass, bypassInput())

	require.NoError(t, env.GetWorkflowError())
	var st BypassStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseDone, st.Phase)
	require.Equal(t, []string{"testing", "production"}, w.applied.Channels, "testing first, then production")
	require.Equal(t, "carol", w.applied.Actor)
	require.Contains(t, w.applied.Reason, "CVE-2026-1234")
	require.NotEmpty(t, w.applied.Key, "the store op is keyed")
	require.Equal(t, 1, w.calls["Visible testing"])
	require.Equal(t, 1, w.calls["Visible production"])
	require.Len(t, w.woken, 1)
	require.Equal(t, SignalTestingUpdated, w.woken[0].Signal)
	require.Equal(t, "r7+b1", w.woken[0].Payload.Release, "the cycle tests the testing release the bypass made")
	require.Len(t, w.tickets, 1)
	require.Equal(t, "bypass/default-test-workflow-id", w.tickets[0].Fingerprint)
	require.Contains(t, w.tickets[0].Body, "CVE-2026-1234")
	require.Contains(t, w.tickets[0].Body, "production: r6 -> r6+b1")
	require.Contains(t, w.tickets[0].Body, "openssl-1:3.0.7-27.el9.x86_64 replaces openssl-1:3.0.7-24.el9.x86_64")
	require.Equal(t, "OSF-12", st.Ticket.ID)
	var names []string
	for _, s := range st.Steps {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"read the bypass policy", "check the packages", "add, snapshot and switch testing and production",
		"dnf sees it on testing and production", "wake the test cycle", "tell running promotions",
		"file the tracking ticket", "notify"}, names)
}

// Production serving nothing yet is not switched (it gets the fix with its
// first release), and so it is not checked with dnf, which would fail on
// it until then.
func TestBypassChecksOnlyTheChannelsItSwitched(t *testing.T) {
	w := &bypassWorld{plan: bypassPlan, noProduction: true}
	env := newBypassEnv(t, w)
	env.ExecuteWorkflow(Bypass, bypassInput())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 1, w.calls["Visible testing"])
	require.Zero(t, w.calls["Visible production"])
	var st BypassStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, PhaseDone, st.Phase)
	require.True(t, slices.ContainsFunc(st.Steps, func(s Step) bool { return s.Name == "dnf sees it on testing" }), "%+v", st.Steps)
}

func TestBypassRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       func(*BypassInput)
		planErr  error
		stageErr error
		want     string
	}{
		{name: "no reason", in: func(in *BypassInput) { in.Reason = "" }, want: "a bypass needs a reason"},
		{name: "no policy", planErr: temporal.NewNonRetryableApplicationError("overlay site has no bypass policy (repos[].bypass.allow in /etc/osflow.yaml)", activities.ErrTypeInvalidInput, nil),
			want: "no bypass policy"},
		{name: "package not allowed", stageErr: temporal.NewNonRetryableApplicationError("bash-5.1.rpm: package bash is not allowed in overlay site (bypass.allow: openssl*)", activities.ErrTypeInvalidInput, nil),
			want: "bash is not allowed"},
		{name: "downgrade", stageErr: temporal.NewNonRetryableApplicationError("openssl-1:3.0.7-20.el9.x86_64 is older than openssl-1:3.0.7-24.el9.x86_64, which production serves: a downgrade (--allow-downgrade to force it)", activities.ErrTypeInvalidInput, nil),
			want: "a downgrade"},
		{name: "checksum", stageErr: temporal.NewNonRetryableApplicationError("https://vendor/openssl.rpm: SHA-256 aa, not the bb given: nothing was kept", activities.ErrTypeBadContent, nil),
			want: "nothing was kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &bypassWorld{plan: bypassPlan, planErr: tc.planErr, stageErr: tc.stageErr}
			env := newBypassEnv(t, w)
			in := bypassInput()
			if tc.in != nil {
				tc.in(&in)
			}

			env.ExecuteWorkflow(Bypass, in)

			require.ErrorContains(t, env.GetWorkflowError(), tc.want)
			require.Zero(t, w.calls["ApplyBypass"], "a refused bypass moves nothing")
			require.Empty(t, w.tickets)
			require.Empty(t, w.woken)
		})
	}
}

func TestBypassWithRequiredApproval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		decide  func(env *testsuite.TestWorkflowEnvironment, stranger, decision *answer)
		applied bool
		want    string
	}{
		{name: "approved", applied: true, decide: func(env *testsuite.TestWorkflowEnvironment, stranger, decision *answer) {
			sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, ApproveRequest{Approver: "mallory", Comment: "go"}, stranger)
			sendUpdate[Approval](env, 2*time.Hour, UpdateApproveOutage, ApproveRequest{Approver: "alice", Comment: "go"}, decision)
		}},
		{name: "rejected", want: "rejected by alice: wait for the vendor's fixed build", decide: func(env *testsuite.TestWorkflowEnvironment, stranger, decision *answer) {
			sendUpdate[Approval](env, time.Hour, UpdateRejectOutage, RejectRequest{Approver: "mallory", Comment: "no"}, stranger)
			sendUpdate[Approval](env, 2*time.Hour, UpdateRejectOutage, RejectRequest{Approver: "alice", Comment: "wait for the vendor's fixed build"}, decision)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := bypassPlan
			plan.RequireApproval = true
			w := &bypassWorld{plan: plan}
			env := newBypassEnv(t, w)
			var stranger, decision answer
			tc.decide(env, &stranger, &decision)
			var waiting BypassStatus
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(QueryStatus)
				require.NoError(t, err)
				require.NoError(t, v.Get(&waiting))
			}, 30*time.Minute)

			env.ExecuteWorkflow(Bypass, bypassInput())

			require.Equal(t, PhaseAwaitingApproval, waiting.Phase)
			require.Equal(t, ApprovalPending, waiting.Approval.State)
			require.Equal(t, 1, w.calls["StageBypass"], "the packages are checked before anyone is asked")
			require.ErrorContains(t, stranger.refused, `"mallory" may not approve`)
			require.NoError(t, decision.refused)
			if tc.applied {
				require.NoError(t, env.GetWorkflowError())
				require.Equal(t, 1, w.calls["ApplyBypass"])
				return
			}
			require.ErrorContains(t, env.GetWorkflowError(), tc.want)
			require.Zero(t, w.calls["ApplyBypass"])
		})
	}
}
