package activities

import (
	"context"
	"fmt"

	"go.temporal.io/api/workflowservice/v1"
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

// SignalBypassApplied is the signal a running promotion gets when a
// bypass changed what testing and production serve.
const SignalBypassApplied = "bypass-applied"

// AnnounceBypass tells every running promotion about a bypass, so its
// status lists it (the store carries it into production's next switch).
// A promotion takes a bypass it knows once, so a retry is harmless.
func (a *CycleActivities) AnnounceBypass(ctx context.Context, in BypassAnnouncement) (int, error) {
	resp, err := a.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowType = 'Promotion' AND ExecutionStatus = 'Running'", PageSize: 100,
	})
	if err != nil {
		return 0, fmt.Errorf("list running promotions: %w", err)
	}
	n := 0
	for _, e := range resp.GetExecutions() {
		id := e.GetExecution().GetWorkflowId()
		if err := a.Client.SignalWorkflow(ctx, id, "", SignalBypassApplied, in); err != nil {
			return n, fmt.Errorf("tell %s about bypass %s: %w", id, in.Bypass, err)
		}
		n++
	}
	return n, nil
}
