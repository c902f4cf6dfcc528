package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// TestSignedBypassApproval: with production.requireSignedApprovals and an
// overlay whose bypass needs approval, an unsigned approval, one signed
// with another approver's key and one signed for another bypass are
// refused and the bypass still waits; `osflow approve --key` applies it,
// the signature goes into bypasses.log, and `osflow audit production
// --verify` verifies it from there, also when the bypass's history cannot
// be read; a tampered record does not verify.
func TestSignedBypassApproval(t *testing.T) {
	testtool.Need(t, "jq")
	aliceKey, alice := testtool.SSHKey(t, "alice", "ed25519")
	bobKey, bob := testtool.SSHKey(t, "bob", "ed25519")
	s := newSite(t, "e2e-signed-bypass", map[string][]upstream.Spec{
		"baseos": {spec("hpc-base", "1.0"), spec("openssl", "3.0.1")},
	}, fmt.Sprintf(`  - name: site
    overlay: true
    bypass:
      allow: ["openssl*"]
      requireApproval: true
testing:
  gate:
    cleanRounds: 99
production:
  requireSignedApprovals: true
  approvers:
    - %q
    - %q
`, alice, bob))
	ctx := context.Background()
	r1 := s.sync().Release
	_, err := s.store.Switch(ctx, repo.SwitchRequest{Channel: "production", Release: r1, Actor: "e2e", Reason: "first production", Key: "e2e-setup"})
	require.NoError(t, err)
	rpms, err := upstream.BuildSpecs(ctx, []upstream.Spec{spec("openssl", "3.0.2")}, t.TempDir())
	require.NoError(t, err)

	out, err := s.osflow("--json", "bypass", "site", pick(t, rpms, "openssl-3.0.2"), "--reason", "CVE-2026-1234", "--as", "carol")
	require.NoError(t, err, out)
	var started struct{ Result struct{ WorkflowID string } }
	require.NoError(t, json.Unmarshal([]byte(out), &started), out)
	id := started.Result.WorkflowID
	waiting := s.bypassState(id, func(st workflows.BypassStatus) bool { return st.Phase == workflows.PhaseAwaitingApproval }, "waiting for approval")
	require.Equal(t, []string{"openssl-3.0.2-1.noarch"}, nevras(waiting.Packages))

	out, err = s.temporalCLIErr("workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdateApproveOutage,
		"--input", `{"Approver":"alice","Comment":"go"}`)
	require.Error(t, err, out)
	require.Contains(t, out, "a signed statement is required")
	out, err = s.osflow("approve", id, "--as", "alice", "--key", bobKey, "--comment", "go")
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "signed with the key of bob")
	require.Contains(t, out, "osflow bypass decision v1\nworkflow: "+id+"\noverlay: site\npackages: openssl-3.0.2-1.noarch\ndecision: approve\ncomment: go\n",
		"the statement is printed")
	// As the README shows it without osflow: a statement signed by hand,
	// here for another bypass.
	statement := filepath.Join(t.TempDir(), "statement")
	require.NoError(t, os.WriteFile(statement, []byte("osflow bypass decision v1\nworkflow: bypass-other\noverlay: site\n"+
		"packages: openssl-3.0.2-1.noarch\ndecision: approve\ncomment: go\nnonce: 5e1f\n"), 0o600))
	signOut, err := exec.Command("ssh-keygen", "-Y", "sign", "-f", aliceKey, "-n", "osflow-approval", statement).CombinedOutput()
	require.NoError(t, err, "%s", signOut)
	input, err := exec.Command("jq", "-n", "--rawfile", "st", statement, "--rawfile", "sig", statement+".sig",
		`{Approver: "alice", Comment: "go", Statement: $st, Signature: $sig}`).Output()
	require.NoError(t, err)
	out, err = s.temporalCLIErr("workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdateApproveOutage, "--input", string(input))
	require.Error(t, err, out)
	require.Contains(t, unquote(out), `the statement is for workflow "bypass-other", this request is for "`+id+`"`)
	st := s.bypassState(id, func(workflows.BypassStatus) bool { return true }, "its status")
	require.Equal(t, workflows.ApprovalPending, st.Approval.State, "the refused approvals recorded nothing")
	require.Empty(t, st.Approval.Proofs)
	require.Equal(t, r1, s.channel("production"))

	out, err = s.osflow("approve", id, "--as", "alice", "--key", aliceKey, "--comment", "go", "--wait")
	require.NoError(t, err, out)
	require.NotEqual(t, r1, s.channel("production"))
	recordHistory(t, s.client, id, "", "bypass-v4-signed")
	bypasses, err := s.store.Bypasses()
	require.NoError(t, err)
	require.Len(t, bypasses, 1)
	signed := bypasses[0].Signed
	require.NotNil(t, signed, "bypasses.log keeps the signature")
	require.Equal(t, "alice", signed.By)
	require.Contains(t, signed.Statement, "packages: openssl-3.0.2-1.noarch\ndecision: approve\n")

	out, err = s.osflow("audit", "production", "--verify")
	require.NoError(t, err, out)
	require.Contains(t, out, "approval signed by alice, key "+signed.Fingerprint+": verified (from bypasses.log)")

	// With the history out of reach (another namespace), the record alone
	// verifies; edited to name another package, it does not.
	entries := s.auditVerified(s.cfg, s.elsewhere())
	last := entries[len(entries)-1]
	require.True(t, last.Approval.Verified, "%+v", last.Approval)
	tamper(t, filepath.Join(s.cfg.Store, "bypasses.log"), `"packages":["openssl-3.0.2-1.noarch"]`, `"packages":["openssl-3.0.3-1.noarch"]`)
	entries = s.auditVerified(s.cfg, s.elsewhere())
	last = entries[len(entries)-1]
	require.False(t, last.Approval.Verified)
	require.True(t, last.Warn)
	require.Contains(t, last.Approval.Problem, `bypasses.log: the statement is for packages "openssl-3.0.2-1.noarch", this request is for "openssl-3.0.3-1.noarch"`)
}

// bypassState polls a bypass's status until cond holds.
func (s *site) bypassState(id string, cond func(workflows.BypassStatus) bool, what string) workflows.BypassStatus {
	s.t.Helper()
	return workflowState(s, "bypass", id, cond, what)
}

// tamper replaces old by new in a log file, as someone editing the record
// would.
func tamper(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// unquote undoes the Temporal CLI's escaping of quotes in an error.
func unquote(out string) string { return strings.ReplaceAll(out, `\"`, `"`) }

// elsewhere is a client of the site's Temporal server in another namespace,
// where the site's workflows are not: as if their histories were gone.
func (s *site) elsewhere() client.Client {
	s.t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.cfg.Temporal.Address, Namespace: "default"})
	require.NoError(s.t, err)
	s.t.Cleanup(c.Close)
	return c
}

// auditVerified is production's audit with its approvals verified
// (osflow audit production --verify) against cfg's keys, through c.
func (s *site) auditVerified(cfg *config.Config, c client.Client) []starter.AuditEntry {
	s.t.Helper()
	entries, err := starter.Audit(s.store, cfg, "production")
	require.NoError(s.t, err)
	require.NoError(s.t, starter.VerifyApprovals(context.Background(), c, cfg, entries))
	return entries
}
