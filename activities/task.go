package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/ci"
)

// ErrTypeTaskFailed is an outage task that ran and failed (non-zero exit,
// killed, timed out): its run is recorded, so a retry would only read the
// same failure again.
const ErrTypeTaskFailed = "TaskFailed"

// taskProgress is RunTask's heartbeat: where the run is, so that a retry
// on another host does not start it a second time.
type taskProgress struct {
	Host string
	Key  string
}

// errWorkerStopping ends an attempt whose worker stops: the task's process
// goes on, and the next attempt attaches to it.
var errWorkerStopping = errors.New("worker stopping")

// RunTask runs one outage task's command on this worker's host and
// measures it, through the ci runner: whitelisted environment, output
// redacted of the worker's secrets before it reaches history.
//
// The command runs detached, in a run directory under TasksDir keyed by
// this activity (workflow run and activity ID, the same on every retry):
// a worker that stops or dies mid-task leaves it running, and the retry
// attaches to it and waits, or returns its recorded exit status; it never
// starts it twice. Only a cancellation (the outage cancelled) kills it.
func (a *TestActivities) RunTask(ctx context.Context, in RunTaskInput) (TaskResult, error) {
	var task *config.Task
	for i := range a.Config.Outage.Tasks {
		if a.Config.Outage.Tasks[i].Name == in.Task {
			task = &a.Config.Outage.Tasks[i]
		}
	}
	if task == nil || len(task.Command) == 0 {
		return TaskResult{}, invalid(fmt.Sprintf("outage task %q has no command in %s", in.Task, a.Config.Path))
	}
	if a.TasksDir == "" {
		return TaskResult{}, invalid("this worker has no directory for outage task runs")
	}
	host, err := os.Hostname()
	if err != nil {
		return TaskResult{}, fmt.Errorf("outage task %s: %w", in.Task, err)
	}
	progress := taskProgress{Host: host, Key: opKey(ctx, "")}
	if activity.HasHeartbeatDetails(ctx) {
		var last taskProgress
		if err := activity.GetHeartbeatDetails(ctx, &last); err == nil && last.Host != "" && last.Host != host {
			// Retried: the server hands the attempt to any worker.
			return TaskResult{}, fmt.Errorf("outage task %s runs on host %s, not %s; a worker there attaches to it", in.Task, last.Host, host)
		}
	}
	// At once, so that a retry knows the host even if this worker dies now.
	activity.RecordHeartbeat(ctx, progress)
	stop := heartbeatEvery(ctx, 30*time.Second, func() any { return progress })
	defer stop()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-activity.GetWorkerStopChannel(ctx):
			cancel(errWorkerStopping)
		case <-ctx.Done():
		}
	}()
	redact := redactor(a.Config)
	run, err := ci.Task{
		Name: in.Task, Argv: task.Command, Timeout: task.Timeout.Duration,
		Env: []string{"OSFLOW_RELEASE=" + in.Release, "OSFLOW_TASK=" + in.Task, "OSFLOW_CHANNEL=" + in.Channel},
	}.RunDetached(ctx, ci.Detach{
		RunDir: ci.RunDir(a.TasksDir, progress.Key),
		// A worker stopping, a lost heartbeat or an attempt's timeout leave
		// the run for the next attempt; a cancellation from the server is
		// the workflow giving up the task.
		Kill: func(cause error) bool { return temporal.IsCanceledError(cause) },
	})
	res := TaskResult{Task: in.Task, Duration: run.Duration, Output: redact(run.Output), State: run.State}
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, ci.ErrConfig):
		return res, invalid(redact(err.Error()))
	case errors.Is(err, ci.ErrBroken):
		return res, temporal.NewNonRetryableApplicationError(redact(err.Error()), ErrTypeTaskFailed, nil)
	default:
		return res, errors.New(redact(err.Error()))
	}
}
