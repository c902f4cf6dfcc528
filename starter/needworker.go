package starter

import (
	"context"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
)

// workerGrace is how long a command that needs a worker gives one to
// show up before it refuses: a script may start a worker and at once the
// command (the cluster test does), and a worker process on a loaded host
// takes seconds to dial and poll.
const workerGrace = 10 * time.Second

// workerPoll is how often needWorker looks again within workerGrace.
const workerPoll = 500 * time.Millisecond

// queueNeed is a task queue a command's work is taken from, and of what kind.
type queueNeed struct {
	queue string
	kind  enumspb.TaskQueueType
}

// mainWorkflows is the main task queue's workflow tasks: every osflow
// workflow, and so every Update, runs there.
func mainWorkflows(cfg *config.Config) queueNeed {
	return queueNeed{cfg.Temporal.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW}
}

// repoActivities is the repo task queue's activities: those that read or
// write the store (syncs, channel switches).
func repoActivities(cfg *config.Config) queueNeed {
	return queueNeed{cfg.Temporal.RepoTaskQueue, enumspb.TASK_QUEUE_TYPE_ACTIVITY}
}

// needWorker refuses, before anything is started or sent, a command whose
// work no worker polls for: Temporal would accept it and the command
// would wait, silent, until killed.
func needWorker(ctx context.Context, c client.Client, cfg *config.Config, what string, needs ...queueNeed) error {
	deadline := time.Now().Add(workerGrace)
	for {
		var missing []string
		for _, n := range needs {
			reason, err := queueReason(ctx, c, cfg, n.queue, n.kind, time.Now())
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if reason != "" {
				missing = append(missing, reason)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s needs a worker, and none polled within %s: %s\nnothing was started or sent",
				what, workerGrace, strings.Join(missing, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(workerPoll):
		}
	}
}
