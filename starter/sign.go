package starter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/internal/approvalsig"
	"github.com/osflow/osflow/workflows"
)

// decision is what an operator decides on a promotion, before it is
// signed: the window is filled from the promotion when the decision does
// not give it (reject, proceed).
type decision struct {
	id, decision, comment string
	start, end            time.Time
}

// signDecision makes the statement of a decision on a promotion or a bypass, prints
// it, and signs it with the private key in keyFile (ssh-keygen -Y sign);
// without a key file it returns nothing to sign with. An approval's
// window end defaults as the promotion would default it, and is set in d:
// a signed approval states it.
func (a *app) signDecision(ctx context.Context, c client.Client, cfg *config.Config, keyFile string, d *decision) (statement, signature string, err error) {
	if keyFile == "" {
		return "", "", nil
	}
	var s approvalsig.Statement
	if strings.HasPrefix(d.id, workflows.BypassPrefix) {
		s, err = bypassStatement(ctx, c, d)
	} else {
		s, err = promotionStatement(ctx, c, cfg, d)
	}
	if err != nil {
		return "", "", err
	}
	text := s.Text()
	fmt.Fprintf(a.stderr, "signing with %s (ssh-keygen -Y sign -n %s):\n%s", keyFile, approvalsig.Namespace, text)
	sig, err := approvalsig.Sign(ctx, keyFile, text)
	return text, sig, err
}

// promotionStatement states a decision on a promotion: its release and
// window.
func promotionStatement(ctx context.Context, c client.Client, cfg *config.Config, d *decision) (approvalsig.Statement, error) {
	ps, err := queryStatus[workflows.PromotionStatus](ctx, c, d.id, "")
	if err != nil {
		return approvalsig.Statement{}, fmt.Errorf("read %s to sign the decision: %w", d.id, err)
	}
	s := approvalsig.Statement{Workflow: d.id, Release: ps.Release, Decision: d.decision, Comment: d.comment,
		WindowStart: ps.Approval.WindowStart, WindowEnd: ps.Approval.WindowEnd, Nonce: approvalsig.NewNonce()}
	if d.decision == approvalsig.DecisionApprove {
		s.WindowStart, s.WindowEnd = d.start, d.end
		if s.WindowEnd.IsZero() {
			s.WindowEnd = s.WindowStart.Add(defaultWindow(cfg, ps))
		}
		d.end = s.WindowEnd
	}
	return s, nil
}

// bypassStatement states a decision on a bypass: its overlay and the
// packages it checked, which it must have checked already.
func bypassStatement(ctx context.Context, c client.Client, d *decision) (approvalsig.Statement, error) {
	bs, err := queryStatus[workflows.BypassStatus](ctx, c, d.id, "")
	if err != nil {
		return approvalsig.Statement{}, fmt.Errorf("read %s to sign the decision: %w", d.id, err)
	}
	if len(bs.Packages) == 0 {
		return approvalsig.Statement{}, fmt.Errorf("%s is still checking its packages (phase %s): sign once `osflow status` lists them", d.id, bs.Phase)
	}
	return approvalsig.Statement{Workflow: d.id, Overlay: bs.Overlay, Packages: nevrasOf(bs), Decision: d.decision,
		Comment: d.comment, Nonce: approvalsig.NewNonce()}, nil
}

// defaultWindow is the length of an outage window when the approver gives
// only its start, as the promotion computes it: production.window, else
// twice the candidate's estimate, an hour at least.
func defaultWindow(cfg *config.Config, ps workflows.PromotionStatus) time.Duration {
	return workflows.DefaultWindow(cfg.Production.Window.Duration, ps.Candidate.TotalEstimate)
}

// signedWindow gives a window the precision a statement states it in.
func signedWindow(keyFile string, start, end time.Time) (time.Time, time.Time) {
	if keyFile == "" {
		return start, end
	}
	return start.Truncate(time.Second), end.Truncate(time.Second)
}

// keyFlag adds --key, the private key a decision is signed with.
func keyFlag(cmd *cobra.Command, keyFile *string) {
	cmd.Flags().StringVar(keyFile, "key", "", "sign the decision with this SSH private key (ssh-keygen -Y sign -n "+approvalsig.Namespace+
		"); required when production.requireSignedApprovals is true")
}
