package approvalsig

// Signed is a signed decision as a switch's record keeps it (promotions.log,
// bypasses.log), so that the audit can verify it again once the workflow's
// history is gone.
type Signed struct {
	By          string `json:"by"`
	Statement   string `json:"statement"`
	Signature   string `json:"signature"`
	Fingerprint string `json:"fingerprint"`
}
