package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// The overlay source watcher's contract: the schedule that runs it, its
// input and its result.
const (
	// OverlayWatchSchedulePrefix starts the ID of each overlay's watch
	// schedule: osflow-overlay-<name>.
	OverlayWatchSchedulePrefix = "osflow-overlay-"
	// OverlayWatchActionPrefix starts the ID of the workflows the schedule
	// starts (Temporal appends the time).
	OverlayWatchActionPrefix = "overlay-watch-"
	// ErrTypeWatchFailed is the type of a failed OverlayWatch's error; its
	// details carry the OverlayWatchStatus.
	ErrTypeWatchFailed = "WatchFailed"
)

// sourceActs names the source activities' methods, as the activity
// variables of dailysync.go do for the others.
var sourceActs *activities.SourceActivities

// OverlayWatchScheduleID names the schedule that watches an overlay.
func OverlayWatchScheduleID(overlay string) string { return OverlayWatchSchedulePrefix + overlay }

// WatchActor is who a watch's bypass is started by, for the audit log.
func WatchActor(overlay string) string { return "osflow/watch-" + overlay }

// OverlayWatchInput names the overlay whose sources a watch checks.
type OverlayWatchInput struct {
	Overlay string
}

// OverlayWatchStatus is OverlayWatch's result and the answer to its
// status query.
type OverlayWatchStatus struct {
	Overlay string
	Phase   string
	Sources []activities.SourceCheck
	// Added are the NEVRAs added to the overlay for the next daily sync.
	Added []string
	// Bypass is the bypass started with BypassPackages, if any.
	Bypass         string
	BypassPackages []string
	Error          string
}

// Phases of an OverlayWatch.
const (
	WatchChecking  = "checking"
	WatchAdding    = "adding"
	WatchBypassing = "bypassing"
	WatchDone      = "done"
	WatchNoChange  = "no-change"
	WatchFailed    = "failed"
)

// OverlayWatch checks an overlay's vendor sources, verifies and stages
// what is newer than the overlay, adds it to the overlay for the next
// daily sync, and for sources with `bypass: auto` starts an emergency
// bypass at once. A source that fails does not hold back the others: the
// run acts on what the others found, then fails naming each source and
// file at fault.
func OverlayWatch(ctx workflow.Context, in OverlayWatchInput) (OverlayWatchStatus, error) {
	w := &overlayWatch{status: OverlayWatchStatus{Overlay: in.Overlay}}
	if err := w.setup(ctx, in); err != nil {
		return w.status, err
	}
	if err := w.run(ctx); err != nil {
		w.status.Error = err.Error()
		w.setPhase(ctx, WatchFailed)
		return w.status, temporal.NewNonRetryableApplicationError(w.status.Error, ErrTypeWatchFailed, nil, w.status)
	}
	return w.status, nil
}

type overlayWatch struct {
	plan   activities.WatchPlan
	status OverlayWatchStatus
}

func (w *overlayWatch) setup(ctx workflow.Context, in OverlayWatchInput) error {
	if strings.TrimSpace(in.Overlay) == "" {
		return temporal.NewNonRetryableApplicationError("OverlayWatch needs the overlay's name", activities.ErrTypeInvalidInput, nil)
	}
	return workflow.SetQueryHandler(ctx, QueryStatus, func() (OverlayWatchStatus, error) { return w.status, nil })
}

func (w *overlayWatch) run(ctx workflow.Context) error {
	w.setPhase(ctx, WatchChecking)
	err := workflow.ExecuteActivity(shortActivityCtx(ctx), configActs.WatchPlan, activities.WatchPlanInput{Overlay: w.status.Overlay}).Get(ctx, &w.plan)
	if err != nil {
		return stepError("read the watch plan", err)
	}
	if workflow.GetVersion(ctx, versionWatchBypassFirst, workflow.DefaultVersion, 1) >= 1 {
		return w.bypassFirst(ctx)
	}
	found, failures := w.check(ctx)

	// Each build once, whichever sources offer it; a bypass source wins.
	var added, bypass []activities.StagedPackage
	seen := map[string]bool{}
	for _, auto := range []bool{true, false} {
		for _, c := range found {
			if w.autoBypass(c.Source) != auto {
				continue
			}
			for _, p := range c.New {
				if seen[p.SHA256] {
					continue
				}
				seen[p.SHA256] = true
				if auto {
					bypass = append(bypass, p)
				} else {
					added = append(added, p)
				}
			}
		}
	}
	if len(added) > 0 {
		if err := w.add(ctx, added); err != nil {
			failures = append(failures, err)
		}
	}
	if len(bypass) > 0 {
		if err := w.bypass(ctx, bypass); err != nil {
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("watch of overlay %s: %w", w.status.Overlay, errors.Join(failures...))
	}
	if len(added)+len(bypass) == 0 {
		w.setPhase(ctx, WatchNoChange)
	} else {
		w.setPhase(ctx, WatchDone)
	}
	return nil
}

// bypassFirst waits for the bypass: auto sources only, starts their
// bypass, then waits for the other sources and adds what they found: a
// vendor source being retried never holds a security fix. Each build is
// taken once, from a bypass source if one offers it.
func (w *overlayWatch) bypassFirst(ctx workflow.Context) error {
	futures := w.startChecks(ctx)
	seen := map[string]bool{}
	var failures []error
	for _, auto := range []bool{true, false} {
		found, failed := w.collect(ctx, futures, auto)
		failures = append(failures, failed...)
		var pkgs []activities.StagedPackage
		for _, c := range found {
			for _, p := range c.New {
				if !seen[p.SHA256] {
					seen[p.SHA256] = true
					pkgs = append(pkgs, p)
				}
			}
		}
		var err error
		switch {
		case len(pkgs) == 0:
		case auto:
			err = w.bypass(ctx, pkgs)
		default:
			err = w.add(ctx, pkgs)
		}
		if err != nil {
			failures = append(failures, err)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("watch of overlay %s: %w", w.status.Overlay, errors.Join(failures...))
	}
	if len(w.status.Added)+len(w.status.BypassPackages) == 0 {
		w.setPhase(ctx, WatchNoChange)
	} else {
		w.setPhase(ctx, WatchDone)
	}
	return nil
}

func (w *overlayWatch) autoBypass(source string) bool {
	i := slices.IndexFunc(w.plan.Sources, func(s activities.WatchSource) bool { return s.URL == source })
	return i >= 0 && w.plan.Sources[i].Bypass
}

// check checks every source in parallel on the repo queue and waits for
// all of them, so that a failure report names each source at fault.
func (w *overlayWatch) check(ctx workflow.Context) ([]activities.SourceCheck, []error) {
	return w.collect(ctx, w.startChecks(ctx), true, false)
}

// startChecks starts the check of every source, in parallel on the repo
// queue.
func (w *overlayWatch) startChecks(ctx workflow.Context) []workflow.Future {
	actx := fetchActivityCtx(ctx, w.plan.RepoTaskQueue, w.plan.Timeout, w.plan.HeartbeatTimeout, w.plan.MaxAttempts)
	futures := make([]workflow.Future, len(w.plan.Sources))
	for i, s := range w.plan.Sources {
		futures[i] = workflow.ExecuteActivity(actx, sourceActs.CheckSource, activities.CheckSourceInput{Overlay: w.plan.Overlay, Source: s.URL})
	}
	return futures
}

// collect waits for the checks of the sources whose bypass: auto is one
// of auto, in source order, and returns what they found and each failure.
func (w *overlayWatch) collect(ctx workflow.Context, futures []workflow.Future, auto ...bool) ([]activities.SourceCheck, []error) {
	var found []activities.SourceCheck
	var failures []error
	for i, f := range futures {
		if !slices.Contains(auto, w.plan.Sources[i].Bypass) {
			continue
		}
		var c activities.SourceCheck
		if err := f.Get(ctx, &c); err != nil {
			failures = append(failures, fmt.Errorf("source %s: %s", w.plan.Sources[i].URL, rootMessage(err)))
			continue
		}
		found = append(found, c)
		w.status.Sources = append(w.status.Sources, c)
		for _, r := range c.Refused {
			failures = append(failures, fmt.Errorf("source %s refused %s", c.Source, r))
		}
	}
	return found, failures
}

// add puts the new versions into the overlay; the next DailySync and the
// normal cycle take them from there.
func (w *overlayWatch) add(ctx workflow.Context, pkgs []activities.StagedPackage) error {
	w.setPhase(ctx, WatchAdding)
	var res activities.AddStagedResult
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, w.plan.RepoTaskQueue), sourceActs.AddStaged, activities.AddStagedInput{
		Overlay: w.plan.Overlay, Packages: pkgs, Key: runKey(ctx, "add"),
	}).Get(ctx, &res)
	if err != nil {
		return stepError("add "+nevras(pkgs)+" to the overlay", err)
	}
	w.status.Added = res.Added
	return nil
}

// bypass starts one emergency bypass with every new version from the
// bypass sources: packages of one update (openssl and openssl-libs) go
// to production together. The journal records the bypass before it is
// started, so no later check starts a second one for these builds.
func (w *overlayWatch) bypass(ctx workflow.Context, pkgs []activities.StagedPackage) error {
	w.setPhase(ctx, WatchBypassing)
	id := BypassWorkflowID(w.plan.Overlay, workflow.Now(ctx))
	storeCtx := storeActivityCtx(ctx, w.plan.RepoTaskQueue)
	err := workflow.ExecuteActivity(storeCtx, sourceActs.RecordBypass, activities.RecordBypassInput{
		Overlay: w.plan.Overlay, Packages: pkgs, Bypass: id, Key: runKey(ctx, "bypass"),
	}).Get(ctx, nil)
	if err != nil {
		return stepError("record the bypass of "+nevras(pkgs), err)
	}
	in := BypassInput{Overlay: w.plan.Overlay, Reason: bypassReason(pkgs), Actor: WatchActor(w.plan.Overlay)}
	for _, p := range pkgs {
		in.Packages = append(in.Packages, BypassPackage{Path: p.File})
	}
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	}), BypassWorkflowType, in)
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil && !isAlreadyStarted(err) {
		msg := rootMessage(err)
		_ = workflow.ExecuteActivity(storeCtx, sourceActs.RecordBypass, activities.RecordBypassInput{
			Overlay: w.plan.Overlay, Packages: pkgs, Bypass: id, Error: msg, Key: runKey(ctx, "bypass-failed"),
		}).Get(ctx, nil)
		return fmt.Errorf("start bypass %s of %s: %s", id, nevras(pkgs), msg)
	}
	w.status.Bypass = id
	for _, p := range pkgs {
		w.status.BypassPackages = append(w.status.BypassPackages, p.NEVRA)
	}
	return nil
}

// bypassReason says what a watch's bypass brings and from where, for the
// audit log and the tracking ticket.
func bypassReason(pkgs []activities.StagedPackage) string {
	if len(pkgs) == 1 {
		return fmt.Sprintf("new version of %s from %s", pkgs[0].NEVRA, pkgs[0].Source)
	}
	var from []string
	for _, p := range pkgs {
		if !slices.Contains(from, p.Source) {
			from = append(from, p.Source)
		}
	}
	return fmt.Sprintf("new versions of %s from %s", nevras(pkgs), strings.Join(from, ", "))
}

// nevras lists packages for a message, at most 10 by name.
func nevras(pkgs []activities.StagedPackage) string {
	var names []string
	for i, p := range pkgs {
		if i == 10 {
			names = append(names, fmt.Sprintf("and %d more", len(pkgs)-10))
			break
		}
		names = append(names, p.NEVRA)
	}
	return strings.Join(names, ", ")
}

func (w *overlayWatch) setPhase(ctx workflow.Context, phase string) {
	w.status.Phase = phase
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
}
