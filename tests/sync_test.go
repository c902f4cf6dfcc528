package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

func spec(name, version string, requires ...string) upstream.Spec {
	return upstream.Spec{Name: name, Version: version, Release: "1", Requires: requires, Summary: name + " for the osflow e2e test"}
}

func (s *site) sync() workflows.DailySyncStatus {
	s.t.Helper()
	st, _ := s.syncRecorded("")
	return st
}

// trySync runs a DailySync and returns its status, its run and its error.
func (s *site) trySync(reason string) (workflows.DailySyncStatus, client.WorkflowRun, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := starter.StartSync(ctx, s.client, s.cfg, "e2e", reason)
	require.NoError(s.t, err)
	st, err := starter.WaitSync(ctx, s.client, run, func(activities.SyncProgress) {})
	return st, run, err
}

// syncRecorded runs a DailySync and, under -record, saves its history as name.
func (s *site) syncRecorded(name string) (workflows.DailySyncStatus, client.WorkflowRun) {
	s.t.Helper()
	st, run, err := s.trySync("test sync")
	require.NoError(s.t, err)
	if name != "" {
		recordHistory(s.t, s.client, run.GetID(), run.GetRunID(), name)
	}
	return st, run
}

func (s *site) channel(name string) string {
	s.t.Helper()
	rel, err := s.store.Channel(name)
	require.NoError(s.t, err)
	return rel
}

// TestDailySyncToDnf walks the operator's day: sync, install from testing,
// an upstream update reaching dnf, the diff, and a rollback.
func TestDailySyncToDnf(t *testing.T) {
	s := newSite(t, "e2e-sync", map[string][]upstream.Spec{
		"baseos":    {spec("hpc-base", "1.0"), spec("hpc-tools", "1.0", "hpc-base")},
		"appstream": {spec("hpc-apps", "2.0", "hpc-tools")},
	}, "testing:\n  gate:\n    cleanRounds: 99 # no rehearsal: its freeze of testing would refuse the rollback below\n")
	ctx := context.Background()

	first, _ := s.syncRecorded("dailysync-v2-first")
	require.Equal(t, workflows.PhaseDone, first.Phase)
	require.NotEmpty(t, first.Release)
	require.Equal(t, first.Release, s.channel("daily"))
	require.Equal(t, first.Release, s.channel("testing"))

	root := filepath.Join(s.dir, "node")
	out := s.dnf(root, "testing", "install", "hpc-apps")
	require.Equal(t, "hpc-tools-1.0-1", installed(t, root, "hpc-tools"), "dnf install: %s\n%s", out, s.dnf(root, "testing", "list", "--showduplicates", "hpc-*"))
	require.Equal(t, "hpc-base-1.0-1", installed(t, root, "hpc-base"))

	t.Run("unchanged upstream makes no new release", func(t *testing.T) {
		again, _ := s.syncRecorded("dailysync-v2-nochange")
		require.Equal(t, workflows.PhaseNoChange, again.Phase)
		require.Equal(t, first.Release, again.Release)
		for _, r := range again.Repos {
			require.False(t, r.Changed, r.Repo)
			require.Zero(t, r.Downloaded, r.Repo)
		}
	})

	s.publish("baseos", spec("hpc-tools", "1.1", "hpc-base"))
	second := s.sync()
	require.NotEqual(t, first.Release, second.Release)
	require.Equal(t, second.Release, s.channel("testing"))

	t.Run("dnf sees the update", func(t *testing.T) {
		s.dnf(root, "testing", "upgrade")
		require.Equal(t, "hpc-tools-1.1-1", installed(t, root, "hpc-tools"))
	})

	t.Run("diff shows the upgrade", func(t *testing.T) {
		d, err := s.store.DiffReleases(first.Release, second.Release)
		require.NoError(t, err)
		base := d.Repos["baseos"]
		require.Len(t, base.Upgraded, 1)
		require.Equal(t, "hpc-tools", base.Upgraded[0].Name)
		require.Equal(t, "1.0", base.Upgraded[0].From.Version)
		require.Equal(t, "1.1", base.Upgraded[0].To.Version)
		require.Empty(t, d.Repos["appstream"].Upgraded)
	})

	t.Run("rollback brings the old package back", func(t *testing.T) {
		sw, err := starter.Rollback(ctx, s.client, s.cfg, activities.RollbackInput{
			Channel: "testing", Actor: "cli/e2e", Reason: "hpc-tools 1.1 breaks jobs",
		})
		require.NoError(t, err)
		require.True(t, sw.Changed)
		require.Equal(t, first.Release, sw.To)
		require.Equal(t, first.Release, s.channel("testing"))
		require.Equal(t, second.Release, s.channel("daily"), "rollback moves only the channel asked for")
		out := s.dnf(root, "testing", "distro-sync")
		require.Equal(t, "hpc-tools-1.0-1", installed(t, root, "hpc-tools"), "dnf distro-sync: %s", out)
		h, err := s.store.History("testing")
		require.NoError(t, err)
		last := h[len(h)-1]
		require.Equal(t, "cli/e2e", last.Actor)
		require.Equal(t, "hpc-tools 1.1 breaks jobs", last.Reason)
	})

	t.Run("a switch never breaks a client mid-fetch", func(t *testing.T) {
		stop := filepath.Join(s.dir, "fetcher-stop")
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(),
			fetcherEnv+"="+s.channels.URL+"/testing/baseos/",
			fetcherStopEnv+"="+stop)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		for i := 0; i < 200; i++ {
			to := first.Release
			if i%2 == 0 {
				to = second.Release
			}
			_, err := s.store.Switch(ctx, repo.SwitchRequest{Channel: "testing", Release: to, Actor: "e2e", Reason: "switch under load"})
			require.NoError(t, err)
		}
		require.NoError(t, os.WriteFile(stop, nil, 0o644))
		require.NoError(t, cmd.Wait(), "fetcher failed: %s", out.String())
		require.Contains(t, out.String(), "rounds=")
	})
}

// TestHostileUpstreamChangesNoChannel corrupts a package after the metadata
// was generated: the sync must fail naming the file, and testing must stay.
func TestHostileUpstreamChangesNoChannel(t *testing.T) {
	s := newSite(t, "e2e-hostile", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, "")
	first := s.sync()

	s.publish("baseos", spec("hpc-evil", "1.0"))
	rpms, err := filepath.Glob(filepath.Join(s.upstream, "baseos", "Packages", "hpc-evil-*.rpm"))
	require.NoError(t, err)
	require.Len(t, rpms, 1)
	f, err := os.OpenFile(rpms[0], os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("tampered")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	_, _, err = s.trySync("hostile")
	require.Error(t, err)
	require.Contains(t, err.Error(), "hpc-evil")
	require.Contains(t, err.Error(), "no channel was changed")
	require.Equal(t, first.Release, s.channel("testing"))
	require.Equal(t, first.Release, s.channel("daily"))
}

// TestScheduleApply creates the daily schedule, then updates it in place.
func TestScheduleApply(t *testing.T) {
	s := newSite(t, "e2e-schedule", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, "")
	ctx := context.Background()
	created, err := starter.ApplySchedule(ctx, s.client, s.cfg)
	require.NoError(t, err)
	require.True(t, created)
	t.Cleanup(func() { _ = s.client.ScheduleClient().GetHandle(ctx, workflows.DailySyncScheduleID).Delete(ctx) })

	s.cfg.Schedule.Cron = []string{"15 4 * * 1-5"}
	created, err = starter.ApplySchedule(ctx, s.client, s.cfg)
	require.NoError(t, err)
	require.False(t, created)
	d, err := s.client.ScheduleClient().GetHandle(ctx, workflows.DailySyncScheduleID).Describe(ctx)
	require.NoError(t, err)
	require.Len(t, d.Schedule.Spec.Calendars, 1, "the cron expression is stored as one calendar")
	require.Equal(t, s.cfg.Schedule.TimeZone, d.Schedule.Spec.TimeZoneName)
}
