package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
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

// SignalSuperseded tells a promotion waiting for approval that a newer one
// took its place, just before it is cancelled: the reason its status and
// the Web UI show.
const SignalSuperseded = "superseded"

// SupersedeInput names the promotion that takes the place of the others
// waiting for approval, and when it started: only promotions started
// before it are superseded, so two that start at once cannot cancel each
// other.
type SupersedeInput struct {
	Promotion string
	Release   string
	Started   time.Time
	// Query selects the waiting promotions (the search attribute names
	// live with the workflows).
	Query string
}

// Superseded is the SignalSuperseded payload.
type Superseded struct {
	By      string
	Release string
}

// SupersedePromotions cancels every promotion still waiting for approval
// that started before in.Promotion, telling each which promotion took its
// place. Only the newest candidate waits for an approver, so a stale one
// cannot be approved by mistake. Cancelling a workflow again is harmless,
// and a promotion that was approved meanwhile is no longer listed, so a
// retry is too.
func (a *CycleActivities) SupersedePromotions(ctx context.Context, in SupersedeInput) ([]string, error) {
	resp, err := a.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: in.Query, PageSize: 100})
	if err != nil {
		return nil, fmt.Errorf("list promotions waiting for approval: %w", err)
	}
	var done []string
	for _, e := range resp.GetExecutions() {
		id := e.GetExecution().GetWorkflowId()
		if id == in.Promotion || !e.GetStartTime().AsTime().Before(in.Started) {
			continue
		}
		if err := a.Client.SignalWorkflow(ctx, id, "", SignalSuperseded, Superseded{By: in.Promotion, Release: in.Release}); err != nil {
			if isNotFound(err) {
				continue // it ended meanwhile
			}
			return done, fmt.Errorf("tell %s it is superseded by %s: %w", id, in.Promotion, err)
		}
		if err := a.Client.CancelWorkflow(ctx, id, ""); err != nil && !isNotFound(err) {
			return done, fmt.Errorf("cancel %s, superseded by %s: %w", id, in.Promotion, err)
		}
		done = append(done, id)
	}
	return done, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
