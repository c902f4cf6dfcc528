package tickets

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// classify wraps a go-github error with what was attempted (op) and where,
// and sorts it into the classes of errors.go. issue is the issue number,
// or 0 for a repository-wide call.
//
// Rate limits, as GitHub documents them
// (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api):
//   - primary: 403 or 429 with x-ratelimit-remaining: 0; wait until
//     x-ratelimit-reset. go-github v60 turns the 403 into
//     *github.RateLimitError; we use its Rate.Reset.
//   - secondary: 403 or 429 with a message saying so; wait Retry-After
//     seconds if given, else until x-ratelimit-reset if remaining is 0,
//     else at least a minute. go-github turns the 403 into
//     *github.AbuseRateLimitError.
//   - a 429 go-github does not classify: read the headers ourselves.
func (g *GitHub) classify(err error, op string, issue int) error {
	where := g.where()
	if issue > 0 {
		where += "#" + strconv.Itoa(issue)
	}
	wrapped := fmt.Errorf("GitHub: %s %s: %w", op, where, err)

	var primary *github.RateLimitError
	var secondary *github.AbuseRateLimitError
	var resp *github.ErrorResponse
	switch {
	case errors.As(err, &primary):
		return &RateLimitError{RetryAfter: max(0, primary.Rate.Reset.Sub(g.now())), Err: wrapped}
	case errors.As(err, &secondary):
		wait := defaultRetryAfter
		if secondary.RetryAfter != nil {
			wait = max(0, *secondary.RetryAfter)
		} else if secondary.Response != nil {
			wait = retryAfter(secondary.Response.Header, g.now())
		}
		return &RateLimitError{RetryAfter: wait, Err: wrapped}
	case errors.As(err, &resp) && resp.Response != nil:
		return g.classifyStatus(resp, issue, wrapped)
	}
	return wrapped // transport error, cancelled context: see IsRetryable
}

// classifyStatus sorts an HTTP error response go-github did not classify.
func (g *GitHub) classifyStatus(resp *github.ErrorResponse, issue int, wrapped error) error {
	code := resp.Response.StatusCode
	h := resp.Response.Header
	// Only needed where go-github missed a rate limit: a 429, or a 403
	// whose body lacks the documentation URL go-github looks for.
	rateLimited := code == http.StatusTooManyRequests ||
		code == http.StatusForbidden && (h.Get("Retry-After") != "" || strings.Contains(strings.ToLower(resp.Message), "rate limit"))
	switch {
	case rateLimited:
		return &RateLimitError{RetryAfter: retryAfter(h, g.now()), Err: wrapped}
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%w: GitHub refused the token in $%s for %s: %w", ErrAuth, g.tokenName, g.where(), wrapped)
	case code == http.StatusForbidden:
		return fmt.Errorf("%w: the token in $%s may not do this in %s (it needs read and write access to issues): %w",
			ErrAuth, g.tokenName, g.where(), wrapped)
	case code == http.StatusNotFound && issue > 0:
		return fmt.Errorf("%w: GitHub issue %s#%d, or the token in $%s cannot see %s (%s): %w",
			ErrNotFound, g.where(), issue, g.tokenName, g.where(), scopeHint, wrapped)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: GitHub repository %s, or the token in $%s cannot see it (%s): %w",
			ErrNotFound, g.where(), g.tokenName, scopeHint, wrapped)
	case code == http.StatusGone:
		return fmt.Errorf("%w: GitHub says issues are disabled in %s, or the issue was deleted: %w", ErrNotFound, g.where(), wrapped)
	case code == http.StatusRequestTimeout || code >= 500:
		return wrapped
	case code >= 400:
		return fmt.Errorf("%w: %w", ErrInvalid, wrapped) // 400, 422 Validation Failed, ...
	}
	return wrapped
}

// GitHub answers 404, not 403, for a private repository the token cannot
// see, so a 404 is as likely a scope problem as a typo.
const scopeHint = "a fine-grained token must include the repository with Issues read and write; a classic token needs the repo scope"

// retryAfter is how long a rate-limited response asks us to wait:
// Retry-After (seconds, or an HTTP date), else x-ratelimit-reset when the
// limit it resets is spent, else a minute. x-ratelimit-reset comes with
// every response, so while requests remain it says nothing about a
// secondary limit and could mean an hour's needless wait.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return max(0, time.Duration(s)*time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(0, t.Sub(now))
		}
	}
	if rem := h.Get("X-RateLimit-Remaining"); rem == "" || rem == "0" {
		if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(0, time.Unix(reset, 0).Sub(now))
		}
	}
	return defaultRetryAfter
}
