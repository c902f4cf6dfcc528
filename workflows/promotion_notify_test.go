package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/activities"
)

// Issue 17 #5: no notification went out when an outage was approved, when
// its window started, or at each step; comments reached no one.
func TestPromotionNotifiesEveryTurn(t *testing.T) {
	w := &world{production: "r1", testing: "r2"}
	env := newPromotionEnv(t, w)
	var pages []activities.PublishRiskInput
	env.OnActivity(promotionActs.PublishCandidatePage, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PublishRiskInput) (activities.Published, error) {
			pages = append(pages, in)
			return activities.Published{Page: "Release-r2", URL: "https://wiki/Release-r2"}, nil
		})
	var comment, approved, done answer
	sendUpdate[Note](env, 30*time.Minute, UpdateComment, CommentRequest{By: "dave", Text: "the chemistry group runs a deadline job until Friday"}, &comment)
	sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, window(env, 24*time.Hour, 4*time.Hour), &approved)
	sendUpdate[TaskDoneResult](env, 24*time.Hour+20*time.Minute, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &done)

	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, comment.refused)
	require.NoError(t, approved.refused)
	require.NoError(t, done.refused)

	subjects := strings.Join(w.notes, "\n")
	for _, want := range []string{
		"osflow: dave commented on the promotion of r2",
		"osflow: outage of release r2 approved by alice for ",
		"osflow: outage window of release r2 begins",
		"osflow: outage of r2: silence monitoring done",
		"osflow: outage of r2: switch production done",
		"osflow: outage of r2: task firmware done",
		"osflow: outage of r2: verify production done",
		"osflow: production now serves release r2",
	} {
		require.Contains(t, subjects, want)
	}
	keys := map[string]bool{}
	for _, n := range w.sent {
		require.False(t, keys[n.Key], "one key per notification: %s", n.Key)
		keys[n.Key] = true
		if strings.Contains(n.Subject, "approved by alice") {
			require.Contains(t, n.Text, "Window: ")
			require.Contains(t, n.Text, "dave (", "the approval lists the comments")
		}
	}
	require.Len(t, pages, 1, "the comment after the risk report republishes the page")
	require.Equal(t, "dave", pages[0].Comments[0].By)
	require.Contains(t, pages[0].Comments[0].Text, "deadline job")
}

// The merge-back's result reached no one.
func TestMergeBackNotifiesItsResult(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    bool
		subject string
		text    string
	}{
		{"merged", false, "osflow: hotfixes of release r2 merged back to test", "- puppet into test: merge commit c-puppet\n"},
		{"failed", true, "osflow: merge-back of release r2 FAILED", "Stopped: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(MergeBack)
			env.RegisterActivity(&activities.PromotionActivities{})
			env.OnActivity(promotionActs.Merge, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.MergeInput) (activities.MergeRecord, error) {
					if tc.fail {
						return activities.MergeRecord{}, temporal.NewNonRetryableApplicationError("auth refused", activities.ErrTypeInvalidInput, nil)
					}
					return activities.MergeRecord{Repo: in.Repo, Into: in.Into, Commit: "c-" + in.Repo}, nil
				})
			var sent []activities.NotifyInput
			env.OnActivity(promotionActs.Notify, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.NotifyInput) error { sent = append(sent, in); return nil })
			env.ExecuteWorkflow(MergeBack, MergeBackInput{Release: "r2", Promotion: "promotion-r2",
				Repos: []activities.GitRepoPlan{{Name: "puppet", Test: "test", Production: "production"}}})
			require.Equal(t, tc.fail, env.GetWorkflowError() != nil)
			require.Len(t, sent, 1)
			require.Equal(t, tc.subject, sent[0].Subject)
			require.Contains(t, sent[0].Text, tc.text)
			require.True(t, strings.HasSuffix(sent[0].Key, "/notify-merge-back"), sent[0].Key)
		})
	}
}

// A comment that arrives as the promotion ends, as an Update or as a
// signal, is still told: the promotion waits for the comment's
// notification before it ends.
func TestPromotionEndsAfterACommentIsTold(t *testing.T) {
	for _, signal := range []bool{false, true} {
		t.Run(fmt.Sprintf("signal=%v", signal), func(t *testing.T) {
			w := &world{production: "r1", testing: "r2"}
			env := newPromotionEnv(t, w)
			env.OnActivity(promotionActs.PublishCandidatePage, mock.Anything, mock.Anything).After(10*time.Minute).Return(
				activities.Published{Page: "Release-r2", URL: "https://wiki/Release-r2"}, nil)
			var comment, rejected answer
			req := CommentRequest{By: "dave", Text: "why not?"}
			if signal {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(UpdateComment, req) }, time.Hour)
			} else {
				sendUpdate[Note](env, time.Hour, UpdateComment, req, &comment)
			}
			sendUpdate[Approval](env, time.Hour+time.Second, UpdateRejectOutage, RejectRequest{Approver: "bob", Comment: "not now"}, &rejected)
			env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})
			promotionEnd(t, env, ErrTypePromotionRejected, "rejected by bob")
			require.NoError(t, rejected.refused)
			require.NoError(t, comment.refused)
			require.Contains(t, strings.Join(w.notes, "\n"), "osflow: dave commented on the promotion of r2")
		})
	}
}
