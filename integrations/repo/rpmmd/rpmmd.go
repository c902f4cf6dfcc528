// Package rpmmd reads the rpm-md repository format (repomd.xml, primary.xml
// and detached repomd.xml signatures) and compares rpm versions.
//
// Everything a remote repository sends is treated as hostile: every read is
// bounded, hrefs may not leave the repository, weak checksums are refused,
// and any doubt about the format is an error wrapping ErrMalformed rather
// than a silently shortened result.
package rpmmd

import "errors"

var (
	// ErrMalformed is wrapped by every format, hostile-href, weak-checksum,
	// size-limit and bad-XML error. Transport errors of the caller's readers
	// are passed through without it, so callers can retry those.
	ErrMalformed = errors.New("malformed repository metadata")
	// ErrSignature is wrapped when a detached signature is missing or invalid.
	ErrSignature = errors.New("bad repository signature")
)
