package tests

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/worker"
	"github.com/osflow/osflow/workflows"
)

// cliResult is what a CLI run printed and returned.
type cliResult struct {
	out string
	err error
}

// osflowAsync runs the CLI in the background and delivers its result.
func (s *site) osflowAsync(args ...string) <-chan cliResult {
	done := make(chan cliResult, 1)
	go func() {
		var out strings.Builder
		err := starter.Execute(append([]string{"--config", s.cfg.Path}, args...), &out, &out)
		done <- cliResult{out.String(), err}
	}()
	return done
}

// osflowWithin runs the CLI and fails the test if it has not answered
// within d: a command waiting for a worker that does not exist used to
// print nothing until killed.
func (s *site) osflowWithin(d time.Duration, args ...string) (string, error) {
	s.t.Helper()
	select {
	case r := <-s.osflowAsync(args...):
		return r.out, r.err
	case <-time.After(d):
		s.t.Fatalf("osflow %s did not answer within %s", strings.Join(args, " "), d)
		return "", nil
	}
}

// TestCommandsNeedingAWorkerSaySoWithinSeconds: with a Temporal server
// and no worker, each command whose work a worker does refuses within
// seconds, naming the queue and `osflow worker`/`osflow dev`, and starts
// nothing; a sync started anyway shows in status as waiting for a worker.
func TestCommandsNeedingAWorkerSaySoWithinSeconds(t *testing.T) {
	s := newBareSite(t, "e2e-noworker", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, "")
	const candidate = "20261201-aaaaaaaaaa"
	require.NoError(t, s.store.RecordCandidate(candidate, map[string]string{"Release": candidate}))
	mainQueue := "no worker polls task queue " + s.cfg.Temporal.TaskQueue + " in namespace e2e-noworker for workflows"
	repoQueue := "no worker polls task queue " + s.cfg.Temporal.RepoTaskQueue + " in namespace e2e-noworker for activities"
	tests := []struct {
		name  string
		args  []string
		needs []string
	}{
		{"sync --wait", []string{"sync", "--wait"}, []string{"osflow sync --wait needs a worker", mainQueue, repoQueue}},
		{"rollback", []string{"repo", "rollback", "testing", "--reason", "r"}, []string{"osflow repo rollback needs a worker", mainQueue, repoQueue}},
		{"promote", []string{"promote", "--release", candidate}, []string{"osflow promote needs a worker", mainQueue, repoQueue}},
		{"approve", []string{"approve", workflows.PromotionWorkflowID(candidate), "--as", "admin", "--window-start", "now", "--wait"}, []string{workflows.UpdateApproveOutage + " needs a worker", mainQueue}},
		{"freeze", []string{"freeze", "--reason", "r"}, []string{workflows.UpdateFreeze + " needs a worker", mainQueue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			out, err := s.osflowWithin(30*time.Second, tt.args...)
			require.Error(t, err, out)
			took := time.Since(start)
			require.Less(t, took, 15*time.Second)
			t.Logf("osflow %s refused after %s", strings.Join(tt.args, " "), took.Round(10*time.Millisecond))
			require.Equal(t, starter.ExitFailed, starter.ExitCode(err))
			for _, want := range append(tt.needs, "osflow worker --role main", "`osflow dev`", "nothing was started or sent") {
				require.Contains(t, err.Error(), want)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range []string{starter.ManualSyncWorkflowID, workflows.TestCycleWorkflowID, workflows.PromotionWorkflowID(candidate)} {
		_, err := s.client.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		require.True(t, errors.As(err, &nf), "%s was started: %v", id, err)
	}
	resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{})
	require.NoError(t, err)
	require.Empty(t, resp.GetExecutions(), "a command started a workflow")
	for _, ch := range []string{"daily", "testing", "production"} {
		require.Empty(t, s.channel(ch))
	}

	// A sync started without --wait (a worker may come later) is shown
	// as waiting for one, not as a sync without a phase.
	out, err := s.osflow("sync")
	require.NoError(t, err, out)
	var st starter.Status
	start := time.Now()
	require.Eventually(t, func() bool {
		st = starter.Status{}
		out, err := s.osflow("--json", "status")
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && len(st.Waiting) > 0
	}, 20*time.Second, 200*time.Millisecond, "osflow status never showed the sync waiting for a worker")
	t.Logf("status showed the waiting sync %s after it started", time.Since(start).Round(10*time.Millisecond))
	w := st.Waiting[0]
	require.Equal(t, starter.ManualSyncWorkflowID, w.WorkflowID)
	require.Equal(t, s.cfg.Temporal.TaskQueue, w.TaskQueue)
	require.Contains(t, w.Reason, mainQueue)
	text, err := s.osflow("status")
	require.NoError(t, err, text)
	require.Contains(t, text, "WAITING FOR A WORKER\n  "+starter.ManualSyncWorkflowID+": its workflow task (attempt 1)")
	require.Contains(t, text, "osflow worker --role main")
	d, err := s.client.DescribeWorkflowExecution(ctx, starter.ManualSyncWorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, "Running", d.GetWorkflowExecutionInfo().GetStatus().String())
	require.Empty(t, s.channel("testing"))

	// A worker that starts while `sync --wait` looks for one is in time:
	// the command follows the waiting sync to its end, or, when the worker
	// finished that one first, a sync of its own.
	done := s.osflowAsync("sync", "--wait")
	s.startWorker(worker.Options{Main: true, Repo: true})
	select {
	case r := <-done:
		require.NoError(t, r.err, r.out)
		require.Contains(t, r.out, "channel testing: ")
	case <-time.After(2 * time.Minute):
		t.Fatal("sync --wait did not end within 2 minutes of the worker's start")
	}
	require.NotEmpty(t, s.channel("testing"))
}
