package starter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/internal/testtool"
)

// The audit verifies a switch's approval from its record alone, and
// refuses a record edited after the fact, with where and why.
func TestVerifySignedRecords(t *testing.T) {
	aliceKey, alice := testtool.SSHKey(t, "alice", "ed25519")
	signer, err := approvalsig.ParseSigner(alice)
	require.NoError(t, err)
	pub, err := approvalsig.ParseKey(signer.Key)
	require.NoError(t, err)
	cfg := &config.Config{}
	cfg.Production.ApproverKeys = map[string]string{"alice": signer.Key}
	start := time.Date(2026, 12, 8, 19, 0, 0, 0, time.UTC)
	st := approvalsig.Statement{Workflow: "promotion-r1", Release: "r1", Decision: approvalsig.DecisionApprove,
		WindowStart: start, WindowEnd: start.Add(4 * time.Hour), Comment: "go", Nonce: "n1"}
	sig, err := approvalsig.Sign(context.Background(), aliceKey, st.Text())
	require.NoError(t, err)
	signed := approvalsig.Signed{By: "alice", Statement: st.Text(), Signature: sig, Fingerprint: approvalsig.Fingerprint(pub)}
	entry := func(f func(*repo.PromotionRecord)) *AuditEntry {
		rec := repo.PromotionRecord{Promotion: "promotion-r1", Approver: "alice", Comment: "go", WindowStart: start, WindowEnd: start.Add(4 * time.Hour), Signed: &signed}
		if f != nil {
			f(&rec)
		}
		return &AuditEntry{Kind: SwitchPromotion, Switch: repo.Switch{To: "r1"}, Base: "r1", Promotion: &rec}
	}
	for _, tc := range []struct {
		name string
		e    *AuditEntry
		want string
	}{
		{"as recorded", entry(nil), ""},
		{"window widened", entry(func(r *repo.PromotionRecord) { r.WindowEnd = start.Add(9 * time.Hour) }), `promotions.log: the statement is for window-end "2026-12-08T23:00:00Z"`},
		{"approver renamed", entry(func(r *repo.PromotionRecord) { r.Approver = "bob" }), `promotions.log: the signature is by "alice", the approver recorded is "bob"`},
		{"fingerprint replaced", entry(func(r *repo.PromotionRecord) {
			s := signed
			s.Fingerprint = "SHA256:other"
			r.Signed = &s
		}), "promotions.log: it records key SHA256:other, the signature verifies with SHA256:"},
		{"statement edited", entry(func(r *repo.PromotionRecord) {
			s := signed
			s.Statement = strings.Replace(s.Statement, "nonce: n1", "nonce: n2", 1)
			r.Signed = &s
		}), "promotions.log: the signature of alice does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No client: the record alone is read.
			e := []AuditEntry{*tc.e}
			require.NoError(t, VerifyApprovals(context.Background(), nil, cfg, e))
			if tc.want == "" {
				require.True(t, e[0].Approval.Verified, "%+v", e[0].Approval)
				require.Equal(t, sourcePromotionsLog, e[0].Approval.Source)
				require.False(t, e[0].Warn)
				return
			}
			require.False(t, e[0].Approval.Verified)
			require.True(t, e[0].Warn)
			require.Contains(t, e[0].Approval.Problem, tc.want)
		})
	}
}
