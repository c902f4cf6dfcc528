package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
	"github.com/osflow/osflow/workflows"
)

// TestSignedApprovalToProduction: with production.requireSignedApprovals,
// an unsigned approval (the Temporal CLI) and one signed with another
// approver's key (`osflow approve --key`, which signs with ssh-keygen)
// are refused and the promotion still waits; approved as the README shows
// without osflow (ssh-keygen -Y sign by hand, the Temporal CLI), the
// promotion reaches production, and `osflow audit production --verify`
// verifies the approval again. Update and Signal payloads with a field
// that is not the request's are refused, naming it.
func TestSignedApprovalToProduction(t *testing.T) {
	testtool.Need(t, "jq")
	aliceKey, alice := testtool.SSHKey(t, "alice", "ed25519")
	bobKey, bob := testtool.SSHKey(t, "bob", "ecdsa")
	s := newSite(t, "e2e-signed", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, fmt.Sprintf(passingSmoke+`production:
  requireSignedApprovals: true
  approvers:
    - %q
    - %q
`, alice, bob))

	r1 := s.sync().Release
	p := s.promotionAwaitingApproval(r1)
	now := time.Now().UTC().Truncate(time.Second)
	start := now.Format(time.RFC3339)

	out, err := s.temporalCLIErr("workflow", "update", "execute", "--workflow-id", p, "--name", workflows.UpdateApproveOutage,
		"--input", fmt.Sprintf(`{"Approver":"alice","Comment":"go","WindowStart":%q}`, start))
	require.Error(t, err, out)
	require.Contains(t, out, "a signed statement is required")
	out, err = s.osflow("approve", p, "--as", "alice", "--key", bobKey, "--window-start", start, "--comment", "go")
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "signed with the key of bob")
	out, err = s.osflow("reject", p, "--as", "bob", "--key", aliceKey, "--comment", "not now")
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "signed with the key of alice")
	require.Contains(t, out, "decision: reject\nwindow-start: -\nwindow-end: -\ncomment: not now\n", "the statement is printed")
	// Payloads decode strictly: an unknown field in an Update is refused
	// to the caller, naming it; a Signal with a misspelt field is refused
	// and listed in osflow status.
	out, err = s.temporalCLIErr("workflow", "update", "execute", "--workflow-id", p, "--name", workflows.UpdateApproveOutage,
		"--input", fmt.Sprintf(`{"Approver":"alice","Comment":"go","WindowStart":%q,"Window":"4h"}`, start))
	require.Error(t, err, out)
	require.Contains(t, unquote(out), `unknown field "Window": the fields are Approver, Comment, WindowStart, WindowEnd, Statement, Signature`)
	s.temporalCLI("workflow", "signal", "--workflow-id", p, "--name", workflows.SignalApproveOutage,
		"--input", fmt.Sprintf(`{"approver":"alice","WindowStart":%q}`, start))
	s.promotionState(p, func(st workflows.PromotionStatus) bool { return len(st.Refused) > 0 }, "the signal refused")
	out, err = s.osflow("status")
	require.NoError(t, err, out)
	require.Contains(t, out, `approve-outage from "alice" refused: unknown field "approver": field names are case-sensitive, did you mean "Approver"?`)
	st := s.promotionState(p, func(workflows.PromotionStatus) bool { return true }, "its status")
	require.Equal(t, workflows.ApprovalPending, st.Approval.State, "the refused approvals recorded nothing")
	require.Empty(t, st.Approval.Proofs)

	// The approval as the README shows it without osflow: the statement
	// signed by hand with ssh-keygen, sent with the Temporal CLI.
	end := now.Add(2 * time.Hour).Format(time.RFC3339)
	statement := filepath.Join(t.TempDir(), "statement")
	require.NoError(t, os.WriteFile(statement, []byte(fmt.Sprintf("osflow decision v1\nworkflow: %s\nrelease: %s\ndecision: approve\n"+
		"window-start: %s\nwindow-end: %s\ncomment: go\nnonce: 3f9c0a1e5b7d\n", p, r1, start, end)), 0o600))
	sign := exec.Command("ssh-keygen", "-Y", "sign", "-f", aliceKey, "-n", "osflow-approval", statement)
	signOut, err := sign.CombinedOutput()
	require.NoError(t, err, "%s", signOut)
	input, err := exec.Command("jq", "-n", "--rawfile", "st", statement, "--rawfile", "sig", statement+".sig", "--arg", "ws", start, "--arg", "we", end,
		`{Approver: "alice", Comment: "go", WindowStart: $ws, WindowEnd: $we, Statement: $st, Signature: $sig}`).Output()
	require.NoError(t, err)
	s.temporalCLI("workflow", "update", "execute", "--workflow-id", p, "--name", workflows.UpdateApproveOutage, "--input", string(input))
	st = s.promotionState(p, func(st workflows.PromotionStatus) bool { return st.State == workflows.ApprovalDone }, "done")
	require.Equal(t, r1, s.channel("production"))
	require.Len(t, st.Approval.Proofs, 1)
	proof := st.Approval.Proofs[0]
	require.Equal(t, "alice", proof.By)
	require.Contains(t, proof.Statement, "release: "+r1+"\ndecision: approve\n")
	require.NoError(t, waitWorkflow(t, s, p))
	recordHistory(t, s.client, p, "", "promotion-v4-strict-signed")

	out, err = s.osflow("audit", "production", "--verify")
	require.NoError(t, err, out)
	require.Contains(t, out, "approval signed by alice, key "+proof.Fingerprint+": verified (from promotions.log)", out)

	// promotions.log keeps the signature: with the history out of reach
	// (another namespace), the audit verifies it from there.
	elsewhere := s.elsewhere()
	entries := s.auditVerified(s.cfg, elsewhere)
	require.Len(t, entries, 1)
	require.True(t, entries[0].Approval.Verified, "%+v", entries[0].Approval)
	require.Equal(t, proof.Signature, entries[0].Promotion.Signed.Signature)

	// Once alice's key is replaced in the configuration, the recorded
	// approval no longer verifies: the audit marks the switch.
	cfg := *s.cfg
	cfg.Production.ApproverKeys = map[string]string{"alice": s.cfg.Production.ApproverKeys["bob"], "bob": s.cfg.Production.ApproverKeys["bob"]}
	entries = s.auditVerified(&cfg, s.client)
	require.Len(t, entries, 1)
	require.True(t, entries[0].Warn)
	require.False(t, entries[0].Approval.Verified)
	require.Contains(t, entries[0].Approval.Problem, "the signature of alice does not verify: signed with key "+proof.Fingerprint)

	// A record edited to widen the window does not verify either.
	tamper(t, filepath.Join(s.cfg.Store, "provenance", r1, "promotions.log"), fmt.Sprintf(`"windowEnd":%q`, end), fmt.Sprintf(`"windowEnd":%q`, now.Add(9*time.Hour).Format(time.RFC3339)))
	entries = s.auditVerified(s.cfg, elsewhere)
	require.True(t, entries[0].Warn)
	require.Contains(t, entries[0].Approval.Problem, "promotions.log: the statement is for window-end "+fmt.Sprintf("%q", end))
}

// temporalCLIErr runs the pinned Temporal CLI and returns its output and
// error, for a command that is to fail.
func (s *site) temporalCLIErr(args ...string) (string, error) {
	s.t.Helper()
	cli, err := filepath.Abs("../bin/temporal")
	require.NoError(s.t, err)
	args = append(args, "--address", s.cfg.Temporal.Address, "--namespace", s.cfg.Temporal.Namespace)
	out, err := exec.Command(cli, args...).CombinedOutput()
	return string(out), err
}
