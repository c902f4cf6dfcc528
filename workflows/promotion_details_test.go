package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/internal/testtool"
)

// promotionEnd is the status a promotion ended with. failure is the type
// of the error it must end with ("" for none), and message a part of the
// error's message.
func promotionEnd(t *testing.T, env *testsuite.TestWorkflowEnvironment, failure, message string) PromotionStatus {
	t.Helper()
	var st PromotionStatus
	err := env.GetWorkflowError()
	if failure == "" {
		require.NoError(t, err)
		require.NoError(t, env.GetWorkflowResult(&st))
		return st
	}
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, failure, app.Type(), "%v", err)
	require.True(t, app.NonRetryable(), "a promotion's end is not retried")
	require.Contains(t, app.Error(), message)
	require.NoError(t, app.Details(&st), "the failure carries the status")
	return st
}

// currentDetails is what the Web UI shows as the workflow's current
// details, read through the metadata query it uses.
func currentDetails(t *testing.T, env *testsuite.TestWorkflowEnvironment) string {
	t.Helper()
	v, err := env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	return md.GetCurrentDetails()
}

// The current details answer what a manager asks: the release, what it
// changes on production, what the promotion waits for with the exact
// commands in code blocks (outside one, Markdown renders "--as" as an en
// dash), the comments, and who decided when.
func TestPromotionDetailsAnswerWhatAndHow(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	sendUpdate[Note](env, 20*time.Minute, UpdateComment, CommentRequest{By: "dave", Text: "the users of\nnode17 ask for Tuesday"}, &answer{})
	var waiting, ended string
	env.RegisterDelayedCallback(func() { waiting = currentDetails(t, env) }, 30*time.Minute)
	sendUpdate[Approval](env, time.Hour, UpdateRejectOutage, RejectRequest{Approver: "bob", Comment: "not before the conference"}, &answer{})
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	promotionEnd(t, env, ErrTypePromotionRejected, "rejected by bob")
	ended = currentDetails(t, env)

	id := "default-test-workflow-id"
	for _, want := range []string{
		"## Release `r2`: pending",
		"**Waiting for:** approval by one of alice, bob\n",
		"```\nosflow approve " + id + " --as NAME --window-start TIME\n```",
		"```\nosflow reject " + id + " --as NAME --comment TEXT\n```",
		"**Decision:** none yet",
		"(`r1` → `r2`)",
		"- Packages: 3 upgraded",
		"- Advisory **RLSA-1** (security, Important)",
		"| drain | 0s | 7m0s |  |",
		"| firmware | 0s | 30m0s | manual |",
		"- **dave** at ", ": the users of node17 ask for Tuesday",
	} {
		require.Contains(t, waiting, want)
	}
	require.Contains(t, ended, "## Release `r2`: rejected")
	require.Contains(t, ended, "**Decision:** rejected by **bob** at ")
	require.Contains(t, ended, ": not before the conference")
	require.NotContains(t, ended, "osflow approve", "nothing to act on once rejected")
}

// Security advisories come first, whatever order the report has, and the
// list is bounded.
func TestRenderPromotionDetailsSecurityFirst(t *testing.T) {
	var advisories []activities.Advisory
	for i := range 12 {
		typ := "bugfix"
		if i%4 == 3 {
			typ = "security"
		}
		advisories = append(advisories, activities.Advisory{ID: fmt.Sprintf("A-%02d", i), Type: typ})
	}
	st := PromotionStatus{Release: "r2", Risk: &activities.RiskReport{Production: "r1",
		Packages: activities.PackageRisk{Advisories: advisories, MoreAdvisories: 1}}}
	got := renderPromotionDetails(st, "production", nil)
	for _, tc := range []struct{ before, after string }{
		{"A-03", "A-00"}, {"A-07", "A-00"}, {"A-11", "A-00"}, {"A-00", "A-01"},
	} {
		require.Less(t, strings.Index(got, tc.before), strings.Index(got, tc.after), "%s before %s", tc.before, tc.after)
	}
	require.NotContains(t, got, "A-10", "bounded to %d", detailsMaxAdvisories)
	require.Contains(t, got, "- and 3 more advisories")
}

// The decision says who, when, the window and why, in every state.
func TestRenderPromotionDetailsDecision(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		approval Approval
		want     string
	}{
		{Approval{State: ApprovalPending}, "**Decision:** none yet"},
		{Approval{State: ApprovalApproved, By: "alice", At: at, Comment: "go", WindowStart: at.Add(time.Hour), WindowEnd: at.Add(3 * time.Hour)},
			"**Decision:** approved by **alice** at 2026-12-07T09:00:00Z, window 2026-12-07T10:00:00Z to 2026-12-07T12:00:00Z: go"},
		{Approval{State: ApprovalRejected, By: "bob", At: at, Comment: "not now"}, "**Decision:** rejected by **bob** at 2026-12-07T09:00:00Z: not now"},
	} {
		t.Run(tc.approval.State, func(t *testing.T) {
			require.Contains(t, renderPromotionDetails(PromotionStatus{Release: "r2", Approval: tc.approval}, "production", nil), tc.want)
		})
	}
}

// With signed approvals required, the commands the details and the status
// show carry --key: without it the decision is refused.
func TestPromotionDetailsSignedCommands(t *testing.T) {
	_, aliceLine := testtool.SSHKey(t, "alice", "ed25519")
	w := &world{production: "r1", testing: "r2", requireSigned: true, keys: approverKeys(t, aliceLine)}
	env := newPromotionEnv(t, w)
	var waiting string
	var st PromotionStatus
	env.RegisterDelayedCallback(func() {
		waiting = currentDetails(t, env)
		v, err := env.QueryWorkflow(QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&st))
		env.CancelWorkflow()
	}, 30*time.Minute)
	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	id := "default-test-workflow-id"
	for _, want := range []string{
		"```\nosflow approve " + id + " --as NAME --key FILE --window-start TIME\n```",
		"```\nosflow reject " + id + " --as NAME --key FILE --comment TEXT\n```",
	} {
		require.Contains(t, waiting, want)
	}
	require.Contains(t, st.WaitingFor, "osflow approve "+id+" --as NAME --key FILE --window-start TIME")
}

// A candidate that carries stale repos says so in the details: their
// updates are not in it.
func TestRenderPromotionDetailsStaleRepos(t *testing.T) {
	st := PromotionStatus{Release: "r2", Risk: &activities.RiskReport{Production: "r1", Packages: activities.PackageRisk{
		Stale: []activities.StaleRepo{{Repo: "epel", Snapshot: "s0", Since: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), Cause: "503\nretried"}}}}}
	require.Contains(t, renderPromotionDetails(st, "production", nil),
		"- Repo epel is **stale**: it keeps snapshot `s0`, failing to sync since 2026-12-01T02:00:00Z: 503 retried\n")
}
