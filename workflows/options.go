package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// storeHeartbeat is how long a store activity may stay silent before
// Temporal retries it elsewhere: a worker killed mid-switch costs this
// much, not the activity's whole timeout.
const storeHeartbeat = 15 * time.Second

// shortActivityCtx is for quick calls that may run anywhere: reading the
// configuration, signalling another workflow.
func shortActivityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: shortTimeout,
		RetryPolicy:         shortRetry(),
	})
}

// localActivityCtx is for the quick calls of shortActivityCtx run by the
// workflow's own worker, in process: no round trip through a task queue.
// Only for what every worker that runs workflows can do (it has the
// configuration and a Temporal client).
func localActivityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: shortTimeout,
		RetryPolicy:         shortRetry(),
	})
}

// shortTimeout and shortRetry bound a quick call's attempts.
const shortTimeout = time.Minute

func shortRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		MaximumAttempts:        10,
		NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput},
	}
}

// ControlQueue is the task queue of the store's control operations
// (releases, switches, freezes, rollbacks, bypasses, diffs), derived from
// the repo queue's name. A repo worker serves it with slots of its own, so
// that an emergency bypass never waits for a daily sync's downloads to
// free one of the repo queue's.
func ControlQueue(repoQueue string) string { return repoQueue + "-control" }

// storeActivityCtx is for the store's control operations: seconds of
// work, a heartbeat so that a dead worker is noticed in seconds, and
// retries for as long as the store host may take to come back.
//
// Since versionStoreControlQueue they go to ControlQueue(queue); a run
// that began before stays on the repo queue, which repo workers still
// serve with every store activity. The SDK does not compare an activity's
// task queue on replay (isCommandMatchEvent in go.temporal.io/sdk v1.51.0
// internal/internal_task_handlers.go matches a ScheduleActivityTask by
// activity ID and type only), so the version keeps each run on one queue
// rather than keeping replay working.
func storeActivityCtx(ctx workflow.Context, queue string) workflow.Context {
	if workflow.GetVersion(ctx, versionStoreControlQueue, workflow.DefaultVersion, 1) >= 1 {
		queue = ControlQueue(queue)
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              queue,
		StartToCloseTimeout:    5 * time.Minute,
		HeartbeatTimeout:       storeHeartbeat,
		ScheduleToCloseTimeout: 2 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeBadContent},
		},
	})
}

// fetchActivityCtx is for downloads from an upstream or a vendor on the
// repo queue: bounded by the configured timeout over all attempts, since
// a download resumes from what it kept, and by a count generous enough
// that worker restarts do not use it up.
func fetchActivityCtx(ctx workflow.Context, queue string, timeout, heartbeat time.Duration, attempts int32, nonRetryable ...string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              queue,
		StartToCloseTimeout:    timeout,
		ScheduleToCloseTimeout: timeout,
		HeartbeatTimeout:       heartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        attempts,
			NonRetryableErrorTypes: append([]string{activities.ErrTypeBadContent, activities.ErrTypeInvalidInput}, nonRetryable...),
		},
	})
}

// runKey is an operation key derived from the workflow run and the step:
// the same on every retry of the step's activity, different in every run.
func runKey(ctx workflow.Context, step string) string {
	info := workflow.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + step
}

// taskActivityCtx runs one outage task within its configured time. Before
// versionTaskReattach, one attempt: an outage task is not idempotent, so
// a worker restarting mid-task failed the outage. Since, RunTask keys its
// run by the activity and a retry attaches to the run instead of starting
// it again, so an attempt that ends with its worker is retried; a task
// that ran and failed is not (ErrTypeTaskFailed).
//
// The retry policy changes no command the SDK compares on replay (it
// matches a ScheduleActivityTask by activity ID and type only:
// isCommandMatchEvent in go.temporal.io/sdk v1.51.0
// internal/internal_task_handlers.go), so the version only keeps a
// workflow's old attempts and new ones under one policy.
func taskActivityCtx(ctx workflow.Context, t activities.TaskPlan) workflow.Context {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 4 * t.Expected
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: timeout + time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	if workflow.GetVersion(ctx, versionTaskReattach, workflow.DefaultVersion, 1) >= 1 {
		opts.RetryPolicy = &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second,
			// Each worker restart or kill during the task takes one.
			MaximumAttempts:        50,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeTaskFailed},
		}
	}
	return workflow.WithActivityOptions(ctx, opts)
}
