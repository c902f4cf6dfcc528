package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// TestWorkerKilledDuringASuiteResumesPromptly kills the real `osflow
// worker` with SIGKILL while a command suite runs: another worker runs
// the suite again as soon as the dead one's heartbeats stop, and the round
// completes within a minute and a half of the kill (it took over 6 minutes
// under the old 5-minute heartbeat timeout and 1-minute retry interval).
func TestWorkerKilledDuringASuiteResumesPromptly(t *testing.T) {
	dir := t.TempDir()
	side, gate := filepath.Join(dir, "side"), filepath.Join(dir, "gate")
	smoke := fmt.Sprintf(`echo began >>%s; while [ ! -e %s ]; do sleep 0.1; done; printf '<testsuite name="smoke"><testcase name="login"/></testsuite>' > "$OSFLOW_JUNIT"`, side, gate)
	s := newBareSite(t, "e2e-suite-kill", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, `testing:
  suites:
    - name: smoke
      command: ["sh", "-c", `+fmt.Sprintf("%q", smoke)+`]
  gate:
    cleanRounds: 99
  roundInterval: 24h
`)
	w := s.workerProcess()
	s.sync()
	require.Eventually(t, func() bool { return lines(side) == 1 }, 2*time.Minute, 100*time.Millisecond, "the round never began its suite")
	s.waitAttemptStarted(workflows.TestCycleWorkflowID, "RunSuite", 1)

	require.NoError(t, w.Process.Kill())
	_ = w.Wait()
	killed := time.Now()
	// The killed worker's suite process is orphaned, not killed: let it
	// and the retry finish.
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	s.workerProcess()

	const bound = 90 * time.Second
	var st workflows.TestCycleState
	require.Eventually(t, func() bool {
		var err error
		st, err = starter.CycleStatus(context.Background(), s.client)
		return err == nil && st.RoundsRun >= 1 && st.InRound == nil
	}, bound-time.Since(killed), 200*time.Millisecond, "the round did not complete within %s of the worker's death", bound)
	require.Equal(t, 2, lines(side), "the killed run and one retry")
	require.Equal(t, 1, st.CleanStreak, "the retried suite passed")
}
