package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
)

// CycleActivities talks to other workflows through the Temporal client; a
// workflow cannot SignalWithStart by itself.
type CycleActivities struct {
	Client    client.Client
	TaskQueue string
}

// SignalWithStart signals in.WorkflowID, starting it if it is not running.
// Signals are idempotent for the test cycle (it ignores a release it has
// already seen), so a retry after a lost response does no harm.
func (a *CycleActivities) SignalWithStart(ctx context.Context, in SignalWithStartInput) (string, error) {
	run, err := a.Client.SignalWithStartWorkflow(ctx, in.WorkflowID, in.Signal, in.Payload,
		client.StartWorkflowOptions{ID: in.WorkflowID, TaskQueue: a.TaskQueue}, in.WorkflowType)
	if err != nil {
		return "", fmt.Errorf("signal %s to workflow %s: %w", in.Signal, in.WorkflowID, err)
	}
	return run.GetRunID(), nil
}
