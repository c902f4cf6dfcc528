package approvalsig

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/ssh"
)

// The SSHSIG format (OpenSSH's PROTOCOL.sshsig).
const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	magic      = "SSHSIG"
	sigVersion = 1
)

// sigBlob is the signature's wire form after the magic preamble.
type sigBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

// signedData is what the key signed: the namespace and the message's hash.
type signedData struct {
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      []byte
}

// Signature is a parsed SSHSIG signature.
type Signature struct {
	Key  ssh.PublicKey
	blob sigBlob
	sig  ssh.Signature
}

// ParseArmored reads an armored SSH signature as ssh-keygen -Y sign
// writes it.
func ParseArmored(armored string) (*Signature, error) {
	s := strings.TrimSpace(armored)
	body, ok := strings.CutPrefix(s, armorBegin)
	if !ok {
		return nil, fmt.Errorf("malformed signature: it does not begin with %q", armorBegin)
	}
	body, ok = strings.CutSuffix(body, armorEnd)
	if !ok {
		return nil, fmt.Errorf("malformed signature: it does not end with %q", armorEnd)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("malformed signature: %w", err)
	}
	rest, ok := bytes.CutPrefix(raw, []byte(magic))
	if !ok {
		return nil, fmt.Errorf("malformed signature: no %s preamble", magic)
	}
	var sig Signature
	if err := ssh.Unmarshal(rest, &sig.blob); err != nil {
		return nil, fmt.Errorf("malformed signature: %w", err)
	}
	if sig.blob.Version != sigVersion {
		return nil, fmt.Errorf("malformed signature: version %d, want %d", sig.blob.Version, sigVersion)
	}
	if sig.Key, err = ssh.ParsePublicKey(sig.blob.PublicKey); err != nil {
		return nil, fmt.Errorf("malformed signature: its public key: %w", err)
	}
	if err := ssh.Unmarshal(sig.blob.Signature, &sig.sig); err != nil {
		return nil, fmt.Errorf("malformed signature: %w", err)
	}
	return &sig, nil
}

// Verify checks that the signature is key's, in osflow's namespace, over
// message.
func (s *Signature) Verify(key ssh.PublicKey, message []byte) error {
	if !bytes.Equal(s.Key.Marshal(), key.Marshal()) {
		return fmt.Errorf("signed with key %s, not %s", Fingerprint(s.Key), Fingerprint(key))
	}
	if s.blob.Namespace != Namespace {
		return fmt.Errorf("signed in namespace %q, not %q (ssh-keygen -Y sign -n %s)", s.blob.Namespace, Namespace, Namespace)
	}
	var h hash.Hash
	switch s.blob.HashAlg {
	case "sha512":
		h = sha512.New()
	case "sha256":
		h = sha256.New()
	default:
		return fmt.Errorf("unsupported signature hash %q", s.blob.HashAlg)
	}
	h.Write(message)
	data := append([]byte(magic), ssh.Marshal(signedData{Namespace: Namespace, HashAlg: s.blob.HashAlg, Hash: h.Sum(nil)})...)
	if err := key.Verify(data, &s.sig); err != nil {
		return errors.New("the signature does not match the statement")
	}
	return nil
}

// Fingerprint is a key's SHA256 fingerprint as ssh-keygen -l shows it.
func Fingerprint(key ssh.PublicKey) string {
	return ssh.FingerprintSHA256(key)
}
