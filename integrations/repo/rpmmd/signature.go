package rpmmd

import (
	"bytes"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Keys and signatures are small; the bounds only keep a hostile signature
// file (or a wrong path in the config) from being read into memory whole.
const (
	maxKeyringBytes   = 16 * mib
	maxSignatureBytes = 1 * mib
)

var armorStart = []byte("-----BEGIN PGP ")

// ReadKeyring reads public keys, armored or binary. Armored input may hold
// several key blocks one after the other, as vendors' RPM-GPG-KEY files do.
func ReadKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(LimitReader(r, maxKeyringBytes, "keyring"))
	if err != nil {
		return nil, fmt.Errorf("reading keyring: %w", err)
	}
	var keys openpgp.EntityList
	if isArmored(data) {
		for i, block := range bytes.Split(data, armorStart)[1:] {
			block = append(append([]byte(nil), armorStart...), block...)
			el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
			if err != nil {
				return nil, fmt.Errorf("reading armored keyring, block %d: %w", i+1, err)
			}
			keys = append(keys, el...)
		}
	} else if keys, err = openpgp.ReadKeyRing(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("reading binary keyring: %w", err)
	}
	// An empty keyring would make every signature "unknown signer" and hide
	// the real mistake: a wrong or empty key file.
	if len(keys) == 0 {
		return nil, fmt.Errorf("reading keyring: no keys found")
	}
	return keys, nil
}

// VerifySignature checks that sig, a detached signature (armored or binary),
// was made over signed by a key of keyring, with go-crypto's defaults that
// refuse SHA-1 and MD5 digests and expired or revoked keys. Every failure,
// including a signature that cannot be read, wraps ErrSignature; a failure
// reading signed is returned as well, so it is never taken for a pass.
func VerifySignature(keyring openpgp.EntityList, signed, sig io.Reader) error {
	if len(keyring) == 0 {
		return fmt.Errorf("%w: empty keyring", ErrSignature)
	}
	data, err := io.ReadAll(LimitReader(sig, maxSignatureBytes, "signature"))
	if err != nil {
		return fmt.Errorf("%w: reading signature: %w", ErrSignature, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: empty signature", ErrSignature)
	}
	check := openpgp.CheckDetachedSignature
	if isArmored(data) {
		check = openpgp.CheckArmoredDetachedSignature
	}
	signer, err := check(keyring, signed, bytes.NewReader(data), nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if signer == nil {
		return fmt.Errorf("%w: no signer", ErrSignature)
	}
	return nil
}

func isArmored(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), armorStart)
}
