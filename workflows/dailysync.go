package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// Activity structs referred to through nil pointers: the worker registers
// configured instances, the workflows only name their methods.
var (
	configActs    *activities.ConfigActivities
	repoActs      *activities.RepoActivities
	cycleActs     *activities.CycleActivities
	testActs      *activities.TestActivities
	ticketActs    *activities.TicketActivities
	candidateActs *activities.CandidateActivities
)

// DailySync mirrors every configured repo, records the snapshots as one
// release, points the daily and then the testing channel at it, and wakes
// the test cycle. If any repo fails, no channel moves.
func DailySync(ctx workflow.Context, in DailySyncInput) (DailySyncStatus, error) {
	d := &dailySync{in: in}
	if err := d.setup(ctx); err != nil {
		return d.status, err
	}
	err := d.run(ctx)
	if err != nil {
		d.status.Error = err.Error()
		d.setPhase(ctx, PhaseFailed)
	}
	return d.status, err
}

type dailySync struct {
	in     DailySyncInput
	plan   activities.SyncPlan
	status DailySyncStatus
}

func (d *dailySync) setup(ctx workflow.Context) error {
	if d.in.Actor == "" {
		d.in.Actor = "schedule/" + DailySyncScheduleID
	}
	if d.in.Reason == "" {
		d.in.Reason = "daily sync"
	}
	return workflow.SetQueryHandler(ctx, QueryStatus, func() (DailySyncStatus, error) {
		return d.status, nil
	})
}

func (d *dailySync) run(ctx workflow.Context) error {
	d.setPhase(ctx, PhasePlanning)
	local := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
	})
	if err := workflow.ExecuteActivity(local, configActs.SyncPlan).Get(ctx, &d.plan); err != nil {
		return fmt.Errorf("read sync plan: %w", err)
	}
	if len(d.plan.Repos) == 0 {
		return temporal.NewNonRetryableApplicationError("no repos configured", activities.ErrTypeInvalidInput, nil)
	}

	d.setPhase(ctx, PhaseSyncing)
	snapshots, err := d.syncRepos(ctx)
	if err != nil {
		return err
	}

	d.setPhase(ctx, PhaseReleasing)
	storeCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           d.plan.RepoTaskQueue,
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: d.plan.MaxAttempts},
	})
	var rel activities.CreateReleaseResult
	err = workflow.ExecuteActivity(storeCtx, repoActs.CreateRelease, activities.CreateReleaseInput{
		Snapshots: snapshots,
		CreatedAt: workflow.Now(ctx),
	}).Get(ctx, &rel)
	if err != nil {
		return fmt.Errorf("create release: %w", err)
	}
	d.status.Release, d.status.Created = rel.Release, rel.Created
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(rel.Release))

	d.setPhase(ctx, PhaseSwitching)
	// Daily first: testing only ever serves a release that daily served.
	for _, ch := range []string{d.plan.DailyChannel, d.plan.TestingChannel} {
		var sw activities.ChannelSwitch
		err := workflow.ExecuteActivity(storeCtx, repoActs.SwitchChannel, activities.SwitchChannelInput{
			Channel: ch,
			Release: rel.Release,
			Actor:   d.in.Actor,
			Reason:  d.in.Reason,
		}).Get(ctx, &sw)
		if err != nil {
			return fmt.Errorf("switch channel %s to %s: %w", ch, rel.Release, err)
		}
		d.status.Switches = append(d.status.Switches, sw)
	}

	testing := d.status.Switches[len(d.status.Switches)-1]
	if testing.Frozen {
		d.setPhase(ctx, PhaseTestingFrozen)
		return nil
	}
	if !testing.Changed {
		d.setPhase(ctx, PhaseNoChange)
		return nil
	}
	err = workflow.ExecuteActivity(local, cycleActs.SignalWithStart, activities.SignalWithStartInput{
		WorkflowID:   TestCycleWorkflowID,
		WorkflowType: TestCycleWorkflowType,
		Signal:       SignalTestingUpdated,
		Payload:      activities.TestingUpdated{Release: rel.Release, Channel: d.plan.TestingChannel, Actor: d.in.Actor},
	}).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("notify test cycle of release %s: %w", rel.Release, err)
	}
	d.setPhase(ctx, PhaseDone)
	return nil
}

// syncRepos mirrors all repos in parallel and waits for every one, so that a
// failure report names each repo that failed, not only the first.
func (d *dailySync) syncRepos(ctx workflow.Context) (map[string]string, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           d.plan.RepoTaskQueue,
		StartToCloseTimeout: d.plan.Timeout,
		HeartbeatTimeout:    d.plan.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        10 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        d.plan.MaxAttempts,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadContent, activities.ErrTypeInvalidInput},
		},
	})
	futures := make([]workflow.Future, len(d.plan.Repos))
	for i, name := range d.plan.Repos {
		futures[i] = workflow.ExecuteActivity(actx, repoActs.SyncRepo, activities.SyncRepoInput{Repo: name, AllowOlder: slices.Contains(d.in.AllowOlder, name)})
	}
	snapshots := make(map[string]string, len(futures))
	var failed []string
	var errs []error
	for i, f := range futures {
		var rs activities.RepoSync
		if err := f.Get(ctx, &rs); err != nil {
			failed = append(failed, d.plan.Repos[i])
			errs = append(errs, fmt.Errorf("repo %s: %w", d.plan.Repos[i], err))
			continue
		}
		d.status.Repos = append(d.status.Repos, rs)
		snapshots[rs.Repo] = rs.Snapshot
	}
	if len(errs) > 0 {
		sort.Strings(failed)
		return nil, fmt.Errorf("sync failed for %s; no channel was changed: %w",
			strings.Join(failed, ", "), errors.Join(errs...))
	}
	return snapshots, nil
}

func (d *dailySync) setPhase(ctx workflow.Context, phase string) {
	d.status.Phase = phase
	// The attribute is for the Web UI; failing to set it must not fail the sync.
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
}
