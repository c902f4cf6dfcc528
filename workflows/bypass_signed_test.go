package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/internal/testtool"
)

// With signed approvals required, a bypass's approval is signed over its
// overlay and the packages checked: each bad signature is refused with its
// reason and records nothing; the signed approval applies the bypass and
// its proof goes with the packages into bypasses.log.
func TestBypassSignedApproval(t *testing.T) {
	aliceKey, aliceLine := testtool.SSHKey(t, "alice", "ed25519")
	bobKey, bobLine := testtool.SSHKey(t, "bob", "ed25519")
	plan := bypassPlan
	plan.RequireApproval, plan.RequireSigned, plan.Approvers = true, true, []string{"alice", "bob"}
	plan.ApproverKeys = approverKeys(t, aliceLine, bobLine)
	w := &bypassWorld{plan: plan}
	env := newBypassEnv(t, w)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "bypass-1"})
	statement := func(nonce string, f func(*approvalsig.Statement)) approvalsig.Statement {
		s := approvalsig.Statement{Workflow: "bypass-1", Overlay: "site", Packages: []string{"openssl-1:3.0.7-27.el9.x86_64"},
			Decision: approvalsig.DecisionApprove, Comment: "go", Nonce: nonce}
		if f != nil {
			f(&s)
		}
		return s
	}
	approve := func(key string, s approvalsig.Statement) ApproveRequest {
		sig, err := approvalsig.Sign(context.Background(), key, s.Text())
		require.NoError(t, err)
		return ApproveRequest{Approver: "alice", Comment: "go", Statement: s.Text(), Signature: sig}
	}
	good := statement("n1", nil)
	refusals := []struct {
		req  ApproveRequest
		want string
	}{
		{ApproveRequest{Approver: "alice", Comment: "go"}, "a signed statement is required"},
		{approve(bobKey, good), "signed with the key of bob"},
		{approve(aliceKey, statement("n2", func(s *approvalsig.Statement) { s.Workflow = "bypass-0" })), `the statement is for workflow "bypass-0", this request is for "bypass-1"`},
		{approve(aliceKey, statement("n3", func(s *approvalsig.Statement) { s.Packages = append(s.Packages, "openssh-9.0-1.x86_64") })), `the statement is for packages`},
		{approve(aliceKey, statement("n4", func(s *approvalsig.Statement) { s.Overlay, s.Packages, s.Release = "", nil, "r7" })), `the statement is "osflow decision v1"`},
	}
	answers := make([]answer, len(refusals))
	for i, r := range refusals {
		sendUpdate[Approval](env, time.Duration(i+1)*time.Minute, UpdateApproveOutage, r.req, &answers[i])
	}
	var pending BypassStatus
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&pending))
	}, 30*time.Minute)
	var approved answer
	goodReq := approve(aliceKey, good)
	sendUpdate[Approval](env, time.Hour, UpdateApproveOutage, goodReq, &approved)

	env.ExecuteWorkflow(Bypass, bypassInput())

	require.NoError(t, env.GetWorkflowError())
	for i, r := range refusals {
		require.ErrorContains(t, answers[i].refused, r.want, "refusal %d", i)
	}
	require.Equal(t, ApprovalPending, pending.Approval.State, "a refused approval records nothing")
	require.Empty(t, pending.Approval.Proofs)
	require.NoError(t, approved.refused)
	var st BypassStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Len(t, st.Approval.Proofs, 1)
	require.Equal(t, good.Text(), st.Approval.Proofs[0].Statement)
	require.Equal(t, &approvalsig.Signed{By: "alice", Statement: good.Text(), Signature: goodReq.Signature, Fingerprint: st.Approval.Proofs[0].Fingerprint},
		w.applied.Signed, "the proof goes to bypasses.log")
}

// Before its packages are checked, a bypass has nothing to sign over.
func TestBypassSigningWaitsForThePackages(t *testing.T) {
	b := &bypass{in: bypassInput(), plan: bypassPlan}
	require.Contains(t, b.signing().unready, "still being checked")
	b.st.Packages = append(b.st.Packages, activities.StagedRPM{NEVRA: "openssl-1:3.0.7-27.el9.x86_64"})
	require.Empty(t, b.signing().unready)
	require.Equal(t, []string{"openssl-1:3.0.7-27.el9.x86_64"}, b.signing().packages)
}

// approverKeys maps each allowed_signers line's approver to their key, as
// the configuration does.
func approverKeys(t *testing.T, lines ...string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for _, l := range lines {
		s, err := approvalsig.ParseSigner(l)
		require.NoError(t, err)
		keys[s.Name] = s.Key
	}
	return keys
}
