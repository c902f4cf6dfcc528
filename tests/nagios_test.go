package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/monitoring/nagiostest"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// TestFailedOutageKeepsTheTestedConfig walks issue 16 #7 and #2 end to
// end, with Nagios configured as documented (its command FIFO, a real
// nagios4 reading it) and a config repo whose test branch adds slurm.pp:
// the cycle, notifications, suites and outage tasks never read the FIFO;
// an outage whose task fails reverts the merge; promoting the same release
// again, once the task is fixed, brings slurm.pp to production, and the
// merge-back leaves it on test.
func TestFailedOutageKeepsTheTestedConfig(t *testing.T) {
	nagios := nagiostest.Start(t)
	puppet := scmtest.NewRemote(t)
	puppet.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
	puppet.Branch("test", "production")
	puppet.Commit("test", "add slurm.pp", map[string]string{"slurm.pp": "class slurm {}\n"})
	broken := filepath.Join(t.TempDir(), "drain-broken")
	s := newSite(t, "e2e-nagios", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, passingSmoke+`outage:
  tasks:
    - name: drain
      command: ["sh", "-c", "test ! -e `+broken+`"]
      expected: 1m
production:
  approvers: [alice]
git:
  config:
    - name: puppet
      url: `+puppet.URL()+`
monitoring:
  nagios:
    hostgroups: [compute, login]
    commandFile: `+nagios.CmdFile+`
    statusFile: `+nagios.StatusFile+`
`)
	ctx := context.Background()
	approve := func(p string) {
		t.Helper()
		out, err := s.osflow("approve", p, "--as", "alice", "--window-start", time.Now().UTC().Format(time.RFC3339))
		require.NoError(t, err, out)
	}

	r1 := s.sync().Release
	p := s.promotionAwaitingApproval(r1)

	// The first outage fails at its task: the merge is reverted.
	require.NoError(t, os.WriteFile(broken, nil, 0o644))
	approve(p)
	st := s.promotionState(p, func(st workflows.PromotionStatus) bool { return strings.Contains(st.WaitingFor, "end-outage") }, "rolled back")
	require.Equal(t, workflows.ApprovalRolledBack, st.State)
	require.NotContains(t, puppet.Files("production"), "slurm.pp", "the failed outage's merge is reverted")
	out, err := s.osflow("end-outage", p, "--as", "alice")
	require.NoError(t, err, out)
	require.Error(t, waitWorkflow(t, s, p))

	// Fixed, the same release is promoted again: slurm.pp comes back.
	require.NoError(t, os.Remove(broken))
	_, err = starter.Promote(ctx, s.client, s.cfg, r1)
	require.NoError(t, err)
	st = s.promotionState(p, func(st workflows.PromotionStatus) bool {
		return st.State == workflows.ApprovalPending && st.Risk != nil
	}, "the second approval")
	require.Len(t, st.Risk.Config, 1)
	require.Len(t, st.Risk.Config[0].Reapplied, 1, "the risk report shows the revert undone: %+v", st.Risk.Config[0])
	require.Contains(t, st.Risk.Config[0].Stat, "slurm.pp")
	approve(p)
	st = s.promotionState(p, func(st workflows.PromotionStatus) bool { return st.State == workflows.ApprovalDone }, "done")
	require.Equal(t, "class slurm {}\n", puppet.Show("production", "slurm.pp"), "the tested change reached production")
	require.Len(t, st.Merges, 1)
	require.Len(t, st.Merges[0].Reapplied, 1)
	require.NoError(t, waitWorkflow(t, s, workflows.MergeBackWorkflowID(r1)))
	require.Equal(t, "class slurm {}\n", puppet.Show("test", "slurm.pp"), "the merge-back kept the tested change on test")
	// Issue 16 #11: the step says what Nagios shows ended, not how many
	// downtimes were made.
	i := slices.IndexFunc(st.Steps, func(s workflows.Step) bool { return s.Name == "end silences" })
	require.GreaterOrEqual(t, i, 0, "%+v", st.Steps)
	require.Equal(t, "done", st.Steps[i].Status)
	require.Len(t, st.Silences, 5, "node1, node2, login1, and the services of compute: %v", st.Silences)
	require.Equal(t, fmt.Sprintf("%d of %d silences ended", len(st.Silences), len(st.Silences)), st.Steps[i].Detail)
	recordHistory(t, s.client, p, "", "promotion-v3-silences-ended")

	// Nagios got every command osflow wrote: each outage's downtimes and
	// their deletion.
	var schedules, deletes int
	for _, c := range nagios.Commands(t) {
		switch {
		case strings.HasPrefix(c, "SCHEDULE_HOSTGROUP_HOST_DOWNTIME;"):
			schedules++
		case strings.HasPrefix(c, "DEL_DOWNTIME_BY_HOSTGROUP_NAME;"):
			deletes++
		}
	}
	require.Equal(t, 4, schedules, "host downtime for two groups in each of two outages: %v", nagios.Commands(t))
	require.GreaterOrEqual(t, deletes, 4)
	require.True(t, slices.ContainsFunc(nagios.Commands(t), func(c string) bool {
		return strings.HasPrefix(c, "SCHEDULE_HOSTGROUP_SVC_DOWNTIME;compute;")
	}))
}
