package tests

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/worker"
	"github.com/osflow/osflow/workflows"
)

// TestRoutedWorkers runs a site as a real deployment does: a main-role
// worker anywhere, the repo-role worker on the store host. While only the
// main role runs, the sync's repo activities wait, and `osflow status` says
// so and why; once the repo worker starts the sync completes, and its
// history shows that every store activity ran on the repo worker and none
// on the main one.
func TestRoutedWorkers(t *testing.T) {
	s := newBareSite(t, "e2e-routing", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, "")
	s.startWorker(worker.RoleMain.Options())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := starter.StartSync(ctx, s.client, s.cfg, "e2e", "routing")
	require.NoError(t, err)

	var st starter.Status
	require.Eventually(t, func() bool {
		var out strings.Builder
		st = starter.Status{}
		err := starter.Execute([]string{"--config", s.cfg.Path, "--json", "status"}, &out, &out)
		return err == nil && json.Unmarshal([]byte(out.String()), &st) == nil && len(st.Waiting) > 0
	}, time.Minute, 200*time.Millisecond, "osflow status never showed the repo activity waiting")
	w := st.Waiting[0]
	require.Equal(t, run.GetID(), w.WorkflowID)
	require.Equal(t, "SyncRepo", w.Activity)
	require.Equal(t, s.cfg.Temporal.RepoTaskQueue, w.TaskQueue)
	require.Contains(t, w.Reason, "no worker polls task queue osflow-repo in namespace e2e-routing")
	require.Contains(t, w.Reason, "osflow worker --role repo")

	var text strings.Builder
	require.NoError(t, starter.Execute([]string{"--config", s.cfg.Path, "status"}, &text, &text))
	require.Contains(t, text.String(), "WAITING FOR A WORKER")
	require.Contains(t, text.String(), "activity SyncRepo")
	require.Empty(t, s.channel("testing"), "nothing may touch the store before the repo worker runs")

	s.startWorker(worker.RoleRepo.Options())
	res, err := starter.WaitSync(ctx, s.client, run, func(activities.SyncProgress) {})
	require.NoError(t, err)
	require.Equal(t, workflows.PhaseDone, res.Phase)
	require.Equal(t, res.Release, s.channel("testing"))

	// Which worker ran each activity, by the identity each role polls with;
	// the workflow's own steps (its tasks and local activities) ran on the
	// main role.
	queueOf := map[int64]string{}
	ranOn := map[string][]string{} // task queue -> identities that started its activities
	it := s.client.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			queueOf[ev.GetEventId()] = a.GetTaskQueue().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			q := queueOf[a.GetScheduledEventId()]
			ranOn[q] = append(ranOn[q], a.GetIdentity())
		}
		if a := ev.GetWorkflowTaskStartedEventAttributes(); a != nil {
			ranOn[s.cfg.Temporal.TaskQueue] = append(ranOn[s.cfg.Temporal.TaskQueue], a.GetIdentity())
		}
	}
	require.NotEmpty(t, ranOn[s.cfg.Temporal.RepoTaskQueue])
	require.NotEmpty(t, ranOn[s.cfg.Temporal.TaskQueue])
	for q, ids := range ranOn {
		for _, id := range ids {
			require.Equal(t, worker.Identity(q), id, "an activity of queue %s ran on %s", q, id)
		}
	}

	st = starter.Status{}
	runJSON(t, &st, "--config", s.cfg.Path, "--json", "status")
	require.Empty(t, st.Waiting, "with both roles running nothing waits")
}

// runJSON runs an osflow command that must succeed and decodes its --json output into v.
func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	var out, errOut strings.Builder
	require.NoError(t, starter.Execute(args, &out, &errOut), "osflow %s: %s", strings.Join(args, " "), errOut.String())
	require.NoError(t, json.Unmarshal([]byte(out.String()), v), "osflow %s printed: %s", strings.Join(args, " "), out.String())
}
