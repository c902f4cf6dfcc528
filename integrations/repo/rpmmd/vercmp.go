package rpmmd

import "strings"

// Vercmp compares two rpm version or release strings with rpmvercmp's
// semantics and returns -1, 0 or 1. It follows rpm's rpmvercmp.c step for
// step, including its oddities (separators are all equal, non-ASCII bytes
// are separators), because the order must be the one dnf will use.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	for len(a) > 0 || len(b) > 0 {
		a = strings.TrimLeftFunc(a, isSeparator)
		b = strings.TrimLeftFunc(b, isSeparator)

		// Tilde sorts before everything, even the end of the string.
		if strings.HasPrefix(a, "~") || strings.HasPrefix(b, "~") {
			if !strings.HasPrefix(a, "~") {
				return 1
			}
			if !strings.HasPrefix(b, "~") {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		// Caret sorts like tilde, except that it sorts after the end of the
		// string: 1.0^git1 is newer than 1.0 but older than 1.0.1.
		if strings.HasPrefix(a, "^") || strings.HasPrefix(b, "^") {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case !strings.HasPrefix(a, "^"):
				return 1
			case !strings.HasPrefix(b, "^"):
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}

		isNum := isDigit(a[0])
		segA, segB := segment(a, isNum), segment(b, isNum)
		a, b = a[len(segA):], b[len(segB):]
		if segB == "" {
			// Different segment types: numeric is newer than alpha.
			if isNum {
				return 1
			}
			return -1
		}
		if isNum {
			// Compare as numbers of any length, without overflow.
			segA = strings.TrimLeft(segA, "0")
			segB = strings.TrimLeft(segB, "0")
			if len(segA) != len(segB) {
				return sign(len(segA) - len(segB))
			}
		}
		if c := strings.Compare(segA, segB); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	default:
		return 1
	}
}

// CompareEVR compares two epoch:version-release triples the way rpm orders
// packages; an empty epoch is "0".
func CompareEVR(e1, v1, r1, e2, v2, r2 string) int {
	if e1 == "" {
		e1 = "0"
	}
	if e2 == "" {
		e2 = "0"
	}
	if c := Vercmp(e1, e2); c != 0 {
		return c
	}
	if c := Vercmp(v1, v2); c != 0 {
		return c
	}
	return Vercmp(r1, r2)
}

// segment returns the leading run of digits (num) or ASCII letters of s.
func segment(s string, num bool) string {
	i := 0
	for i < len(s) && (num && isDigit(s[i]) || !num && isAlpha(s[i])) {
		i++
	}
	return s[:i]
}

func isSeparator(r rune) bool {
	return r != '~' && r != '^' && !(r < 0x80 && (isDigit(byte(r)) || isAlpha(byte(r))))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
