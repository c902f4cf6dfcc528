package config

import "fmt"

// DidYouMean names the one of known that name looks like a typo of, as
// ` (did you mean "x"?)`, or "" when none is near: the hint config errors
// give for a mistyped key, for the CLI's names too.
func DidYouMean(name string, known []string) string {
	for _, k := range known {
		if closeTo(k, name) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}
