package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
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
		client.StartWorkflowOptions{ID: in.WorkflowID, TaskQueue: a.TaskQueue, StaticSummary: in.Summary, StaticDetails: in.Details}, in.WorkflowType)
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

// UpdateSupersede asks a promotion waiting for approval to give way to a
// newer one. Its validator refuses once the promotion was decided, so an
// approval that got there first is never lost (the search attribute the
// promotions are listed by may lag behind it).
const UpdateSupersede = "supersede"

// SignalSuperseded told a promotion it was superseded, just before it was
// cancelled; promotions that began so still read it when cancelled.
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

// SupersedePromotions asks every promotion still waiting for approval
// that started before in.Promotion to give way to it (UpdateSupersede):
// only the newest candidate waits for an approver, so a stale one cannot
// be approved by mistake. A promotion decided meanwhile refuses and goes
// on, and so does one that began before promotions could be superseded.
// The update ID is the superseding promotion's, so a retry supersedes
// nothing twice.
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
		h, err := a.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: id, UpdateName: UpdateSupersede, UpdateID: in.Promotion + "/supersede",
			Args: []any{Superseded{By: in.Promotion, Release: in.Release}}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if isNotFound(err) {
			continue // it ended meanwhile
		}
		if err != nil {
			return done, fmt.Errorf("ask %s to give way to %s: %w", id, in.Promotion, err)
		}
		var refused *temporal.ApplicationError
		if err := h.Get(ctx, nil); errors.As(err, &refused) {
			continue // decided meanwhile, or older than superseding
		} else if err != nil {
			return done, fmt.Errorf("ask %s to give way to %s: %w", id, in.Promotion, err)
		}
		done = append(done, id)
	}
	return done, nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
