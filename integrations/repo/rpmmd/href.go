package rpmmd

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxHref is PATH_MAX and maxSegment NAME_MAX: nothing longer can be
// stored, and a store that failed on it would retry for ever.
const (
	maxHref    = 4096
	maxSegment = 255
)

// CheckHref accepts only an href that names a file inside the repository:
// relative, clean, without "..", without a scheme, with no name longer
// than a file system allows, and free of characters that read differently
// as a path, as a URL or on a terminal: backslash, '%', '?', '#', and
// every Unicode control or format character (C0, DEL, C1, bidi overrides,
// zero-width characters). The result is safe to join to both the
// repository's URL and its directory in the store, and to show.
func CheckHref(href string) error {
	if why := checkHref(href); why != "" {
		return fmt.Errorf("%w: href %s: %s", ErrMalformed, show(href), why)
	}
	return nil
}

func checkHref(href string) string {
	switch {
	case href == "":
		return "empty"
	case len(href) > maxHref:
		return fmt.Sprintf("longer than %d bytes", maxHref)
	case !utf8.ValidString(href):
		return "not UTF-8"
	case strings.HasPrefix(href, "/"):
		return "absolute"
	}
	for _, c := range href {
		switch {
		case c >= 0x20 && c < 0x7f && c != '\\' && c != '?' && c != '#' && c != '%':
			// printable ASCII: the common case, without table lookups
		case unicode.Is(unicode.Cc, c):
			return fmt.Sprintf("contains the control character %U", c)
		case unicode.Is(unicode.Cf, c):
			return fmt.Sprintf("contains the invisible format character %U", c)
		case c == '\\':
			return "contains a backslash"
		case c == '?' || c == '#':
			return fmt.Sprintf("contains %q, which a URL would not keep in the path", c)
		case c == '%':
			// Servers and clients disagree on whether "%2e" is a dot: the
			// store would hold the literal name while dnf asks for "%252e".
			return `contains "%", which servers and clients decode differently`
		}
	}
	// A colon in the first segment makes the href a URL with a scheme
	// ("http:", "file:") or a drive letter, not a path below the repo.
	if first, _, _ := strings.Cut(href, "/"); strings.Contains(first, ":") {
		return "has a scheme"
	}
	if path.Clean(href) != href {
		return "not clean"
	}
	for seg := range strings.SplitSeq(href, "/") {
		if len(seg) > maxSegment {
			return fmt.Sprintf("has a name of %d bytes, longer than the %d a file system allows", len(seg), maxSegment)
		}
	}
	// Clean leaves ".." only as leading segments, and "." only alone.
	if href == "." || href == ".." || strings.HasPrefix(href, "../") {
		return "leaves the repository"
	}
	return ""
}
