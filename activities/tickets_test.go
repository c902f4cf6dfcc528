package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/tickets"
)

func processRound(t *testing.T, a *TicketActivities, release string, cases ...CaseResult) TicketSummary {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	v, err := env.ExecuteActivity(a.ProcessResults, ProcessResultsInput{
		Release: release, Channel: "testing", Results: []SuiteResult{{Suite: "repoclosure", Cases: cases}},
	})
	require.NoError(t, err)
	var sum TicketSummary
	require.NoError(t, v.Get(&sum))
	return sum
}

func TestProcessResultsFilesOnceCommentsThenCloses(t *testing.T) {
	tracker := &tickets.FileTracker{Dir: t.TempDir()}
	closeOnPass := true
	cfg := &config.Config{Testing: config.Testing{CloseOnPass: &closeOnPass, Gate: config.Gate{BlockerLabel: "blocker"}}}
	a := &TicketActivities{Tracker: tracker, Config: cfg}
	fail := CaseResult{Suite: "repoclosure", Name: "baseos", Status: "failed", Message: "nothing provides libfoo.so.1"}
	pass := CaseResult{Suite: "repoclosure", Name: "appstream", Status: "passed"}

	first := processRound(t, a, "r1", fail, pass)
	require.Len(t, first.New, 1)
	require.Empty(t, first.Commented)
	require.Equal(t, 1, first.Open)
	require.Equal(t, 2, first.Cases)
	require.Equal(t, 1, first.Failures)

	second := processRound(t, a, "r2", fail, pass)
	require.Empty(t, second.New, "the same failure on the next release is a comment, not a ticket")
	require.Equal(t, first.New, second.Commented)
	require.Equal(t, 1, second.Open)

	ctx := context.Background()
	tk, err := tracker.FindOpen(ctx, "repoclosure/baseos")
	require.NoError(t, err)
	require.NotNil(t, tk)

	fixed := fail
	fixed.Status, fixed.Message = "passed", ""
	third := processRound(t, a, "r3", fixed, pass)
	require.Equal(t, first.New, third.Closed)
	require.Zero(t, third.Open)
	tk, err = tracker.FindOpen(ctx, "repoclosure/baseos")
	require.NoError(t, err)
	require.Nil(t, tk)
}

func TestProcessResultsCountsBlockers(t *testing.T) {
	tracker := &tickets.FileTracker{Dir: t.TempDir()}
	cfg := &config.Config{Testing: config.Testing{Gate: config.Gate{BlockerLabel: "blocker"}}, Tickets: config.Tickets{Labels: []string{"blocker"}}}
	a := &TicketActivities{Tracker: tracker, Config: cfg}
	sum := processRound(t, a, "r1", CaseResult{Suite: "repoclosure", Name: "baseos", Status: "error", Message: "boom"})
	require.Equal(t, 1, sum.Blockers)
	require.Equal(t, 1, sum.Open)
}
