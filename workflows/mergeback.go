package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// MergeBackInput names the promotion whose production hotfixes go back to
// test.
type MergeBackInput struct {
	Release   string
	Promotion string
	Repos     []activities.GitRepoPlan
}

// MergeBackStatus answers MergeBack's status query and is its result.
type MergeBackStatus struct {
	Release    string
	Merges     []activities.MergeRecord
	WaitingFor string
	Refused    []string
}

// MergeBack merges each config and monitoring repo's production branch
// back into its test branch, carrying the hotfixes committed directly on
// production during the outage into the next cycle. A conflict files a
// ticket and waits for conflict-resolved.
func MergeBack(ctx workflow.Context, in MergeBackInput) (MergeBackStatus, error) {
	st := MergeBackStatus{Release: in.Release}
	m := &merger{release: in.Release, resolved: map[string]string{},
		status: func(_ workflow.Context, what string, _ ...string) { st.WaitingFor = what }}
	refuse := func(ctx workflow.Context, name, by string, err error) {
		st.Refused = appendBounded(st.Refused, fmt.Sprintf("%s %s from %q refused: %v",
			workflow.Now(ctx).UTC().Format(time.RFC3339), name, by, err), maxRefusals)
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (MergeBackStatus, error) { return st, nil }); err != nil {
		return st, err
	}
	if err := operatorCommand(ctx, UpdateConflictResolved, func(r ConflictResolved) string { return r.By },
		m.checkResolved, m.resolve, refuse); err != nil {
		return st, err
	}
	notify := workflow.GetVersion(ctx, versionNotifyTurns, workflow.DefaultVersion, 1) == 1
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrRelease.ValueSet(in.Release), AttrPhase.ValueSet("merge-back"))
	for _, r := range in.Repos {
		st.WaitingFor = "the merge of " + r.Name
		rec, err := m.merge(ctx, r, r.Production, r.Test,
			fmt.Sprintf("osflow: merge production hotfixes back to %s after release %s (%s)", r.Test, in.Release, in.Promotion), "merge-back")
		if err != nil {
			err = stepError("merge "+r.Production+" back into "+r.Test+" in "+r.Name, err)
			notifyMergeBack(ctx, notify, st, err)
			return st, err
		}
		st.Merges = append(st.Merges, rec)
	}
	notifyMergeBack(ctx, notify, st, nil)
	st.WaitingFor = "nothing: done"
	_ = workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(PhaseDone))
	return st, nil
}
