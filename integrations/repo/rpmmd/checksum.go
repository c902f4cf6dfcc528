package rpmmd

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Checksum is one checksum. Algo is lower-case ("sha256", "sha384",
// "sha512") and Hex is lower-case hexadecimal of the right length.
type Checksum struct{ Algo, Hex string }

func (c Checksum) String() string { return c.Algo + ":" + c.Hex }

// strongHashes are the only algorithms accepted. rpm-md also allows md5,
// sha1 (spelt "sha" by old createrepo) and sha224; a mirror that trusted
// those would accept colliding or truncated digests from a hostile upstream.
var strongHashes = map[string]func() hash.Hash{
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// NewHash returns a hash for a strong rpm-md checksum type; weak or unknown
// types are ErrMalformed.
func NewHash(algo string) (hash.Hash, error) {
	newHash, ok := strongHashes[strings.ToLower(algo)]
	if !ok {
		return nil, fmt.Errorf("%w: weak or unknown checksum type %s", ErrMalformed, show(algo))
	}
	return newHash(), nil
}

// parseChecksum validates a checksum read from metadata: strong algorithm and
// a hex digest of exactly that algorithm's length, so a truncated digest
// cannot match by prefix anywhere downstream.
func parseChecksum(algo, digest string) (Checksum, error) {
	h, err := NewHash(algo)
	if err != nil {
		return Checksum{}, err
	}
	digest = strings.ToLower(strings.TrimSpace(digest))
	raw, err := hex.DecodeString(digest)
	if err != nil || len(raw) != h.Size() {
		return Checksum{}, fmt.Errorf("%w: %s checksum %s is not %d hex digits", ErrMalformed,
			strings.ToLower(algo), show(digest), 2*h.Size())
	}
	return Checksum{Algo: strings.ToLower(algo), Hex: digest}, nil
}

// show renders a value taken from hostile metadata for an error message:
// plain values as they are, anything else quoted, and long values cut, so
// that a repository cannot flood or forge log lines.
func show(s string) string {
	const max = 100
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-~^:/", c)) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
