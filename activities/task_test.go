package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/osflow/osflow/config"
)

// taskFixture is a worker's TestActivities with one outage task that
// appends a line to side when it begins and ends once gate exists.
func taskFixture(t *testing.T) (acts *TestActivities, side, gate string) {
	dir := t.TempDir()
	side, gate = filepath.Join(dir, "side"), filepath.Join(dir, "gate")
	script := `echo "$OSFLOW_TASK $OSFLOW_RELEASE" >>"$1"; while [ ! -e "$2" ]; do sleep 0.05; done; echo drained`
	cfg := &config.Config{Path: filepath.Join(dir, "osflow.yaml"), Outage: config.Outage{Tasks: []config.Task{
		{Name: "drain", Command: []string{"sh", "-c", script, "sh", side, gate}},
	}}}
	return &TestActivities{Config: cfg, TasksDir: filepath.Join(dir, "tasks")}, side, gate
}

// attempt is one activity attempt on a worker of its own, as after a
// restart: it carries the last heartbeat of the attempt before.
type attempt struct {
	env  *testsuite.TestActivityEnvironment
	stop chan struct{}
	beat chan any
	// shutdown cancels the worker's activity contexts, as the SDK does
	// once a stopping worker's stop timeout has passed.
	shutdown context.CancelCauseFunc
}

func newAttempt(acts *TestActivities, last any) *attempt {
	var s testsuite.WorkflowTestSuite
	a := &attempt{env: s.NewTestActivityEnvironment(), stop: make(chan struct{}), beat: make(chan any, 100)}
	var root context.Context
	root, a.shutdown = context.WithCancelCause(context.Background())
	a.env.SetWorkerOptions(worker.Options{BackgroundActivityContext: root})
	a.env.RegisterActivity(acts)
	a.env.SetWorkerStopChannel(a.stop)
	if last != nil {
		a.env.SetHeartbeatDetails(last)
	}
	a.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p taskProgress
		if details.HasValues() && details.Get(&p) == nil {
			a.beat <- p
		}
	})
	return a
}

func (a *attempt) run(acts *TestActivities, in RunTaskInput) (TaskResult, error) {
	val, err := a.env.ExecuteActivity(acts.RunTask, in)
	if err != nil {
		return TaskResult{}, err
	}
	var res TaskResult
	return res, val.Get(&res)
}

// TestRunTaskSurvivesWorkerRestarts restarts the worker twice during a
// task: the task runs once, and the attempt after the restarts returns
// its real exit status and duration.
func TestRunTaskSurvivesWorkerRestarts(t *testing.T) {
	acts, side, gate := taskFixture(t)
	in := RunTaskInput{Task: "drain", Release: "r7", Channel: "production"}
	begin := time.Now()
	var last any

	for restart := range 2 {
		a := newAttempt(acts, last)
		done := make(chan error, 1)
		go func() { _, err := a.run(acts, in); done <- err }()
		require.Eventually(t, func() bool { return fileLines(t, side) == 1 }, 10*time.Second, 10*time.Millisecond)
		close(a.stop)
		a.shutdown(worker.ErrWorkerShutdown)
		err := <-done
		select {
		case last = <-a.beat: // the attempt's first heartbeat names its host
		default:
		}
		require.Error(t, err, "restart %d", restart)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			require.False(t, appErr.NonRetryable(), "a stopping worker's attempt is retried: %v", err)
		}
	}

	a := newAttempt(acts, last)
	done := make(chan error, 1)
	var res TaskResult
	go func() {
		var err error
		res, err = a.run(acts, in)
		done <- err
	}()
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.NoError(t, <-done)
	require.Equal(t, "exit status 0", res.State)
	require.Equal(t, "drained", res.Output)
	require.Positive(t, res.Duration)
	require.LessOrEqual(t, res.Duration, time.Since(begin))
	b, err := os.ReadFile(side)
	require.NoError(t, err)
	require.Equal(t, "drain r7\n", string(b), "the task ran once, with its environment")
	require.NotNil(t, last, "attempts heartbeat where their run is")
}

// A retry on another host than the run's does not start a second run.
func TestRunTaskElsewhereStartsNothing(t *testing.T) {
	acts, side, _ := taskFixture(t)
	a := newAttempt(acts, taskProgress{Host: "other-host", Key: "k"})
	_, err := a.run(acts, RunTaskInput{Task: "drain", Release: "r7"})
	require.ErrorContains(t, err, "runs on host other-host")
	require.Zero(t, fileLines(t, side))
}

func TestRunTaskUnknown(t *testing.T) {
	acts, _, _ := taskFixture(t)
	_, err := newAttempt(acts, nil).run(acts, RunTaskInput{Task: "nope"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrTypeInvalidInput, appErr.Type())
}

func fileLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}
