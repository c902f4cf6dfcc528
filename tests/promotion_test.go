package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/monitoring/amtest"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// promotionState polls a promotion until cond holds.
func (s *site) promotionState(id string, cond func(workflows.PromotionStatus) bool, what string) workflows.PromotionStatus {
	s.t.Helper()
	return workflowState(s, "promotion", id, cond, what)
}

// workflowState polls a workflow's status query until cond holds; it
// shows the history when it never does.
func workflowState[T any](s *site, kind, id string, cond func(T) bool, what string) T {
	s.t.Helper()
	var st T
	var lastErr error
	ok := assert.Eventually(s.t, func() bool {
		q, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.QueryStatus)
		if err == nil {
			err = q.Get(&st)
		}
		lastErr = err
		return err == nil && cond(st)
	}, 3*time.Minute, 100*time.Millisecond, "%s %s reaches %s", kind, id, what)
	if !ok {
		s.t.Logf("history of %s:\n%s", id, s.temporalCLI("workflow", "show", "--workflow-id", id))
		s.t.Fatalf("%s %s never reached: %s (last error %v, last state: %+v)", kind, id, what, lastErr, st)
	}
	return st
}

// temporalCLI runs the pinned Temporal CLI against the site's namespace.
func (s *site) temporalCLI(args ...string) string {
	s.t.Helper()
	out, err := s.temporalCLIErr(args...)
	require.NoError(s.t, err, "temporal %s: %s", strings.Join(args, " "), out)
	return out
}

// candidateAfterRehearsal waits for the rehearsal's manual task, reports
// it, and returns the promotion the candidate started.
func (s *site) candidateAfterRehearsal(release string) string {
	s.t.Helper()
	s.cycleState(func(st workflows.TestCycleState) bool { return st.WaitingFor == "firmware" && st.Current == release }, "rehearsal of "+release)
	_, err := starter.TaskDone(context.Background(), s.client, s.cfg, workflows.TaskDone{Task: "firmware", By: "carol"})
	require.NoError(s.t, err)
	s.cycleState(func(st workflows.TestCycleState) bool { return st.Promoted == release }, "candidate "+release)
	return workflows.PromotionWorkflowID(release)
}

// promotionAwaitingApproval waits for the cycle to make release a
// candidate and its promotion to wait for approval with its risk report.
func (s *site) promotionAwaitingApproval(release string) string {
	s.t.Helper()
	s.cycleState(func(st workflows.TestCycleState) bool { return st.Promoted == release }, "candidate "+release)
	p := workflows.PromotionWorkflowID(release)
	s.promotionState(p, func(st workflows.PromotionStatus) bool {
		return st.State == workflows.ApprovalPending && st.Risk != nil
	}, "the approval")
	return p
}

// TestPromotionToProduction is the production phase end to end: a
// candidate from the test cycle, approved with the real Temporal CLI;
// inside the window the real Alertmanager holds a silence, production
// switches to exactly the tested release, the config repo's production
// branch gets the test changes, and a hotfix made during the outage goes
// back to test; then a second candidate, approved with a signal, fails its
// verification and everything is undone.
func TestPromotionToProduction(t *testing.T) {
	puppet := scmtest.NewRemote(t)
	puppet.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
	puppet.Branch("test", "production")
	puppet.Commit("test", "add slurm client", map[string]string{"site.pp": "include base\ninclude slurm\n"})
	wikiRepo := scmtest.NewRemote(t)
	wikiRepo.Commit("master", "start", map[string]string{"Home.md": "# Procedures\n"})
	am := amtest.Start(t, "")
	failMarker := filepath.Join(t.TempDir(), "fail-production")
	smoke := fmt.Sprintf(`status=''; if [ "$OSFLOW_CHANNEL" = production ] && [ -e %s ]; then status='<failure message="hpc-base broken on production"/>'; fi; `+
		`printf '<testsuite name="smoke" tests="1"><testcase classname="smoke" name="login">%%s</testcase></testsuite>' "$status" > "$OSFLOW_JUNIT"`, failMarker)

	s := newSite(t, "e2e-promotion", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, `testing:
  suites:
    - name: smoke
      command: ["sh", "-c", `+fmt.Sprintf("%q", smoke)+`]
  gate:
    cleanRounds: 1
  roundInterval: 24h
outage:
  tasks:
    - name: drain
      command: ["sh", "-c", "echo draining $OSFLOW_CHANNEL"]
      expected: 1m
    - name: firmware
      manual: true
      expected: 10m
production:
  approvers: [alice, bob]
  verify: [smoke]
git:
  config:
    - name: puppet
      url: `+puppet.URL()+`
monitoring:
  alertmanager:
    url: `+am+`
    matchers: ['cluster="production"']
wiki:
  url: `+wikiRepo.URL()+`
`)
	root := filepath.Join(s.dir, "node")

	// The first candidate, approved through `temporal workflow update execute`.
	r1 := s.sync().Release
	p1 := s.candidateAfterRehearsal(r1)
	st := s.promotionState(p1, func(st workflows.PromotionStatus) bool { return st.RiskPage != "" }, "the risk report")
	require.Equal(t, workflows.ApprovalPending, st.State)
	require.Contains(t, wikiRepo.Show("master", "Release-"+r1+".md"), "## Risk")
	out := s.temporalCLI("workflow", "update", "execute", "--workflow-id", p1, "--name", workflows.UpdateApproveOutage,
		"--input", fmt.Sprintf(`{"Approver":"alice","Comment":"first production","WindowStart":%q}`, time.Now().UTC().Format(time.RFC3339)))
	require.Contains(t, out, "alice")

	st = s.promotionState(p1, func(st workflows.PromotionStatus) bool {
		return strings.HasPrefix(st.WaitingFor, "manual task firmware")
	}, "the outage's manual task")
	require.Equal(t, r1, s.channel("production"), "production switched to exactly the tested release")
	require.Equal(t, "include base\ninclude slurm\n", puppet.Show("production", "site.pp"), "the test changes are merged")
	silences := activeSilences(t, am)
	require.Len(t, silences, 1, "the real Alertmanager holds the outage's silence")
	require.Contains(t, silences[0].Comment, p1)
	s.dnf(root, "production", "install", "hpc-base")
	require.Equal(t, "hpc-base-1.0-1", installed(t, root, "hpc-base"))
	// A hotfix made directly on production during the outage.
	puppet.Commit("production", "hotfix: raise nofile", map[string]string{"limits.conf": "nofile 65536\n"})

	// Without --promotion the rehearsal refuses it, and the refusal names
	// the promotion that waits; nothing is recorded.
	var outb strings.Builder
	err := starter.Execute([]string{"--config", s.cfg.Path, "task-done", "firmware", "--as", "carol"}, &outb, &outb)
	require.Error(t, err, outb.String())
	require.Contains(t, err.Error(), "an outage task needs --promotion PROMOTION: "+p1+" waits for it: osflow task-done firmware --promotion "+p1+" --as NAME")
	st = s.promotionState(p1, func(workflows.PromotionStatus) bool { return true }, "its status")
	require.True(t, strings.HasPrefix(st.WaitingFor, "manual task firmware"), st.WaitingFor)
	for _, task := range st.Tasks {
		require.NotEqual(t, "firmware", task.Task, "the refused report recorded the task")
	}
	outb.Reset()
	require.NoError(t, starter.Execute([]string{"--config", s.cfg.Path, "task-done", "firmware", "--promotion", p1, "--as", "carol"}, &outb, &outb), outb.String())
	st = s.promotionState(p1, func(st workflows.PromotionStatus) bool { return st.State == workflows.ApprovalDone }, "done")
	require.Empty(t, activeSilences(t, am), "the silence is expired after the outage")
	require.Len(t, st.Tasks, 2)
	require.Equal(t, "carol", st.Tasks[1].By)
	require.Contains(t, wikiRepo.Show("master", "Outage-"+r1+".md"), "| firmware |")
	require.NoError(t, waitWorkflow(t, s, p1), "it ends, letting testing go")
	mb := waitWorkflow(t, s, workflows.MergeBackWorkflowID(r1))
	require.NoError(t, mb)
	require.Equal(t, "nofile 65536\n", puppet.Show("test", "limits.conf"), "the hotfix reached test through the merge-back")
	audit, err := starter.Audit(s.store, s.cfg, "production")
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.True(t, audit[0].Tested, "%+v", audit[0])
	require.Equal(t, "alice", audit[0].Promotion.Approver)
	require.Equal(t, "done", audit[0].Outcome)

	// The second candidate, approved with a signal (as tctl sends it),
	// fails its verification on production: everything is undone.
	s.publish("baseos", spec("hpc-base", "1.1"))
	r2 := s.sync().Release
	p2 := s.candidateAfterRehearsal(r2)
	require.NoError(t, os.WriteFile(failMarker, nil, 0o644))
	s.temporalCLI("workflow", "signal", "--workflow-id", p2, "--name", workflows.SignalApproveOutage,
		"--input", fmt.Sprintf(`{"Approver":"bob","Comment":"second","WindowStart":%q}`, time.Now().UTC().Format(time.RFC3339)))
	s.promotionState(p2, func(st workflows.PromotionStatus) bool {
		return strings.HasPrefix(st.WaitingFor, "manual task firmware")
	}, "the second outage's manual task")
	require.Equal(t, r2, s.channel("production"))
	s.dnf(root, "production", "upgrade")
	require.Equal(t, "hpc-base-1.1-1", installed(t, root, "hpc-base"))
	require.NoError(t, starter.Execute([]string{"--config", s.cfg.Path, "task-done", "firmware", "--promotion", r2, "--as", "carol"}, &outb, &outb), outb.String())

	st = s.promotionState(p2, func(st workflows.PromotionStatus) bool { return strings.Contains(st.WaitingFor, "end-outage") }, "rolled back")
	require.Equal(t, workflows.ApprovalRolledBack, st.State)
	require.Contains(t, st.Error, "hpc-base broken on production")
	require.Equal(t, r1, s.channel("production"), "production is back on its previous release")
	require.Len(t, activeSilences(t, am), 1, "monitoring stays silenced after the rollback until end-outage")
	s.dnf(root, "production", "distro-sync")
	require.Equal(t, "hpc-base-1.0-1", installed(t, root, "hpc-base"), "dnf sees the old package again")
	require.Equal(t, "include base\ninclude slurm\n", puppet.Show("production", "site.pp"), "nothing new to merge, nothing reverted wrongly")

	outb.Reset()
	require.NoError(t, starter.Execute([]string{"--config", s.cfg.Path, "end-outage", p2, "--as", "carol"}, &outb, &outb), outb.String())
	err = waitWorkflow(t, s, p2)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.Equal(t, workflows.ErrTypePromotionFailed, app.Type())
	require.Empty(t, activeSilences(t, am))
	audit, err = starter.Audit(s.store, s.cfg, "production")
	require.NoError(t, err)
	require.Len(t, audit, 3, "r1, r2, and the rollback to r1")
	require.Equal(t, "rolled-back", audit[1].Outcome)
	require.Contains(t, audit[2].Verdict, "rollback after a failed promotion")
	out, err = s.osflow("audit", "production")
	require.NoError(t, err, "production is where a promotion and its rollback put it:\n%s", out)

	// Rollback means back: right after the failed outage, "roll back one"
	// has nothing before r1, production's first release, and never goes
	// forward to the failed r2.
	_, err = starter.Rollback(context.Background(), s.client, s.cfg, activities.RollbackInput{Channel: "production", Actor: "cli/e2e", Reason: "x"})
	require.ErrorContains(t, err, "no predecessor")
	require.Equal(t, r1, s.channel("production"))

	recordHistory(t, s.client, p1, "", "promotion-v4-done")
	recordHistory(t, s.client, p2, "", "promotion-v4-rolledback")
	recordHistory(t, s.client, workflows.MergeBackWorkflowID(r1), "", "mergeback-v4")

	// Production serves r1: promoting it again is refused before anything
	// starts, and so is a release that is no candidate.
	for release, want := range map[string]string{r1: "production already serves " + r1, "nosuch": `release "nosuch" is no candidate`} {
		outb.Reset()
		err := starter.Execute([]string{"--config", s.cfg.Path, "promote", "--release", release}, &outb, &outb)
		require.ErrorContains(t, err, want)
	}
	// Started anyway (the Web UI's Start Workflow), the promotion ends at once.
	again, err := s.client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.PromotionWorkflowID(r1) + "-again", TaskQueue: s.cfg.Temporal.TaskQueue,
	}, workflows.Promotion, workflows.PromotionInput{Release: r1})
	require.NoError(t, err)
	require.ErrorContains(t, again.Get(context.Background(), nil), "production already serves "+r1+": nothing to promote")

	// r2 promoted again waits for approval; the next candidate, r3,
	// supersedes it: only the newest candidate waits for an approver.
	require.NoError(t, os.Remove(failMarker))
	run2, err := starter.Promote(context.Background(), s.client, s.cfg, r2)
	require.NoError(t, err)
	s.promotionState(p2, func(st workflows.PromotionStatus) bool { return st.Phase == workflows.PhaseAwaitingApproval }, "r2 waits again")
	// The promotion holds testing at its candidate: the daily sync moves
	// daily only, and the window will find testing where it was tested.
	fz, err := s.store.Frozen("testing")
	require.NoError(t, err)
	require.NotNil(t, fz, "testing is held while the promotion waits")
	require.Equal(t, p2, fz.Actor)
	s.publish("baseos", spec("hpc-base", "1.2"))
	held := s.sync()
	require.Equal(t, workflows.PhaseTestingFrozen, held.Phase)
	r3 := held.Release
	require.Equal(t, r3, s.channel("daily"))
	require.Equal(t, r2, s.channel("testing"), "testing holds the candidate")
	// An operator lets testing go; the next sync moves it, and r3's
	// candidate supersedes the waiting promotion of r2.
	outb.Reset()
	require.NoError(t, starter.Execute([]string{"--config", s.cfg.Path, "unfreeze"}, &outb, &outb), outb.String())
	require.Equal(t, r3, s.sync().Release)
	require.Equal(t, r3, s.channel("testing"))
	p3 := s.candidateAfterRehearsal(r3)
	err = waitWorkflow(t, s, p2)
	require.ErrorAs(t, err, &app, "the superseded promotion ends failed, as the Web UI shows it")
	require.Equal(t, workflows.ErrTypePromotionSuperseded, app.Type())
	st = s.promotionState(p2, func(workflows.PromotionStatus) bool { return true }, "its end state")
	require.Equal(t, workflows.ApprovalCanceled, st.State)
	require.Equal(t, workflows.PhaseSuperseded, st.Phase)
	require.Contains(t, st.WaitingFor, "superseded by "+p3)
	st = s.promotionState(p3, func(st workflows.PromotionStatus) bool { return st.RiskPage != "" }, "r3 waits for approval")
	require.Equal(t, workflows.ApprovalPending, st.State)
	require.Equal(t, r1, s.channel("production"), "nothing moved production")
	fz, err = s.store.Frozen("testing")
	require.NoError(t, err)
	require.NotNil(t, fz)
	require.Equal(t, p3, fz.Actor, "the newest promotion holds testing")
	recordHistory(t, s.client, p2, run2.GetRunID(), "promotion-v4-superseded")

	// A switch by hand is not the process: the audit says so and fails.
	_, err = s.store.Switch(context.Background(), repo.SwitchRequest{Channel: "production", Release: r2, Actor: "root", Reason: "by hand"})
	require.NoError(t, err)
	out, err = s.osflow("audit", "production")
	require.Error(t, err)
	require.Contains(t, out, "WARN")
	require.Contains(t, out, "NOT a promotion: a manual switch by root")
}

// waitWorkflow waits for a workflow's end and returns its error.
func waitWorkflow(t *testing.T, s *site, id string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := s.client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	require.False(t, errors.Is(err, context.DeadlineExceeded), "%s did not end", id)
	return err
}

func activeSilences(t *testing.T, am string) []amtest.Silence {
	t.Helper()
	var out []amtest.Silence
	for _, s := range amtest.Silences(t, am) {
		if s.Status.State == "active" {
			out = append(out, s)
		}
	}
	return out
}
