package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/internal/testtool"
)

// With signed approvals required, the validators refuse each bad
// signature with its reason and record nothing; a signed approval and a
// signed proceed go through and are recorded with their proofs.
func TestPromotionSignedDecisions(t *testing.T) {
	aliceKey, aliceLine := testtool.SSHKey(t, "alice", "ed25519")
	bobKey, bobLine := testtool.SSHKey(t, "bob", "rsa")
	w := &world{production: "r1", testing: "r2", requireSigned: true, keys: approverKeys(t, aliceLine, bobLine)}
	env := newPromotionEnv(t, w)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "promotion-r2"})
	start := env.Now().Add(2 * time.Hour).Truncate(time.Second)
	end := start.Add(3 * time.Hour)
	statement := func(decision, nonce string, f func(*approvalsig.Statement)) approvalsig.Statement {
		s := approvalsig.Statement{Workflow: "promotion-r2", Release: "r2", Decision: decision,
			WindowStart: start, WindowEnd: end, Comment: "go", Nonce: nonce}
		if f != nil {
			f(&s)
		}
		return s
	}
	sign := func(key string, s approvalsig.Statement) string {
		sig, err := approvalsig.Sign(context.Background(), key, s.Text())
		require.NoError(t, err)
		return sig
	}
	approve := func(s approvalsig.Statement, sig string) ApproveRequest {
		return ApproveRequest{Approver: "alice", Comment: "go", WindowStart: start, WindowEnd: end, Statement: s.Text(), Signature: sig}
	}
	good := statement(approvalsig.DecisionApprove, "n1", nil)
	otherRelease := statement(approvalsig.DecisionApprove, "n2", func(s *approvalsig.Statement) { s.Release = "r1" })
	otherWindow := statement(approvalsig.DecisionApprove, "n3", func(s *approvalsig.Statement) { s.WindowEnd = end.Add(time.Hour) })
	replay := statement(approvalsig.DecisionReject, "n1", func(s *approvalsig.Statement) { s.Comment = "no" })
	cancel := statement(approvalsig.DecisionCancel, "n4", nil)
	proceed := statement(approvalsig.DecisionProceed, "n5", nil)

	refusals := []struct {
		name string
		req  any
		want string
	}{
		{UpdateApproveOutage, ApproveRequest{Approver: "alice", Comment: "go", WindowStart: start, WindowEnd: end}, "a signed statement is required"},
		{UpdateApproveOutage, approve(good, sign(bobKey, good)), "signed with the key of bob"},
		{UpdateApproveOutage, approve(otherRelease, sign(aliceKey, otherRelease)), `the statement is for release "r1", this request is for "r2"`},
		{UpdateApproveOutage, approve(otherWindow, sign(aliceKey, otherWindow)), `the statement is for window-end`},
		{UpdateApproveOutage, approve(good, "-----BEGIN SSH SIGNATURE-----\nAAAA\n"), "malformed signature"},
	}
	answers := make([]answer, len(refusals))
	for i, r := range refusals {
		sendUpdate[Approval](env, time.Duration(i+1)*time.Minute, r.name, r.req, &answers[i])
	}
	var pending PromotionStatus
	env.RegisterDelayedCallback(func() { pending = queryPromotion(t, env) }, 9*time.Minute)
	var approved, replayed, unsigned, wrongDecision, decided answer
	sendUpdate[Approval](env, 10*time.Minute, UpdateApproveOutage, approve(good, sign(aliceKey, good)), &approved)
	sendUpdate[Approval](env, 11*time.Minute, UpdateRejectOutage,
		RejectRequest{Approver: "alice", Comment: "no", Statement: replay.Text(), Signature: sign(aliceKey, replay)}, &replayed)
	// Testing moves on before the window: the promotion asks to proceed.
	env.RegisterDelayedCallback(func() { w.testing = "r3" }, 90*time.Minute)
	sendUpdate[ProceedRequest](env, 2*time.Hour+time.Minute, UpdateProceed, ProceedRequest{By: "bob", Proceed: true, Comment: "go"}, &unsigned)
	sendUpdate[ProceedRequest](env, 2*time.Hour+2*time.Minute, UpdateProceed,
		ProceedRequest{By: "bob", Proceed: true, Comment: "go", Statement: cancel.Text(), Signature: sign(bobKey, cancel)}, &wrongDecision)
	sendUpdate[ProceedRequest](env, 2*time.Hour+3*time.Minute, UpdateProceed,
		ProceedRequest{By: "bob", Proceed: true, Comment: "go", Statement: proceed.Text(), Signature: sign(bobKey, proceed)}, &decided)
	var firmwareDone answer
	sendUpdate[TaskDone](env, 3*time.Hour, UpdateTaskDone, TaskDone{Task: "firmware", By: "carol"}, &firmwareDone)

	env.ExecuteWorkflow(Promotion, PromotionInput{Candidate: candidate})

	require.NoError(t, env.GetWorkflowError())
	for i, r := range refusals {
		require.ErrorContains(t, answers[i].refused, r.want, "refusal %d", i)
	}
	require.Equal(t, ApprovalPending, pending.Approval.State, "a refused approval records nothing")
	require.Empty(t, pending.Approval.Proofs)
	require.NoError(t, approved.refused)
	require.ErrorContains(t, replayed.refused, `replayed: nonce "n1" was already used in promotion-r2`)
	require.ErrorContains(t, unsigned.refused, "a signed statement is required")
	require.ErrorContains(t, wrongDecision.refused, `the statement is for decision "cancel", this request is for "proceed"`)
	require.NoError(t, decided.refused)
	require.NoError(t, firmwareDone.refused)

	var st PromotionStatus
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, ApprovalDone, st.State)
	require.Equal(t, "r2", w.production)
	require.Len(t, st.Approval.Proofs, 2)
	for _, n := range w.sent {
		if strings.Contains(n.Subject, "approved by alice") {
			require.Contains(t, n.Text, "osflow reject promotion-r2 --as NAME --key FILE --comment TEXT cancels it", "a signed rejection takes --key")
		}
	}
	for i, want := range []struct {
		decision, by, nonce string
		s                   approvalsig.Statement
	}{{approvalsig.DecisionApprove, "alice", "n1", good}, {approvalsig.DecisionProceed, "bob", "n5", proceed}} {
		p := st.Approval.Proofs[i]
		require.Equal(t, want.decision, p.Decision)
		require.Equal(t, want.by, p.By)
		require.Equal(t, want.nonce, p.Nonce)
		require.Equal(t, want.s.Text(), p.Statement)
		key, err := approvalsig.ParseKey(w.keys[want.by])
		require.NoError(t, err)
		require.Equal(t, approvalsig.Fingerprint(key), p.Fingerprint)
		sig, err := approvalsig.ParseArmored(p.Signature)
		require.NoError(t, err)
		require.NoError(t, sig.Verify(key, []byte(p.Statement)), "the recorded proof verifies again")
	}
}
