package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
)

// opKey is the operation key a side effect is recorded under: the key the
// workflow passed, derived from its own state, or for a caller that passed
// none the activity's identity (workflow run and activity ID), which every
// retry of one activity shares.
func opKey(ctx context.Context, given string) string {
	if given != "" || !activity.IsActivity(ctx) {
		return given
	}
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID
}
