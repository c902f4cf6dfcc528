package rpmmd

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// maxHref is PATH_MAX: nothing longer can be stored anyway.
const maxHref = 4096

// CheckHref accepts only an href that names a file inside the repository:
// relative, clean, without "..", without a scheme, and free of characters
// that read differently as a path and as a URL (backslash, NUL and other
// control characters, '?', '#'). The result is safe to join to both the
// repository's URL and its directory in the store.
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
		case c < 0x20 || c == 0x7f:
			return "contains a control character"
		case c == '\\':
			return "contains a backslash"
		case c == '?' || c == '#':
			return fmt.Sprintf("contains %q, which a URL would not keep in the path", c)
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
	// Clean leaves ".." only as leading segments, and "." only alone.
	if href == "." || href == ".." || strings.HasPrefix(href, "../") {
		return "leaves the repository"
	}
	return ""
}
