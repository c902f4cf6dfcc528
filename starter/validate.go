package starter

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// maxOperatorName bounds an operator name: it goes into audit logs,
// tickets and workflow history.
const maxOperatorName = 100

// CheckOperatorName refuses an operator name (--as) that is empty, long,
// or holds anything but printable characters on one line: a newline or a
// control character would forge lines in the audit logs it is written to.
func CheckOperatorName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return UsageError{fmt.Errorf("the operator name is empty")}
	case len(name) > maxOperatorName:
		return UsageError{fmt.Errorf("the operator name is longer than %d bytes", maxOperatorName)}
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return UsageError{fmt.Errorf("the operator name %q holds %U: only printable characters on one line", name, c)}
		}
	}
	return nil
}

// checkBaseURL accepts the URL clients reach the channels at: absolute
// http or https with a host, without user info, query or fragment. It
// returns it ending with "/".
func checkBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", UsageError{fmt.Errorf("--base-url %q is not a URL", raw)}
	case u.Scheme != "http" && u.Scheme != "https":
		return "", UsageError{fmt.Errorf("--base-url %q: want an http:// or https:// URL", u.Redacted())}
	case u.Host == "":
		return "", UsageError{fmt.Errorf("--base-url %q has no host", u.Redacted())}
	case u.User != nil:
		return "", UsageError{fmt.Errorf("--base-url %q: no user info in a URL every node reads", u.Redacted())}
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", UsageError{fmt.Errorf("--base-url %q: no query or fragment", u.Redacted())}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u.String(), nil
}
