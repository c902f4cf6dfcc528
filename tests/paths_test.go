package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/integrations/scm/scmtest"
	"github.com/osflow/osflow/workflows"
)

// TestOperatorPaths walks the operator paths the other end-to-end tests
// do not take, and records their histories: a promotion reminded while it
// waits for approval, whose window finds testing moved on (osflow
// proceed) and whose config merge conflicts (osflow conflict-resolved);
// then a bypass that waits for approval (osflow approve).
func TestOperatorPaths(t *testing.T) {
	mail := startMailSink(t)
	puppet := scmtest.NewRemote(t)
	puppet.Commit("production", "initial", map[string]string{"site.pp": "include base\n"})
	puppet.Branch("test", "production")
	puppet.Commit("test", "add slurm", map[string]string{"site.pp": "include base\ninclude slurm\n"})
	s := newSite(t, "e2e-operator-paths", map[string][]upstream.Spec{
		"baseos": {spec("hpc-base", "1.0"), spec("openssl", "3.0.1")},
	}, fmt.Sprintf(`  - name: site
    overlay: true
    bypass:
      allow: ["openssl*"]
      requireApproval: true
`+passingSmoke+`  roundInterval: 24h
outage:
  tasks:
    - name: drain
      command: ["sh", "-c", "echo draining $OSFLOW_CHANNEL"]
      expected: 1m
production:
  approvers: [alice]
  remindEvery: 2s
git:
  config:
    - name: puppet
      url: %s
notify:
  smtp:
    host: 127.0.0.1
    port: %d
    tls: none
    from: osflow@paths.test
    to: [ops@paths.test]
`, puppet.URL(), mail.port()))
	must := func(args ...string) {
		t.Helper()
		out, err := s.osflow(args...)
		require.NoError(t, err, out)
	}

	// Reminders while the promotion waits for approval.
	r1 := s.sync().Release
	p1 := s.promotionAwaitingApproval(r1)
	reminder := "release " + r1 + " still waits for approval"
	require.Eventually(t, func() bool { return mail.count(reminder) >= 2 }, time.Minute, 100*time.Millisecond,
		"two reminders mailed")

	// Approved for a window a minute away; meanwhile an operator lets
	// testing go and the next sync moves it on.
	must("approve", p1, "--as", "alice", "--window-start", time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	must("unfreeze")
	s.publish("baseos", spec("hpc-base", "1.1"), spec("openssl", "3.0.1"))
	r2 := s.sync().Release
	require.NotEqual(t, r1, r2)
	require.Equal(t, r2, s.channel("testing"))
	// A hotfix on production conflicts with the tested change.
	puppet.Commit("production", "hotfix", map[string]string{"site.pp": "include base\ninclude lustre\n"})

	st := s.promotionState(p1, func(st workflows.PromotionStatus) bool { return st.Phase == workflows.PhaseAwaitingDecision },
		"the decision at the window's start")
	require.Contains(t, st.WaitingFor, "osflow proceed "+p1)
	must("proceed", p1, "--as", "alice")

	st = s.promotionState(p1, func(st workflows.PromotionStatus) bool {
		return strings.HasPrefix(st.WaitingFor, "conflict-resolved for puppet")
	},
		"the merge conflict")
	require.Equal(t, r1, s.channel("production"), "the tested candidate, not what testing serves now")
	// Merged by hand on production, as the ticket asks, keeping both.
	hand := filepath.Join(t.TempDir(), "hand")
	scmtest.Git(t, filepath.Dir(hand), "clone", "-q", "--branch", "production", puppet.Bare, hand)
	_, err := scmtest.Run(hand, nil, "merge", "origin/test")
	require.Error(t, err, "the hand merge conflicts too")
	require.NoError(t, os.WriteFile(filepath.Join(hand, "site.pp"), []byte("include base\ninclude slurm\ninclude lustre\n"), 0o644))
	scmtest.Git(t, hand, "commit", "-qam", "merge test into production by hand")
	scmtest.Git(t, hand, "push", "-q", "origin", "production")
	must("conflict-resolved", p1, "puppet", "--as", "alice")
	st = s.promotionState(p1, func(st workflows.PromotionStatus) bool { return st.State == workflows.ApprovalDone }, "done")
	require.Equal(t, "include base\ninclude slurm\ninclude lustre\n", puppet.Show("production", "site.pp"))
	reminded := mail.count(reminder)
	require.NoError(t, waitWorkflow(t, s, p1))
	recordHistory(t, s.client, p1, "", "promotion-v3-reminded-proceed-conflict")

	// A bypass that needs approval waits for it, then goes through.
	rpms, err := upstream.BuildSpecs(context.Background(), []upstream.Spec{spec("openssl", "3.0.2")}, t.TempDir())
	require.NoError(t, err)
	file := pick(t, rpms, "openssl-3.0.2")
	must("bypass", "site", file, "--reason", "CVE in openssl", "--as", "carol")
	id := s.runningBypass()
	require.Eventually(t, func() bool {
		var st workflows.BypassStatus
		q, err := s.client.QueryWorkflow(context.Background(), id, "", workflows.QueryStatus)
		return err == nil && q.Get(&st) == nil && st.Phase == workflows.PhaseAwaitingApproval
	}, time.Minute, 100*time.Millisecond, "the bypass waits for approval")
	require.Equal(t, r1, s.channel("production"), "nothing moves before the approval")
	must("approve", id, "--as", "alice")
	require.NoError(t, waitWorkflow(t, s, id))
	recs, err := s.store.Bypasses()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	root := filepath.Join(s.dir, "node")
	s.dnf(root, "production", "install", "openssl")
	require.Equal(t, "openssl-3.0.2-1", installed(t, root, "openssl"))
	require.Equal(t, reminded, mail.count(reminder), "no reminder once the promotion ended")
	recordHistory(t, s.client, id, "", "bypass-v3-approved")
}

// runningBypass is the ID of the one running Bypass workflow.
func (s *site) runningBypass() string {
	s.t.Helper()
	var id string
	require.Eventually(s.t, func() bool {
		resp, err := s.client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.cfg.Temporal.Namespace,
			Query:     fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.BypassWorkflowType),
		})
		if err != nil || len(resp.GetExecutions()) != 1 {
			return false
		}
		e := resp.GetExecutions()[0]
		id = e.GetExecution().GetWorkflowId()
		return e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, time.Minute, 100*time.Millisecond, "a running bypass")
	return id
}
