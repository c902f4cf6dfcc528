package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// What a promotion says about production is read from the store when it
// says it, never assumed from what it asked for: a switch can be carried
// into a derived release, and production can move again after it.

// notServedYet refuses to promote the release production already serves
// (itself, or derived from it by bypasses) after a completed promotion:
// its outage would switch nothing and still run every step.
func (p *promotion) notServedYet(ctx workflow.Context) error {
	var st activities.ChannelState
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.ChannelState,
		activities.ChannelStateInput{Channel: p.plan.ProductionChannel}).Get(ctx, &st)
	if err != nil {
		return stepError("read the production channel", err)
	}
	if !slices.Contains(st.Chain, p.st.Release) && st.Release != p.st.Release {
		return nil
	}
	// Production also serves a release whose first promotion failed with
	// nothing to roll back to: its outage is still to be completed.
	var done bool
	err = workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.PromotionDone,
		activities.PromotionDoneInput{Release: p.st.Release, Channel: p.plan.ProductionChannel}).Get(ctx, &done)
	if err != nil {
		return stepError("read the promotions of "+p.st.Release, err)
	}
	if !done {
		p.note(ctx, fmt.Sprintf("%s serves %s, but no promotion of it completed: this one runs its outage", p.plan.ProductionChannel, st.Release))
		return nil
	}
	p.setState(ctx, ApprovalCanceled)
	p.setPhase(ctx, ApprovalCanceled)
	serves := st.Release
	if st.Base != st.Release {
		serves += " (" + st.Base + " with bypasses)"
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s already serves %s: nothing to promote",
		p.plan.ProductionChannel, serves), activities.ErrTypeInvalidInput, nil)
}

// supersedeOthers cancels the promotions still waiting for approval that
// started before this one, so that only the newest candidate waits for an
// approver. A failure is noted, not fatal: the older ones stay waiting,
// as they did before.
func (p *promotion) supersedeOthers(ctx workflow.Context) {
	info := workflow.GetInfo(ctx)
	var ids []string
	err := workflow.ExecuteActivity(shortActivityCtx(ctx), cycleActs.SupersedePromotions, activities.SupersedeInput{
		Promotion: info.WorkflowExecution.ID, Release: p.st.Release, Started: info.WorkflowStartTime,
		Query: fmt.Sprintf("WorkflowType = 'Promotion' AND ExecutionStatus = 'Running' AND %s = '%s'",
			AttrApproval.GetName(), ApprovalPending),
	}).Get(ctx, &ids)
	switch {
	case err != nil:
		p.note(ctx, "could not supersede the promotions waiting for approval: "+rootMessage(err))
	case len(ids) > 0:
		p.note(ctx, "superseded "+strings.Join(ids, ", ")+", which waited for approval")
	}
}

// checkSupersede lets a newer promotion take this one's place only while
// it waits for approval: an approval that came first stands.
func (p *promotion) checkSupersede(_ workflow.Context, r activities.Superseded) error {
	if err := singleLine("superseding promotion", r.By, true); err != nil {
		return err
	}
	if a := p.st.Approval; a.State != ApprovalPending {
		return fmt.Errorf("already %s by %s: it does not give way to %s", a.State, a.By, r.By)
	}
	return nil
}

// supersede decides the promotion: canceled, superseded by r.By. The
// approval's state makes a later approve or reject refused with that.
func (p *promotion) supersede(ctx workflow.Context, r activities.Superseded) (Approval, error) {
	if err := p.checkSupersede(ctx, r); err != nil {
		return Approval{}, err
	}
	p.supersededBy = &r
	p.st.Approval = Approval{State: ApprovalCanceled, By: r.By, At: workflow.Now(ctx),
		Comment: "superseded by " + r.By + " (release " + r.Release + ")"}
	return p.st.Approval, nil
}

// endSuperseded ends a promotion that gave way to a newer one.
func (p *promotion) endSuperseded(ctx workflow.Context) error {
	by := p.supersededBy
	p.setState(ctx, ApprovalCanceled)
	p.setPhase(ctx, PhaseSuperseded)
	p.note(ctx, fmt.Sprintf("superseded by %s (release %s)", by.By, by.Release))
	p.setWaiting(ctx, fmt.Sprintf("nothing: superseded by %s, the promotion of release %s", by.By, by.Release))
	return nil
}

// canceled ends a promotion that was cancelled before its outage began:
// by an operator, or superseded by a newer candidate. An outage that was
// cancelled has already compensated and keeps its state.
func (p *promotion) canceled(ctx workflow.Context) {
	if p.st.State != ApprovalPending && p.st.State != ApprovalApproved {
		return
	}
	ctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var by activities.Superseded
	superseded := p.superseded.ReceiveAsync(&by)
	p.setState(ctx, ApprovalCanceled)
	if !superseded {
		p.setPhase(ctx, ApprovalCanceled)
		p.setWaiting(ctx, "nothing: canceled")
		return
	}
	p.setPhase(ctx, PhaseSuperseded)
	p.note(ctx, fmt.Sprintf("superseded by %s (release %s)", by.By, by.Release))
	p.setWaiting(ctx, fmt.Sprintf("nothing: superseded by %s, the promotion of release %s", by.By, by.Release))
}

// productionNow is what production serves, read from the store; the
// release switched to when it cannot be read (noted).
func (p *promotion) productionNow(ctx workflow.Context) string {
	var st activities.ChannelState
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.ChannelState,
		activities.ChannelStateInput{Channel: p.plan.ProductionChannel}).Get(ctx, &st)
	if err != nil {
		p.note(ctx, "could not read what production serves: "+rootMessage(err))
		return p.switchedTo
	}
	if st.Release != p.switchedTo {
		p.note(ctx, fmt.Sprintf("%s serves %s, not %s, the release this promotion switched it to", p.plan.ProductionChannel, st.Release, p.switchedTo))
	}
	return st.Release
}

// holdTesting freezes testing at the candidate (or the candidate with
// bypasses, as testing serves it) until the promotion ends, so that a
// daily sync moves daily but not testing, and the approved window does
// not find testing moved on. The rehearsal's freeze, which the cycle
// lets go once the candidate is made, and an older promotion's, which
// lets go when it ends, are taken over; an operator's is left to them. If testing serves another
// release, nothing is held and the window's check decides.
func (p *promotion) holdTesting(ctx workflow.Context) {
	var st activities.ChannelState
	store := storeActivityCtx(ctx, p.plan.RepoTaskQueue)
	err := workflow.ExecuteActivity(store, repoActs.ChannelState, activities.ChannelStateInput{Channel: p.plan.TestingChannel}).Get(ctx, &st)
	if err != nil {
		p.note(ctx, "could not read testing to hold it: "+rootMessage(err))
		return
	}
	if !slices.Contains(st.Chain, p.st.Release) && st.Release != p.st.Release {
		p.note(ctx, fmt.Sprintf("%s serves %s, not the candidate: it is not held for this promotion", p.plan.TestingChannel, st.Release))
		return
	}
	if fz := st.Freeze; fz != nil && fz.Actor != rehearsalActor && !strings.HasPrefix(fz.Actor, PromotionPrefix) {
		return // an operator holds it, and keeps it: their unfreeze lets it go
	}
	key := runKey(ctx, "hold-testing")
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	err = workflow.ExecuteActivity(store, repoActs.SetFreeze, activities.FreezeInput{
		Channel: p.plan.TestingChannel, Frozen: true, Release: st.Release, Actor: id, Key: key,
		Reason: "held for " + id + " until it ends: the approved window finds testing on the candidate",
	}).Get(ctx, nil)
	if err != nil {
		p.note(ctx, "could not hold testing at the candidate: "+rootMessage(err))
		return
	}
	p.holdKey = key
}

// releaseTesting lets go of the promotion's own hold on testing, whatever
// the end; a freeze somebody took over since stays.
func (p *promotion) releaseTesting(ctx workflow.Context) {
	if p.holdKey == "" {
		return
	}
	ctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	err := workflow.ExecuteActivity(storeActivityCtx(ctx, p.plan.RepoTaskQueue), repoActs.SetFreeze, activities.FreezeInput{
		Channel: p.plan.TestingChannel, Frozen: false, Actor: id, Reason: id + " ended",
		Key: p.holdKey + "/release", IfKey: p.holdKey,
	}).Get(ctx, nil)
	if err != nil {
		p.note(ctx, "could not release testing: "+rootMessage(err)+"; osflow unfreeze "+p.plan.TestingChannel+" releases it")
	}
}
