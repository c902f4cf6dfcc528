package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/flock"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// osflowBinary builds cmd/osflow once per test run.
var osflowBinary = sync.OnceValues(func() (string, error) {
	dir, err := filepath.Abs(filepath.Join("..", "bin", "e2e"))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "osflow")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/osflow").CombinedOutput()
	if err != nil {
		return "", &exec.Error{Name: "go build: " + string(out), Err: err}
	}
	return bin, nil
})

// workerProcess runs `osflow worker` for the site as a child process,
// with env ("KEY=VALUE") added to the test's environment.
func (s *site) workerProcess(env ...string) *exec.Cmd {
	s.t.Helper()
	bin, err := osflowBinary()
	require.NoError(s.t, err)
	cmd := exec.Command(bin, "--config", s.cfg.Path, "worker")
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(s.t, cmd.Start())
	s.workers = append(s.workers, cmd)
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if s.t.Failed() {
			s.t.Logf("worker output:\n%s", out.String())
		}
	})
	return cmd
}

// waitPendingStarted waits until the workflow has a started, pending
// activity of the given type: a worker is inside it.
func waitPendingStarted(t *testing.T, c client.Client, workflowID, activityType string) {
	t.Helper()
	require.Eventually(t, func() bool {
		desc, err := c.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			return false
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetActivityType().GetName() == activityType && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		return false
	}, time.Minute, 50*time.Millisecond, "no worker started %s in %s", activityType, workflowID)
}

// killDuring holds the store's lock so that the store step of the
// workflow start() starts blocks inside its activity, kills every worker
// of the site with SIGKILL there, releases the lock and starts another
// worker. The step must then complete on the new worker within a minute:
// store activities heartbeat, so a dead worker is noticed in seconds.
func (s *site) killDuring(activityType string, start func() client.WorkflowRun) (client.WorkflowRun, time.Time) {
	s.t.Helper()
	unlock, err := flock.Lock(context.Background(), filepath.Join(s.store.Root(), "lock"))
	require.NoError(s.t, err)
	run := start()
	waitPendingStarted(s.t, s.client, run.GetID(), activityType)
	for _, w := range s.workers {
		if w.ProcessState == nil {
			require.NoError(s.t, w.Process.Kill())
			_ = w.Wait()
		}
	}
	killed := time.Now()
	unlock()
	s.workerProcess()
	return run, killed
}

// completesWithin waits for run's result, failing the test if it takes
// longer than d from since.
func completesWithin[T any](t *testing.T, run client.WorkflowRun, since time.Time, d time.Duration) T {
	t.Helper()
	var res T
	done := make(chan error, 1)
	go func() { done <- run.Get(context.Background(), &res) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(d - time.Since(since)):
		t.Fatalf("%s did not complete within %s of the worker's death", run.GetID(), d)
	}
	return res
}

func TestWorkerKilledInAStoreStepRecoversWithinAMinute(t *testing.T) {
	// No rehearsal: its freeze of testing, taken whenever the cycle gets
	// there, would refuse the rollback below (seen under load).
	s := newBareSite(t, "e2e-recovery", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}},
		"testing:\n  gate:\n    cleanRounds: 99\n")
	ctx := context.Background()
	s.workerProcess()

	t.Run("release creation", func(t *testing.T) {
		run, killed := s.killDuring("PublishRelease", func() client.WorkflowRun {
			return s.must(starter.StartSync(ctx, s.client, s.cfg, "e2e", "kill during release"))
		})
		st := completesWithin[workflows.DailySyncStatus](t, run, killed, time.Minute)
		require.True(t, st.Created, "the release was created by this run")
		require.Equal(t, st.Release, s.channel("testing"))
		for _, sw := range st.Switches {
			require.True(t, sw.Changed, "%s moved in this run", sw.Channel)
		}
	})

	t.Run("switch", func(t *testing.T) {
		first := s.channel("testing")
		s.publish("baseos", spec("hpc-base", "1.1"))
		st, err := starter.WaitSync(ctx, s.client, s.must(starter.StartSync(ctx, s.client, s.cfg, "e2e", "second")), func(activities.SyncProgress) {})
		require.NoError(t, err)
		require.NotEqual(t, first, st.Release)

		run, killed := s.killDuring("RollbackChannel", func() client.WorkflowRun {
			return s.must(s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: workflows.RollbackWorkflowID("testing", time.Now()), TaskQueue: s.cfg.Temporal.TaskQueue,
			}, workflows.ChannelRollback, activities.RollbackInput{Channel: "testing", Actor: "cli/e2e", Reason: "kill during the switch"}))
		})
		sw := completesWithin[activities.ChannelSwitch](t, run, killed, time.Minute)
		require.True(t, sw.Changed)
		require.Equal(t, first, sw.To)
		require.Equal(t, first, s.channel("testing"))
		log, err := s.store.History("testing")
		require.NoError(t, err)
		var entries int
		for _, e := range log {
			if e.Key == sw.Key {
				entries++
			}
		}
		require.Equal(t, 1, entries, "one audit entry for the operation, whichever attempt made it")
		require.Equal(t, repo.OutcomeSwitched, log[len(log)-1].Outcome)
	})
}

// must returns a started workflow run, failing the test on an error.
func (s *site) must(run client.WorkflowRun, err error) client.WorkflowRun {
	s.t.Helper()
	require.NoError(s.t, err)
	return run
}
