package starter

import (
	"fmt"
	"net/url"
	"strings"
)

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
