package workflows

import (
	"errors"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/internal/approvalsig"
)

// Proof is a signed decision as its validator verified it, recorded with
// the approval so that the audit can verify it again.
type Proof struct {
	Decision    string // approvalsig.Decision*
	By          string
	Nonce       string
	Fingerprint string
	Statement   string
	Signature   string
}

// signing is what an approval's validators need to check signatures: the
// approvers' keys, whether a signature is required, and what is decided:
// a promotion's release, or a bypass's overlay and packages. Read once
// the plan is loaded.
type signing struct {
	keys     map[string]string
	required bool
	release  string
	overlay  string
	packages []string
	// unready, when set, says why nothing can be signed yet (a bypass
	// whose packages are still being checked): a signed or required
	// decision is refused with it.
	unready string
}

// signed is a decision's signature as a request carries it.
type signed struct {
	decision, by, comment string
	start, end            time.Time
	statement, signature  string
}

// verify checks a decision's signature against the statement it must
// make, deterministically (pure Go: a validator may run it on replay).
// Unsigned and not required: no proof. A nonce of an earlier proof of
// this workflow is a replay.
func (a *approval) verify(ctx workflow.Context, s signed) (*Proof, error) {
	if a.signing == nil || (a.ready != nil && !a.ready()) {
		return nil, nil // not signed, or checked again by the handler once the plan is known
	}
	sg := a.signing()
	if !sg.required && s.statement == "" && s.signature == "" {
		return nil, nil
	}
	if sg.unready != "" {
		return nil, errors.New(sg.unready)
	}
	want := approvalsig.Statement{Workflow: workflow.GetInfo(ctx).WorkflowExecution.ID, Release: sg.release,
		Overlay: sg.overlay, Packages: sg.packages,
		Decision: s.decision, WindowStart: s.start, WindowEnd: s.end, Comment: s.comment}
	v, err := approvalsig.Check(sg.keys, approvalsig.Decision{By: s.by, Statement: s.statement, Signature: s.signature}, want,
		func(nonce string) bool {
			return slices.ContainsFunc(a.state.Proofs, func(p Proof) bool { return p.Nonce == nonce })
		})
	if err != nil {
		return nil, err
	}
	return &Proof{Decision: s.decision, By: s.by, Nonce: v.Nonce, Fingerprint: v.Fingerprint, Statement: s.statement, Signature: s.signature}, nil
}

// record adds a verified proof to the approval's.
func (a *approval) record(p *Proof) {
	if p != nil {
		a.state.Proofs = append(a.state.Proofs, *p)
	}
}

// validator drops the proof a signed check returns: a validator only
// accepts or refuses.
func validator[T any](check func(workflow.Context, T) (*Proof, error)) func(workflow.Context, T) error {
	return func(ctx workflow.Context, r T) error {
		_, err := check(ctx, r)
		return err
	}
}

// lastApproval is the proof of the last signed approval, as the switch
// records it (nil when the approval was not signed).
func lastApproval(proofs []Proof) *approvalsig.Signed {
	for i := len(proofs) - 1; i >= 0; i-- {
		if p := proofs[i]; p.Decision == approvalsig.DecisionApprove {
			return &approvalsig.Signed{By: p.By, Statement: p.Statement, Signature: p.Signature, Fingerprint: p.Fingerprint}
		}
	}
	return nil
}

// signing is what a bypass's approval is signed over: its overlay and the
// packages checked, with production's keys. Until the packages are
// checked there is nothing to sign.
func (b *bypass) signing() signing {
	sg := signing{keys: b.plan.ApproverKeys, required: b.plan.RequireSigned, overlay: b.in.Overlay, packages: b.nevras()}
	if len(b.st.Packages) == 0 {
		sg.unready = "the bypass's packages are still being checked: sign its approval once `osflow status` lists them"
	}
	return sg
}
