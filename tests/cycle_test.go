package tests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// cycleState polls the test cycle until cond holds or the deadline passes.
func (s *site) cycleState(cond func(workflows.TestCycleState) bool, what string) workflows.TestCycleState {
	s.t.Helper()
	var st workflows.TestCycleState
	require.Eventually(s.t, func() bool {
		var err error
		st, err = starter.CycleStatus(context.Background(), s.client)
		return err == nil && cond(st)
	}, 2*time.Minute, 100*time.Millisecond, "test cycle never reached: %s (last state: %+v)", what, st)
	return st
}

// TestCycleFromFailureToCandidate walks the integration-test phase: a
// broken dependency becomes a ticket, the fix closes it, the gate passes
// after clean rounds, the outage is rehearsed and timed, and the candidate
// reaches the wiki and a promotion.
func TestCycleFromFailureToCandidate(t *testing.T) {
	configRepo := scmtest.NewRemote(t)
	configRepo.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
	configRepo.Branch("test", "production")
	configRepo.Commit("test", "add slurm client", map[string]string{"site.pp": "include base\ninclude slurm\n"})
	monitoring := scmtest.NewRemote(t)
	monitoring.Commit("production", "initial", map[string]string{"services.cfg": "ssh\n"})
	monitoring.Branch("test", "production")
	wikiRepo := scmtest.NewRemote(t)
	wikiRepo.Commit("master", "start", map[string]string{"Home.md": "# Procedures\n\nHand-written intro.\n"})

	s := newSite(t, "e2e-cycle", map[string][]upstream.Spec{
		"baseos": {spec("hpc-base", "1.0"), spec("hpc-tools", "1.0", "hpc-base", "hpc-missing-lib")},
	}, `testing:
  suites:
    - name: repoclosure
      builtin: repoclosure
  gate:
    cleanRounds: 2
  roundInterval: 24h
outage:
  tasks:
    - name: drain-nodes
      command: ["sh", "-c", "echo draining; sleep 0.2"]
      expected: 5m
      where: test cluster
    - name: update-firmware
      manual: true
      expected: 30m
git:
  config:
    - name: puppet
      url: `+configRepo.URL()+`
  monitoring:
    - name: nagios
      url: `+monitoring.URL()+`
wiki:
  url: `+wikiRepo.URL()+`
  branch: master
production:
  approvers: [alice]
`)
	ctx := context.Background()

	// Round 1: hpc-tools needs a library no repo has.
	r1 := s.sync()
	st := s.cycleState(func(st workflows.TestCycleState) bool {
		return len(st.Rounds) >= 1 && st.Phase != workflows.PhaseTesting
	}, "round 1")
	require.Equal(t, 1, st.OpenTickets, "state: %+v", st)
	require.Len(t, st.Rounds[len(st.Rounds)-1].Tickets.New, 1)
	tickets, err := filepath.Glob(filepath.Join(s.dir, "tickets", "*.md"))
	require.NoError(t, err)
	require.Len(t, tickets, 1)
	body, err := os.ReadFile(tickets[0])
	require.NoError(t, err)
	require.Contains(t, string(body), "repoclosure/baseos")
	require.Contains(t, string(body), "hpc-missing-lib")
	require.Contains(t, string(body), r1.Release)

	// Round 2: the fix arrives upstream; the ticket closes, no new one.
	s.publish("baseos", spec("hpc-missing-lib", "1.0"))
	r2 := s.sync()
	st = s.cycleState(func(st workflows.TestCycleState) bool {
		return len(st.Rounds) >= 2 && st.Phase != workflows.PhaseTesting
	}, "round 2")
	require.Equal(t, r2.Release, st.Current)
	require.Equal(t, 0, st.OpenTickets)
	require.Equal(t, 1, st.CleanStreak)
	require.False(t, st.Gate.Passed)
	body, err = os.ReadFile(tickets[0])
	require.NoError(t, err)
	require.Contains(t, string(body), "state: closed")

	// Round 3: another clean release passes the gate; the rehearsal runs the
	// command task and waits for the manual one.
	s.publish("baseos", spec("hpc-base", "1.1"))
	r3 := s.sync()
	st = s.cycleState(func(st workflows.TestCycleState) bool { return st.WaitingFor == "update-firmware" }, "rehearsal waiting for the manual task")
	require.Equal(t, r3.Release, st.Current)
	require.Len(t, st.Rehearsal, 1)
	require.Equal(t, "drain-nodes", st.Rehearsal[0].Task)
	// Measured from the run files' mtimes, stamped at the kernel's tick:
	// the task takes long enough to show.
	require.GreaterOrEqual(t, st.Rehearsal[0].Measured, 150*time.Millisecond)

	require.True(t, st.Frozen, "the rehearsal holds testing at the release it rehearses")
	require.Equal(t, r3.Release, st.FrozenAt)

	// Two operators at once, through the CLI: alice reports the manual
	// task, bob freezes testing for next week's outage. Each is told what
	// was applied; bob's freeze takes over the rehearsal's and outlasts it.
	cli := func(args ...string) (string, error) {
		var out strings.Builder
		err := starter.Execute(append([]string{"--config", s.cfg.Path, "--json"}, args...), &out, &out)
		return out.String(), err
	}
	var wg sync.WaitGroup
	var doneOut, freezeOut string
	var doneErr, freezeErr error
	wg.Go(func() { doneOut, doneErr = cli("task-done", "update-firmware", "--as", "alice") })
	wg.Go(func() { freezeOut, freezeErr = cli("freeze", "--reason", "outage next week") })
	wg.Wait()
	require.NoError(t, doneErr, doneOut)
	require.JSONEq(t, `{"applied": true, "task": "update-firmware", "by": "alice", "release": "`+r3.Release+`"}`, doneOut)
	require.NoError(t, freezeErr, freezeOut)
	require.Contains(t, freezeOut, `"frozen":true`)
	require.Contains(t, freezeOut, r3.Release)
	again, err := cli("task-done", "update-firmware", "--as", "carol")
	require.Error(t, err, "a second report is refused, with the reason")
	require.Contains(t, again, `"applied":false`)
	require.Contains(t, again, "update-firmware")

	st = s.cycleState(func(st workflows.TestCycleState) bool { return st.Promoted == r3.Release }, "candidate promoted")
	cand := st.Candidate
	require.NotNil(t, cand)
	require.Len(t, cand.Tasks, 2)
	require.Equal(t, "alice", cand.Tasks[1].By)
	require.Len(t, cand.Config, 1)
	require.Len(t, cand.Config[0].Commits, 1)
	require.Contains(t, cand.Config[0].Commits[0], "add slurm client")
	require.Empty(t, cand.Monitoring[0].Commits)
	require.Equal(t, 3, cand.Diff.Added, "production serves nothing yet: everything is new")

	page := wikiRepo.Show("master", "Release-"+r3.Release+".md")
	require.Contains(t, page, "| drain-nodes | test cluster | command | 5m0s |")
	require.Contains(t, page, "| update-firmware |  | manual | 30m0s |")
	require.Contains(t, page, "add slurm client")
	home := wikiRepo.Show("master", "Home.md")
	require.Contains(t, home, "Hand-written intro.")
	require.Contains(t, home, "Release-"+r3.Release)

	desc, err := s.client.DescribeWorkflowExecution(ctx, workflows.PromotionWorkflowID(r3.Release), "")
	require.NoError(t, err)
	require.Equal(t, "Running", desc.GetWorkflowExecutionInfo().GetStatus().String())

	// The cycle continued as new along the way and kept its state.
	cycle, err := s.client.DescribeWorkflowExecution(ctx, workflows.TestCycleWorkflowID, "")
	require.NoError(t, err)
	require.NotEmpty(t, cycle.GetWorkflowExecutionInfo().GetFirstRunId())
	require.NotEqual(t, cycle.GetWorkflowExecutionInfo().GetFirstRunId(), cycle.GetWorkflowExecutionInfo().GetExecution().GetRunId(),
		"with suggestContinueAsNew=%d the cycle must have continued as new", suggestContinueAsNew)
	require.Equal(t, 3, st.RoundsRun)

	t.Run("freeze holds testing while daily moves", func(t *testing.T) {
		st := s.cycleState(func(st workflows.TestCycleState) bool { return st.Phase != workflows.PhaseCandidate }, "candidate done")
		require.True(t, st.Frozen, "bob's freeze outlasted the rehearsal")
		require.Contains(t, st.FrozenBy, "cli/")
		_, err := starter.SetFreeze(ctx, s.client, s.cfg, workflows.FreezeRequest{Frozen: true, Actor: "cli/e2e", Reason: "again"})
		var refused starter.RefusedError
		require.ErrorAs(t, err, &refused, "a second freeze is refused")
		require.Contains(t, refused.Reason, "already frozen at "+r3.Release)

		s.publish("baseos", spec("hpc-tools", "1.1", "hpc-base", "hpc-missing-lib"))
		r4 := s.sync()
		require.Equal(t, workflows.PhaseTestingFrozen, r4.Phase)
		require.Equal(t, r4.Release, s.channel("daily"))
		require.Equal(t, r3.Release, s.channel("testing"))
		un, err := starter.SetFreeze(ctx, s.client, s.cfg, workflows.FreezeRequest{Frozen: false, Actor: "cli/e2e"})
		require.NoError(t, err)
		require.False(t, un.Frozen)
		r5 := s.sync()
		require.Equal(t, r4.Release, r5.Release, "the unchanged upstream gives the same release")
		require.Equal(t, r4.Release, s.channel("testing"), "after unfreeze the next sync moves testing")
		st = s.cycleState(func(st workflows.TestCycleState) bool { return st.LastTested == r4.Release && st.InRound == nil },
			"the cycle tested the release testing serves")

		res, err := starter.TestNow(ctx, s.client, s.cfg, "cli/e2e")
		require.NoError(t, err)
		require.Equal(t, r4.Release, res.Release)
		s.cycleState(func(next workflows.TestCycleState) bool { return next.RoundsRun > st.RoundsRun && next.InRound == nil }, "the round asked for")
	})

	recordRuns(t, s.client, workflows.TestCycleWorkflowID, "testcycle-v2")
}
