package rpmmd

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Limits bounds what a remote repository can make us read. A zero field
// means its default, so a partly filled Limits is safe.
type Limits struct {
	RepomdBytes   int64 // max size of repomd.xml
	MetadataBytes int64 // max compressed size of one metadata file
	OpenBytes     int64 // max decompressed size of one metadata file
	PackageBytes  int64 // max size of one package
}

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// DefaultLimits are generous for the largest public repositories (EPEL's
// primary.xml is a few hundred MiB open) while keeping a hostile mirror
// from filling the disk or memory.
func DefaultLimits() Limits {
	return Limits{
		RepomdBytes:   8 * mib,
		MetadataBytes: 1 * gib,
		OpenBytes:     4 * gib,
		PackageBytes:  8 * gib,
	}
}

// typeOpenBytes caps the decompressed size of the metadata types whose
// largest real instances are far below OpenBytes (EL and Fedora: a few
// MiB of comps, tens of MiB of updateinfo and modules), so that a hostile
// repo cannot make a sync inflate gigabytes of them.
func typeOpenBytes(typ string) int64 {
	switch {
	case strings.HasPrefix(typ, "updateinfo"):
		return 512 * mib
	case strings.HasPrefix(typ, "group"):
		return 64 * mib
	case strings.HasPrefix(typ, "modules"), strings.HasPrefix(typ, "prestodelta"):
		return 256 * mib
	case strings.HasPrefix(typ, "productid"):
		return 1 * mib
	}
	return 0
}

// OpenBytesFor is the most a metadata file of type typ may decompress to:
// OpenBytes, or less for the types with a cap of their own.
func (l Limits) OpenBytesFor(typ string) int64 {
	l = l.withDefaults()
	if c := typeOpenBytes(typ); c > 0 {
		return min(c, l.OpenBytes)
	}
	return l.OpenBytes
}

// CanOpen reports whether Decompress reads href's compression; zchunk
// (.zck) files, which Fedora publishes beside the others, it does not.
func CanOpen(href string) bool {
	return !unsupported[strings.ToLower(path.Ext(href))]
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int64 }{
		{&l.RepomdBytes, &d.RepomdBytes},
		{&l.MetadataBytes, &d.MetadataBytes},
		{&l.OpenBytes, &d.OpenBytes},
		{&l.PackageBytes, &d.PackageBytes},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// LimitReader returns a reader that fails, wrapping ErrMalformed and naming
// what, once r yields more than max bytes. Unlike io.LimitReader it never
// reports a clean EOF at the limit, so oversized input cannot pass as a
// shorter valid one.
func LimitReader(r io.Reader, max int64, what string) io.Reader {
	return &limitReader{r: r, left: max, max: max, what: what}
}

type limitReader struct {
	r         io.Reader
	left, max int64
	what      string
	err       error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.left < 0 {
		l.err = fmt.Errorf("%w: %s: negative size limit %d", ErrMalformed, l.what, l.max)
		return 0, l.err
	}
	// Ask for one byte past the limit: getting it is the only way to tell
	// "exactly max bytes" from "more than max bytes".
	if int64(len(p)) > l.left {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n = int(l.left)
		l.left = 0
		l.err = fmt.Errorf("%w: %s is larger than the limit of %d bytes", ErrMalformed, l.what, l.max)
		return n, l.err
	}
	l.left -= int64(n)
	return n, err
}

// sourceReader remembers the first failure of the reader it wraps, so that a
// parser's error can be classified: a failure of the source (network, disk,
// or an already classified error from a LimitReader or Decompress) is passed
// through, anything else the parser reports is the data's fault.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// classify turns a parser error on data read through src into the error the
// caller sees: the source's own failure if there was one, else ErrMalformed.
func (s *sourceReader) classify(what string, err error) error {
	switch {
	case s.err != nil:
		return fmt.Errorf("reading %s: %w", what, s.err)
	case errors.Is(err, ErrMalformed):
		return fmt.Errorf("%s: %w", what, err)
	default:
		return fmt.Errorf("%s: %w: %w", what, ErrMalformed, err)
	}
}
