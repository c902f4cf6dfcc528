package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// Phases of a bypass, as OsflowPhase shows them.
const (
	PhaseStaging  = "staging"
	PhaseApplying = "applying"
	PhaseChecking = "checking"
)

// BypassStatus answers the bypass's status query and is its result.
type BypassStatus struct {
	Overlay  string
	Reason   string
	Actor    string
	Phase    string
	Approval Approval
	Packages []activities.StagedRPM
	Snapshot string
	Switches []activities.ChannelSwitch
	Ticket   activities.TicketRef
	// Steps times each step, for the operator and `make bench`.
	Steps   []Step
	Refused []string
	Error   string
}

// Bypass is the emergency path: packages go into an overlay and, at once,
// to testing and then production, checked, audited with the reason, and
// folded back into the cycle: the test cycle is woken to test the new
// testing release, running promotions are told, and the store carries the
// bypass into every later switch of any channel, so neither the next daily
// sync nor the next promotion can drop it. With the overlay's
// bypass.requireApproval it waits for the same approve-outage as a
// promotion.
func Bypass(ctx workflow.Context, in BypassInput) (BypassStatus, error) {
	b := &bypass{in: in, st: BypassStatus{Overlay: in.Overlay, Reason: in.Reason, Actor: in.Actor}}
	err := b.run(ctx)
	if err != nil {
		b.st.Error = err.Error()
		b.setPhase(ctx, PhaseFailed)
		return b.st, temporal.NewNonRetryableApplicationError(b.st.Error, ErrTypeBypassFailed, nil, b.st)
	}
	b.setPhase(ctx, PhaseDone)
	return b.st, nil
}

// ErrTypeBypassFailed is the type of a failed bypass's error; its details
// carry the BypassStatus.
const ErrTypeBypassFailed = "BypassFailed"

type bypass struct {
	in   BypassInput
	plan activities.BypassPlan
	st   BypassStatus
	// applied is set once the packages go to the channels: too late to
	// reject.
	applied bool
}

func (b *bypass) run(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (BypassStatus, error) { return b.st, nil }); err != nil {
		return err
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrChannel.ValueSet(b.in.Overlay))
	if err := singleLine("reason", b.in.Reason, true); err != nil {
		return temporal.NewNonRetryableApplicationError("a bypass needs a reason: "+err.Error(), activities.ErrTypeInvalidInput, nil)
	}
	if err := b.step(ctx, "read the bypass policy", func() (string, error) {
		return "", workflow.ExecuteActivity(shortActivityCtx(ctx), configActs.BypassPlan, activities.OverlayInput{Overlay: b.in.Overlay}).Get(ctx, &b.plan)
	}); err != nil {
		return err
	}
	if b.plan.RequireApproval {
		// The promotion's approval, without a window: the same Updates and
		// signals, the same checks.
		b.st.Approval.State = ApprovalPending
		appr := &approval{
			approvers: b.plan.Approvers,
			state:     &b.st.Approval,
			started:   func() bool { return b.applied },
			refuse: func(ctx workflow.Context, name, by string, err error) {
				b.st.Refused = appendBounded(b.st.Refused, fmt.Sprintf("%s %s from %q refused: %v",
					workflow.Now(ctx).UTC().Format(time.RFC3339), name, by, err), maxRefusals)
			},
			decided: func() {},
			signing: b.signing,
		}
		if err := appr.register(ctx); err != nil {
			return err
		}
	}
	store := storeActivityCtx(ctx, b.plan.RepoTaskQueue)

	b.setPhase(ctx, PhaseStaging)
	pkgs := make([]activities.BypassPackageInput, len(b.in.Packages))
	for i, p := range b.in.Packages {
		pkgs[i] = activities.BypassPackageInput(p)
	}
	if err := b.step(ctx, "check the packages", func() (string, error) {
		err := workflow.ExecuteActivity(store, repoActs.StageBypass, activities.StageBypassInput{
			Overlay: b.in.Overlay, Packages: pkgs, AllowDowngrade: b.in.AllowDowngrade, Key: runKey(ctx, "stage"),
		}).Get(ctx, &b.st.Packages)
		return strings.Join(b.nevras(), ", "), err
	}); err != nil {
		return err
	}

	if b.plan.RequireApproval {
		b.setPhase(ctx, PhaseAwaitingApproval)
		_ = workflow.UpsertTypedSearchAttributes(ctx, AttrApproval.ValueSet(ApprovalPending))
		if err := workflow.Await(ctx, func() bool { return b.st.Approval.State != ApprovalPending }); err != nil {
			return err
		}
		_ = workflow.UpsertTypedSearchAttributes(ctx, AttrApproval.ValueSet(b.st.Approval.State))
		if b.st.Approval.State == ApprovalRejected {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("rejected by %s: %s", b.st.Approval.By, b.st.Approval.Comment),
				activities.ErrTypeInvalidInput, nil)
		}
	}

	b.setPhase(ctx, PhaseApplying)
	b.applied = true
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var res activities.BypassResult
	if err := b.step(ctx, "add, snapshot and switch "+strings.Join(b.plan.Channels, " and "), func() (string, error) {
		err := workflow.ExecuteActivity(store, repoActs.ApplyBypass, activities.ApplyBypassInput{
			Overlay: b.in.Overlay, Files: b.st.Packages, Channels: b.plan.Channels, Bypass: id,
			Key: runKey(ctx, "apply"), Actor: b.in.Actor, Reason: b.in.Reason, Signed: lastApproval(b.st.Approval.Proofs),
		}).Get(ctx, &res)
		var moved []string
		for _, sw := range res.Switches {
			moved = append(moved, fmt.Sprintf("%s %s -> %s", sw.Channel, sw.From, sw.To))
		}
		return strings.Join(moved, "; "), err
	}); err != nil {
		return err
	}
	b.st.Snapshot, b.st.Switches = res.Snapshot, res.Switches

	b.setPhase(ctx, PhaseChecking)
	// Only the channels the bypass switched are checked: one that served
	// nothing yet gets the fix with its first release, and dnf would fail
	// on it until then (seen: a bypass before the first promotion retried
	// its production check for 15 minutes).
	checked := b.plan.Channels
	if workflow.GetVersion(ctx, versionBypassCheckSwitched, workflow.DefaultVersion, 1) == 1 {
		checked = nil
		for _, sw := range b.st.Switches {
			checked = append(checked, sw.Channel)
		}
	}
	// Both channels have switched: their checks only read, so they run
	// at once.
	if len(checked) > 0 {
		if err := b.checkVisible(ctx, checked); err != nil {
			return err
		}
	}
	b.foldBack(ctx, id)
	return nil
}

// checkVisible checks with dnf that each channel offers the packages.
func (b *bypass) checkVisible(ctx workflow.Context, channels []string) error {
	return b.step(ctx, "dnf sees it on "+strings.Join(channels, " and "), func() (string, error) {
		var futures []workflow.Future
		for _, ch := range channels {
			futures = append(futures, workflow.ExecuteActivity(visibleCtx(ctx), testActs.Visible, activities.VisibleInput{Channel: ch, NEVRAs: b.nevras(), Overlay: b.in.Overlay}))
		}
		var errs []error
		for _, f := range futures {
			errs = append(errs, f.Get(ctx, nil))
		}
		return "", errors.Join(errs...)
	})
}

// foldBack records the bypass where people and the cycle look: a tracking
// ticket, a notification, the test cycle woken for the new testing
// release, the running promotions told. None of it undoes the bypass if
// it fails; the status says what did not happen.
func (b *bypass) foldBack(ctx workflow.Context, id string) {
	testing := ""
	if len(b.st.Switches) > 0 {
		testing = b.st.Switches[0].To
	}
	_ = b.step(ctx, "wake the test cycle", func() (string, error) {
		return "", workflow.ExecuteActivity(shortActivityCtx(ctx), cycleActs.SignalWithStart, activities.SignalWithStartInput{
			WorkflowID: TestCycleWorkflowID, WorkflowType: TestCycleWorkflowType, Signal: SignalTestingUpdated,
			Payload: activities.TestingUpdated{Release: testing, Channel: b.plan.Channels[0], Actor: id},
		}).Get(ctx, nil)
	})
	_ = b.step(ctx, "tell running promotions", func() (string, error) {
		var n int
		err := workflow.ExecuteActivity(shortActivityCtx(ctx), cycleActs.AnnounceBypass, activities.BypassAnnouncement{
			Bypass: id, Overlay: b.in.Overlay, Snapshot: b.st.Snapshot, Testing: testing, Reason: b.in.Reason, Actor: b.in.Actor,
		}).Get(ctx, &n)
		return fmt.Sprintf("%d promotions", n), err
	})
	text := fmt.Sprintf("Bypass %s by %s put %s into overlay %s and onto %s at once, skipping the test cycle.\n\nReason: %s\n\n",
		id, b.in.Actor, strings.Join(b.nevras(), ", "), b.in.Overlay, strings.Join(b.plan.Channels, " and "), b.in.Reason)
	for _, p := range b.st.Packages {
		if p.Replaces != "" {
			text += fmt.Sprintf("- %s replaces %s\n", p.NEVRA, p.Replaces)
		}
	}
	for _, sw := range b.st.Switches {
		text += fmt.Sprintf("- %s: %s -> %s\n", sw.Channel, sw.From, sw.To)
	}
	text += "\nThe test cycle tests the new testing release next; the next daily sync and promotion carry the bypass. `osflow audit production` shows it.\n"
	_ = b.step(ctx, "file the tracking ticket", func() (string, error) {
		err := workflow.ExecuteActivity(ticketActivityCtx(ctx), promotionActs.FileTicket, activities.TicketInput{
			Fingerprint: "bypass/" + id, Title: fmt.Sprintf("bypass of %s into %s: %s", strings.Join(b.nevras(), ", "), b.in.Overlay, firstLine(b.in.Reason)),
			Body: text, Key: runKey(ctx, "ticket"), Labels: []string{"bypass"},
		}).Get(ctx, &b.st.Ticket)
		return b.st.Ticket.ID, err
	})
	_ = b.step(ctx, "notify", func() (string, error) {
		return "", workflow.ExecuteActivity(shortActivityCtx(ctx), promotionActs.Notify, activities.NotifyInput{
			Key: runKey(ctx, "notify"), Subject: fmt.Sprintf("osflow: emergency bypass into %s (%s)", b.in.Overlay, strings.Join(b.nevras(), ", ")), Text: text,
		}).Get(ctx, nil)
	})
}

func (b *bypass) nevras() []string {
	out := make([]string, len(b.st.Packages))
	for i, p := range b.st.Packages {
		out[i] = p.NEVRA
	}
	return out
}

func (b *bypass) step(ctx workflow.Context, name string, fn func() (string, error)) error {
	return runStep(ctx, &b.st.Steps, name, fn)
}

func (b *bypass) setPhase(ctx workflow.Context, phase string) {
	b.st.Phase = phase
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(phase))
	b.showBypassDetails(ctx)
}

// visibleCtx retries the dnf check for a few minutes: a web server in
// front of the channels may cache the old metadata briefly.
func visibleCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    5 * time.Minute,
		ScheduleToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:       time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: time.Minute},
	})
}
