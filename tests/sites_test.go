package tests

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// TestTwoSitesOneServer runs two sites on one Temporal server, one
// namespace each, with the same repo name, task queues, schedule ID and
// workflow IDs, and checks that nothing crosses: each has its own store,
// channels, schedule and test cycle, and a sync at one site moves nothing
// at the other.
func TestTwoSitesOneServer(t *testing.T) {
	a := newSite(t, "e2e-site-a", map[string][]upstream.Spec{"baseos": {spec("site-a-tools", "1.0")}},
		"schedule:\n  cron: [\"0 3 * * *\"]\n  timeZone: Europe/Berlin\n")
	b := newSite(t, "e2e-site-b", map[string][]upstream.Spec{"baseos": {spec("site-b-tools", "2.0")}},
		"schedule:\n  cron: [\"30 5 * * 1\"]\n  timeZone: America/Chicago\n")
	require.Equal(t, a.cfg.Temporal.TaskQueue, b.cfg.Temporal.TaskQueue, "the sites differ only by namespace")
	require.Equal(t, a.cfg.Temporal.RepoTaskQueue, b.cfg.Temporal.RepoTaskQueue)
	ctx := context.Background()

	for _, s := range []*site{a, b} {
		created, err := starter.ApplySchedule(ctx, s.client, s.cfg)
		require.NoError(t, err)
		require.True(t, created, "each namespace has its own %s", workflows.DailySyncScheduleID)
		t.Cleanup(func() { _ = s.client.ScheduleClient().GetHandle(ctx, workflows.DailySyncScheduleID).Delete(ctx) })
	}
	for _, s := range []*site{a, b} {
		d, err := s.client.ScheduleClient().GetHandle(ctx, workflows.DailySyncScheduleID).Describe(ctx)
		require.NoError(t, err)
		require.Equal(t, s.cfg.Schedule.TimeZone, d.Schedule.Spec.TimeZoneName, s.cfg.Temporal.Namespace)
	}

	ra, rb := a.sync(), b.sync()
	require.Equal(t, workflows.PhaseDone, ra.Phase)
	require.Equal(t, workflows.PhaseDone, rb.Phase)
	require.NotEqual(t, ra.Release, rb.Release)
	for _, c := range []struct {
		s          *site
		has, hasNo string
	}{{a, "site-a-tools", "site-b-tools"}, {b, "site-b-tools", "site-a-tools"}} {
		pkgs := c.s.dnf(filepath.Join(c.s.dir, "node"), "testing", "list", "--available")
		require.Contains(t, pkgs, c.has)
		require.NotContains(t, pkgs, c.hasNo)
		_, err := c.s.store.Release(map[*site]string{a: rb.Release, b: ra.Release}[c.s])
		require.Error(t, err, "the other site's release must not be in this store")
	}
	stA := a.cycleState(func(st workflows.TestCycleState) bool { return st.Current == ra.Release && st.RoundsRun >= 1 }, "site A tests its release")
	stB := b.cycleState(func(st workflows.TestCycleState) bool { return st.Current == rb.Release && st.RoundsRun >= 1 }, "site B tests its release")

	// A new release at site A reaches A's test cycle only.
	a.publish("baseos", spec("site-a-tools", "1.1"))
	ra2 := a.sync()
	require.NotEqual(t, ra.Release, ra2.Release)
	a.cycleState(func(st workflows.TestCycleState) bool {
		return st.Current == ra2.Release && st.RoundsRun > stA.RoundsRun
	}, "site A tests its second release")
	require.Equal(t, rb.Release, b.channel("testing"))
	require.Equal(t, rb.Release, b.channel("daily"))
	after, err := starter.CycleStatus(ctx, b.client)
	require.NoError(t, err)
	require.Equal(t, rb.Release, after.Current)
	require.Equal(t, stB.RoundsRun, after.RoundsRun, "site B's test cycle ran a round for site A's sync")

	// Each namespace lists only its own syncs.
	for s, want := range map[*site]int{a: 2, b: 1} {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowType = 'DailySync'"})
		require.NoError(t, err)
		var runs int
		for _, e := range resp.GetExecutions() {
			require.Equal(t, starter.ManualSyncWorkflowID, e.GetExecution().GetWorkflowId())
			runs++
		}
		require.Equal(t, want, runs, s.cfg.Temporal.Namespace)
	}
}

// TestNamespaceSetup prepares a new site's namespace with `osflow namespace
// setup`, as a deployment does, and runs it again to see that it changes
// nothing the second time.
func TestNamespaceSetup(t *testing.T) {
	dir := t.TempDir()
	ns := "e2e-new-site-" + time.Now().UTC().Format("150405.000000")
	cfg := filepath.Join(dir, "osflow.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("store: "+filepath.Join(dir, "store")+"\ntemporal:\n  address: "+frontend+"\n  namespace: "+ns+
		"\nrepos:\n  - name: baseos\n    url: http://127.0.0.1:1/baseos/\n"), 0o644))

	var first, second starter.NamespaceSetup
	runJSON(t, &first, "--config", cfg, "--json", "namespace", "setup", "--retention", "72h")
	require.True(t, first.Created)
	require.Len(t, first.Added, len(workflows.SearchAttributes()))
	runJSON(t, &second, "--config", cfg, "--json", "namespace", "setup")
	require.False(t, second.Created)
	require.Empty(t, second.Added)
	require.ElementsMatch(t, first.Added, second.Present)
}
