package approvalsig

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Signer is an approver's name and public key, from a line in the form of
// OpenSSH's allowed_signers file: "PRINCIPAL [OPTIONS] KEYTYPE KEY [COMMENT]".
type Signer struct {
	Name string
	// Key is the public key in authorized_keys form ("ssh-ed25519 AAAA…"),
	// as it travels to the workflow.
	Key string
}

// keyTypes are the public key types an allowed_signers line may name.
var keyTypes = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
}

// LooksLikeSigner says whether an approvers entry names a key: a word of
// it is a key type. Any other entry is a name alone.
func LooksLikeSigner(entry string) bool {
	return slices.ContainsFunc(strings.Fields(entry), func(w string) bool { return slices.Contains(keyTypes, w) })
}

// ParseSigner reads an allowed_signers line with a single principal. The
// only option it takes is namespaces=, which must include osflow's.
func ParseSigner(line string) (Signer, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if strings.ContainsAny(name, ",*?!") {
		return Signer{}, fmt.Errorf("principal %q: name one approver, without patterns or commas", name)
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return Signer{}, fmt.Errorf("the key of %q: %w", name, err)
	}
	for _, o := range options {
		ns, ok := strings.CutPrefix(o, "namespaces=")
		if !ok {
			return Signer{}, fmt.Errorf("the key of %q: option %q is not supported (only namespaces=)", name, o)
		}
		if !slices.Contains(strings.Split(strings.Trim(ns, `"`), ","), Namespace) {
			return Signer{}, fmt.Errorf("the key of %q: its namespaces (%s) exclude %s", name, ns, Namespace)
		}
	}
	return Signer{Name: name, Key: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))}, nil
}

// ParseKey reads a key in authorized_keys form.
func ParseKey(text string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text))
	return k, err
}

// Decision is a signed request as a validator sees it.
type Decision struct {
	By        string
	Statement string
	Signature string
}

// Verified is what a valid signature proves, recorded with the decision.
type Verified struct {
	Nonce       string
	Fingerprint string
}

// Check verifies a decision: by has a key among keys (approver name →
// authorized key), the statement states want (its nonce aside), its nonce
// is not used yet, and by's key signed it. Each refusal says why.
func Check(keys map[string]string, d Decision, want Statement, used func(nonce string) bool) (Verified, error) {
	text, ok := keys[d.By]
	if !ok {
		return Verified{}, fmt.Errorf("%q has no key in production.approvers: their signature cannot be checked", d.By)
	}
	key, err := ParseKey(text)
	if err != nil {
		return Verified{}, fmt.Errorf("the configured key of %q: %w", d.By, err)
	}
	if d.Statement == "" || d.Signature == "" {
		return Verified{}, fmt.Errorf("a signed statement is required (production.requireSignedApprovals): sign with --key FILE, or ssh-keygen -Y sign -n %s", Namespace)
	}
	got, err := Parse(d.Statement)
	if err != nil {
		return Verified{}, err
	}
	if m := Mismatch(got, want); m != "" {
		return Verified{}, fmt.Errorf("%s", m)
	}
	if used(got.Nonce) {
		return Verified{}, fmt.Errorf("replayed: nonce %q was already used in %s", got.Nonce, want.Workflow)
	}
	sig, err := ParseArmored(d.Signature)
	if err != nil {
		return Verified{}, err
	}
	if err := sig.Verify(key, []byte(d.Statement)); err != nil {
		if other := owner(keys, sig.Key); other != "" && other != d.By {
			return Verified{}, fmt.Errorf("signed with the key of %s (%s), not of %s (%s)", other, Fingerprint(sig.Key), d.By, Fingerprint(key))
		}
		return Verified{}, fmt.Errorf("the signature of %s does not verify: %w", d.By, err)
	}
	return Verified{Nonce: got.Nonce, Fingerprint: Fingerprint(key)}, nil
}

// owner is the approver whose key is k, "" if none.
func owner(keys map[string]string, k ssh.PublicKey) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names) // deterministic, for a validator
	for _, n := range names {
		if o, err := ParseKey(keys[n]); err == nil && string(o.Marshal()) == string(k.Marshal()) {
			return n
		}
	}
	return ""
}
