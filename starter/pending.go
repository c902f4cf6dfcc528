package starter

import (
	"context"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

// WaitingActivity is an activity a running workflow scheduled that no
// worker can take, and why: the silent stall of a missing worker made
// visible.
type WaitingActivity struct {
	WorkflowID string    `json:"workflowId"`
	Activity   string    `json:"activity"`
	TaskQueue  string    `json:"taskQueue"`
	Scheduled  time.Time `json:"scheduled"`
	Attempt    int32     `json:"attempt"`
	Reason     string    `json:"reason"`
}

// pollerFresh bounds how long ago a live worker last polled: a poll is a
// long poll of about a minute, renewed at once, so an older last poll is a
// worker that went away.
const pollerFresh = 2 * time.Minute

// waitingActivities finds, among the running workflows, the activities
// scheduled on a task queue that no worker polls. Each queue is described
// once; errors are returned with what was found so far.
func waitingActivities(ctx context.Context, c client.Client, cfg *config.Config, running []WorkflowStatus, now time.Time) ([]WaitingActivity, error) {
	var out []WaitingActivity
	type key struct {
		queue string
		kind  enumspb.TaskQueueType
	}
	reasons := map[key]string{} // why nothing takes a queue's tasks ("" when something does)
	reasonFor := func(queue string, kind enumspb.TaskQueueType) (string, error) {
		k := key{queue, kind}
		if r, seen := reasons[k]; seen {
			return r, nil
		}
		r, err := queueReason(ctx, c, cfg, queue, kind, now)
		if err == nil {
			reasons[k] = r
		}
		return r, err
	}
	for _, wf := range running {
		desc, err := c.DescribeWorkflowExecution(ctx, wf.ID, "")
		if err != nil {
			return out, fmt.Errorf("describe workflow %s: %w", wf.ID, err)
		}
		// A workflow task no worker takes: the workflow has not even
		// started its first step (a sync started with no worker running).
		if wt := desc.GetPendingWorkflowTask(); wt != nil && wt.GetState() == enumspb.PENDING_WORKFLOW_TASK_STATE_SCHEDULED {
			queue := desc.GetExecutionConfig().GetTaskQueue().GetName()
			reason, err := reasonFor(queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
			if err != nil {
				return out, err
			}
			if reason != "" {
				out = append(out, WaitingActivity{
					WorkflowID: wf.ID, Activity: workflowTask, TaskQueue: queue,
					Scheduled: wt.GetScheduledTime().AsTime(), Attempt: wt.GetAttempt(), Reason: reason,
				})
			}
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
				continue
			}
			queue := pa.GetActivityOptions().GetTaskQueue().GetName()
			if queue == "" {
				continue
			}
			reason, err := reasonFor(queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
			if err != nil {
				return out, err
			}
			if reason == "" {
				continue
			}
			out = append(out, WaitingActivity{
				WorkflowID: wf.ID, Activity: pa.GetActivityType().GetName(), TaskQueue: queue,
				Scheduled: pa.GetScheduledTime().AsTime(), Attempt: pa.GetAttempt(), Reason: reason,
			})
		}
	}
	return out, nil
}

// workflowTask stands for the activity of a WaitingActivity that is a
// workflow's own task.
const workflowTask = "(workflow task)"

// queueReason says why no worker takes kind's tasks (workflow or activity)
// from queue, or "" when a worker polled it recently.
func queueReason(ctx context.Context, c client.Client, cfg *config.Config, queue string, kind enumspb.TaskQueueType, now time.Time) (string, error) {
	resp, err := c.DescribeTaskQueue(ctx, queue, kind)
	if err != nil {
		return "", fmt.Errorf("describe task queue %s: %w", queue, err)
	}
	var last time.Time
	for _, p := range resp.GetPollers() {
		if t := p.GetLastAccessTime().AsTime(); t.After(last) {
			last = t
		}
	}
	if !last.IsZero() && now.Sub(last) < pollerFresh {
		return "", nil
	}
	fix := "start `osflow worker` for it"
	switch queue {
	case cfg.Temporal.RepoTaskQueue, workflows.ControlQueue(cfg.Temporal.RepoTaskQueue):
		fix = "start `osflow worker --role repo` on the host that mounts the store"
	case cfg.Temporal.TaskQueue:
		fix = "start `osflow worker --role main` (or --role all)"
	}
	fix += ", or `osflow dev` for the development setup"
	of := "activities"
	if kind == enumspb.TASK_QUEUE_TYPE_WORKFLOW {
		of = "workflows"
	}
	if last.IsZero() {
		return fmt.Sprintf("no worker polls task queue %s in namespace %s for %s: %s", queue, cfg.Temporal.Namespace, of, fix), nil
	}
	return fmt.Sprintf("no worker has polled task queue %s in namespace %s for %s since %s: %s",
		queue, cfg.Temporal.Namespace, of, last.Local().Format("2006-01-02 15:04:05"), fix), nil
}

// printWaiting shows the waiting activities in `osflow status`.
func printWaiting(w io.Writer, waiting []WaitingActivity) {
	if len(waiting) == 0 {
		return
	}
	fmt.Fprintln(w, "\nWAITING FOR A WORKER")
	for _, wa := range waiting {
		what := "activity " + wa.Activity
		if wa.Activity == workflowTask {
			what = "its workflow task"
		}
		fmt.Fprintf(w, "  %s: %s (attempt %d) scheduled %s\n    %s\n",
			wa.WorkflowID, what, wa.Attempt, wa.Scheduled.Local().Format("2006-01-02 15:04:05"), wa.Reason)
	}
}
