package workflows

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

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
	promotionActs *activities.PromotionActivities
)

// DailySync mirrors every configured repo, records the snapshots as one
// release, points the daily and then the testing channel at it, and wakes
// the test cycle. A repo that fails keeps its last good snapshot in the
// release, marked stale and ticketed, while the others move on; if a
// required repo fails, or every repo does, no channel moves.
func DailySync(ctx workflow.Context, in DailySyncInput) (DailySyncStatus, error) {
	d := &dailySync{in: in}
	if err := d.setup(ctx); err != nil {
		return d.status, err
	}
	err := d.run(ctx)
	if err != nil {
		d.status.Error = err.Error()
		d.setPhase(ctx, PhaseFailed)
		// One message with the root causes; the status rides along so the
		// CLI can say which channels this run moved before it failed.
		return d.status, temporal.NewNonRetryableApplicationError(d.status.Error, ErrTypeSyncFailed, nil, d.status)
	}
	return d.status, nil
}

type dailySync struct {
	in     DailySyncInput
	plan   activities.SyncPlan
	status DailySyncStatus
	// recovered are the repos the release before marked stale that
	// synced this time.
	recovered []string
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
	fewerSteps := workflow.GetVersion(ctx, versionDailySyncFewerSteps, workflow.DefaultVersion, 1) >= 1
	d.setPhase(ctx, PhasePlanning)
	var plan workflow.Future
	if fewerSteps {
		plan = workflow.ExecuteLocalActivity(localActivityCtx(ctx), configActs.SyncPlan)
	} else {
		plan = workflow.ExecuteActivity(shortActivityCtx(ctx), configActs.SyncPlan)
	}
	if err := plan.Get(ctx, &d.plan); err != nil {
		return stepError("read sync plan", err)
	}
	if len(d.plan.Repos) == 0 {
		return temporal.NewNonRetryableApplicationError("no repos configured", activities.ErrTypeInvalidInput, nil)
	}

	d.setPhase(ctx, PhaseSyncing)
	snapshots, failed, err := d.syncRepos(ctx)
	if err != nil {
		return err
	}

	d.setPhase(ctx, PhaseReleasing)
	if fewerSteps {
		err = d.publish(ctx, snapshots, failed)
	} else {
		err = d.publishV0(ctx, snapshots)
	}
	if err != nil {
		return err
	}
	err = d.wakeCycle(ctx, fewerSteps)
	// After the wake: a tracker that is down delays no test round.
	d.reportStale(ctx)
	return err
}

// wakeCycle tells the test cycle of the release testing serves now.
func (d *dailySync) wakeCycle(ctx workflow.Context, fewerSteps bool) error {
	testing := d.status.Switches[len(d.status.Switches)-1]
	if testing.Frozen {
		d.setPhase(ctx, PhaseTestingFrozen)
		return nil
	}
	// Version 1 wakes the cycle whenever testing serves the release, not
	// only when this run moved it: a run whose signal failed after the
	// switch, or whose switch was retried, must not leave a release on
	// testing that the cycle never hears of. The cycle ignores a release
	// it knows.
	wakeAlways := fewerSteps || workflow.GetVersion(ctx, versionDailySyncWakeAlways, workflow.DefaultVersion, 1) >= 1
	if !testing.Changed && !wakeAlways {
		d.setPhase(ctx, PhaseNoChange)
		return nil
	}
	wake := activities.SignalWithStartInput{
		WorkflowID:   TestCycleWorkflowID,
		WorkflowType: TestCycleWorkflowType,
		Signal:       SignalTestingUpdated,
		Payload:      activities.TestingUpdated{Release: d.status.Release, Channel: d.plan.TestingChannel, Actor: d.in.Actor},
		Summary:      TestCycleMetadata().Summary,
		Details:      TestCycleMetadata().Details,
	}
	var signal workflow.Future
	if fewerSteps {
		signal = workflow.ExecuteLocalActivity(localActivityCtx(ctx), cycleActs.SignalWithStart, wake)
	} else {
		signal = workflow.ExecuteActivity(shortActivityCtx(ctx), cycleActs.SignalWithStart, wake)
	}
	if err := signal.Get(ctx, nil); err != nil {
		return stepError(fmt.Sprintf("notify the test cycle of release %s, which testing serves", d.status.Release), err)
	}
	if testing.Changed {
		d.setPhase(ctx, PhaseDone)
	} else {
		d.setPhase(ctx, PhaseNoChange)
	}
	return nil
}

// switchInputs are the channel switches of a run: daily first, since
// testing only ever serves a release that daily served. Each is keyed by
// this run, so a retry after a lost completion reports what the first
// attempt did.
func (d *dailySync) switchInputs(ctx workflow.Context, release string) []activities.SwitchChannelInput {
	var out []activities.SwitchChannelInput
	for _, ch := range []string{d.plan.DailyChannel, d.plan.TestingChannel} {
		out = append(out, activities.SwitchChannelInput{
			Channel: ch, Release: release, Actor: d.in.Actor, Reason: d.in.Reason, Key: runKey(ctx, "switch-"+ch),
		})
	}
	return out
}

// publish creates the release and switches both channels with one store
// activity.
func (d *dailySync) publish(ctx workflow.Context, snapshots map[string]string, failed []activities.SyncFailure) error {
	var res activities.PublishReleaseResult
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, d.plan.RepoTaskQueue), repoActs.PublishRelease, activities.PublishReleaseInput{
		Snapshots: snapshots,
		CreatedAt: workflow.Now(ctx),
		Switches:  d.switchInputs(ctx, ""),
		Failed:    failed,
	}).Get(ctx, &res)
	d.status.Stale, d.recovered = res.Stale, res.Recovered
	var app *temporal.ApplicationError
	if err != nil && errors.As(err, &app) && app.HasDetails() {
		_ = app.Details(&res) // the switches done before the failure
	}
	d.status.Release, d.status.Created, d.status.Switches = res.Release, res.Created, res.Switches
	if err != nil {
		return stepError("create the release and switch "+d.plan.DailyChannel+" and "+d.plan.TestingChannel+" to it", err)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(res.Release))
	return nil
}

// publishV0 is publish as runs without dailysync-fewer-steps did it: one
// activity for the release and one per switch. Never change it.
func (d *dailySync) publishV0(ctx workflow.Context, snapshots map[string]string) error {
	storeCtx := storeActivityCtx(ctx, d.plan.RepoTaskQueue)
	var rel activities.CreateReleaseResult
	err := workflow.ExecuteActivity(storeCtx, repoActs.CreateRelease, activities.CreateReleaseInput{
		Snapshots: snapshots,
		CreatedAt: workflow.Now(ctx),
	}).Get(ctx, &rel)
	if err != nil {
		return stepError("create release", err)
	}
	d.status.Release, d.status.Created = rel.Release, rel.Created
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(rel.Release))

	d.setPhase(ctx, PhaseSwitching)
	for _, in := range d.switchInputs(ctx, rel.Release) {
		var sw activities.ChannelSwitch
		if err := workflow.ExecuteActivity(storeCtx, repoActs.SwitchChannel, in).Get(ctx, &sw); err != nil {
			return stepError(fmt.Sprintf("switch channel %s to %s", in.Channel, rel.Release), err)
		}
		d.status.Switches = append(d.status.Switches, sw)
	}
	return nil
}

// syncRepos mirrors all repos in parallel and waits for every one, so that a
// failure report names each repo that failed, not only the first. It
// returns the snapshots of the repos that synced and the failures the
// release is to carry over; an error if a required repo failed, or all.
func (d *dailySync) syncRepos(ctx workflow.Context) (map[string]string, []activities.SyncFailure, error) {
	// A sync resumes from the pool after a retry, and a flapping upstream
	// is retried file by file inside an attempt: the attempts are bounded
	// by sync.timeout over all of them, and by a generous count, so that
	// worker restarts do not use up a small budget.
	actx := fetchActivityCtx(ctx, d.plan.RepoTaskQueue, d.plan.Timeout, d.plan.HeartbeatTimeout, d.plan.MaxAttempts,
		activities.ErrTypeUpstreamFailing)
	futures := make([]workflow.Future, len(d.plan.Repos))
	for i, name := range d.plan.Repos {
		futures[i] = workflow.ExecuteActivity(actx, repoActs.SyncRepo, activities.SyncRepoInput{Repo: name, AllowOlder: slices.Contains(d.in.AllowOlder, name)})
	}
	snapshots := make(map[string]string, len(futures))
	var failed []string
	var failures []activities.SyncFailure
	var errs []error
	for i, f := range futures {
		var rs activities.RepoSync
		if err := f.Get(ctx, &rs); err != nil {
			name := d.plan.Repos[i]
			failed = append(failed, name)
			errs = append(errs, stepError("repo "+name, err))
			failures = append(failures, syncFailure(name, err))
			continue
		}
		d.status.Repos = append(d.status.Repos, rs)
		snapshots[rs.Repo] = rs.Snapshot
	}
	if len(errs) == 0 {
		return snapshots, nil, nil
	}
	sort.Strings(failed)
	err := fmt.Errorf("sync failed for %s; no channel was changed:\n%w", strings.Join(failed, ", "), errors.Join(errs...))
	var required []string
	for _, name := range failed {
		if slices.Contains(d.plan.Required, name) {
			required = append(required, name)
		}
	}
	switch {
	case len(snapshots) == 0:
		return nil, nil, err
	case len(required) > 0:
		return nil, nil, fmt.Errorf("required repo %s failed: %w", strings.Join(required, ", "), err)
	case workflow.GetVersion(ctx, versionDailySyncStaleRepos, workflow.DefaultVersion, 1) < 1:
		return nil, nil, err
	}
	sort.Slice(failures, func(i, j int) bool { return failures[i].Repo < failures[j].Repo })
	return snapshots, failures, nil
}

// syncFailure is what the release records of a repo's failed sync: the
// activity's SyncFailure when it sent one, else the error.
func syncFailure(repo string, err error) activities.SyncFailure {
	f := activities.SyncFailure{Repo: repo, Cause: err.Error()}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		f.Cause = app.Error()
		var got activities.SyncFailure
		if app.HasDetails() && app.Details(&got) == nil && got.Repo == repo {
			f = got
		}
	}
	return f
}

// reportStale files a ticket for each repo the release carries over
// (one per outage) and closes those of the repos that recovered. A
// failure is reported in the status, not as the run's: the release is
// published and the stale repos are in its record; the next run files
// what this one could not.
func (d *dailySync) reportStale(ctx workflow.Context) {
	if len(d.status.Stale) == 0 && len(d.recovered) == 0 {
		return
	}
	if workflow.GetVersion(ctx, versionDailySyncStaleRepos, workflow.DefaultVersion, 1) < 1 {
		return
	}
	var res activities.StaleReposResult
	err := workflow.ExecuteActivity(shortActivityCtx(ctx), ticketActs.ReportStaleRepos, activities.StaleReposInput{
		Release: d.status.Release, Stale: d.status.Stale, Recovered: d.recovered,
	}).Get(ctx, &res)
	if err != nil {
		d.status.TicketError = stepError("file the tickets of the stale repos of release "+d.status.Release, err).Error()
		workflow.GetLogger(ctx).Warn("stale repo tickets not filed", "error", err)
		return
	}
	d.status.Tickets = res.Tickets
}

func (d *dailySync) setPhase(ctx workflow.Context, phase string) {
	d.status.Phase = phase
	// The attribute is for the Web UI; failing to set it must not fail the sync.
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
	d.showSyncDetails(ctx)
}
