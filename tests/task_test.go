package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/workflows"
)

// TestOutageTaskSurvivesWorkerRestarts stops the real `osflow worker`
// with SIGINT twice while the rehearsal's outage task runs, starting a new
// one each time: the task runs once, the new workers wait for it, and the
// rehearsal records its real duration.
func TestOutageTaskSurvivesWorkerRestarts(t *testing.T) {
	dir := t.TempDir()
	side, gate := filepath.Join(dir, "side"), filepath.Join(dir, "gate")
	drain := fmt.Sprintf(`echo began >>%s; while [ ! -e %s ]; do sleep 0.1; done; echo drained`, side, gate)
	smoke := `printf '<testsuite name="smoke"><testcase name="login"/></testsuite>' > "$OSFLOW_JUNIT"`
	s := newBareSite(t, "e2e-task-restart", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, `testing:
  suites:
    - name: smoke
      command: ["sh", "-c", `+fmt.Sprintf("%q", smoke)+`]
  gate:
    cleanRounds: 1
  roundInterval: 24h
outage:
  tasks:
    - name: drain
      command: ["sh", "-c", `+fmt.Sprintf("%q", drain)+`]
      expected: 1m
    - name: firmware
      manual: true
      expected: 10m
`)
	// The worker's cache, and so its outage task runs, as the systemd
	// unit's XDG_CACHE_HOME puts it.
	cache := filepath.Join(s.dir, "worker-cache")
	w := s.workerProcess("XDG_CACHE_HOME=" + cache)
	begin := time.Now()
	s.sync()
	require.Eventually(t, func() bool { return lines(side) == 1 }, 2*time.Minute, 100*time.Millisecond, "the rehearsal never began its task")

	for attempt := int32(2); attempt <= 3; attempt++ {
		require.NoError(t, w.Process.Signal(syscall.SIGINT))
		require.NoError(t, w.Wait(), "the worker stops cleanly")
		w = s.workerProcess("XDG_CACHE_HOME=" + cache)
		s.waitAttemptStarted(workflows.TestCycleWorkflowID, "RunTask", attempt)
	}
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	st := s.cycleState(func(st workflows.TestCycleState) bool { return st.WaitingFor == "firmware" }, "the rehearsal's manual task")
	took := time.Since(begin)

	require.Equal(t, 1, lines(side), "the task ran once")
	require.Len(t, st.Rehearsal, 1)
	require.Equal(t, "drain", st.Rehearsal[0].Task)
	require.Positive(t, st.Rehearsal[0].Measured)
	require.Less(t, st.Rehearsal[0].Measured, took)
	runs, err := filepath.Glob(filepath.Join(cache, "osflow", "tasks", "*", "status"))
	require.NoError(t, err)
	require.Len(t, runs, 1)
	status, err := os.ReadFile(runs[0])
	require.NoError(t, err)
	require.Equal(t, "0", strings.TrimSpace(string(status)))
	recordHistory(t, s.client, workflows.TestCycleWorkflowID, "", "testcycle-v2-task-reattach")
}

// waitAttemptStarted waits until a worker is inside the given attempt of
// the workflow's pending activity.
func (s *site) waitAttemptStarted(workflowID, activityType string, attempt int32) {
	s.t.Helper()
	require.Eventually(s.t, func() bool {
		desc, err := s.client.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			return false
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetActivityType().GetName() == activityType && pa.GetAttempt() >= attempt &&
				pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		return false
	}, time.Minute, 50*time.Millisecond, "no worker started attempt %d of %s in %s", attempt, activityType, workflowID)
}

func lines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
