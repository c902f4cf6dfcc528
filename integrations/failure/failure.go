// Package failure classifies the errors of osflow's integrations with
// outside systems (notify, monitoring, backup), so that one function in the
// activities turns any of them into a Temporal retry decision:
//
//   - ErrAuth, ErrNotFound and ErrInvalid are not retryable: the same call
//     with the same credentials, configuration and input fails the same way.
//     Each is wrapped with what was attempted and where.
//   - ErrFailed is not retryable either: the remote system ran the keyed
//     operation and it failed, and a retry with the same key returns that
//     outcome. Trying again takes a new key.
//   - *RateLimitError is retryable, but not before RetryAfter, the delay the
//     service asked for: retrying earlier only extends the block.
//   - Everything else (transport errors, timeouts, 5xx, a daemon that is not
//     running) is retryable.
//   - A cancelled context is not retryable: the caller asked us to stop.
//
// The ticket trackers (integrations/tickets) classify with these too.
package failure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Errors callers classify on.
var (
	// ErrAuth marks credentials that were refused or could not be read.
	ErrAuth = errors.New("credentials refused")
	// ErrNotFound marks a webhook, job, silence or command file that does
	// not exist (or that the credentials cannot see).
	ErrNotFound = errors.New("not found")
	// ErrInvalid marks bad input or configuration that the remote side
	// refused or that we refuse before sending: a malformed payload, an
	// unknown recipient, a window that ends before it starts.
	ErrInvalid = errors.New("invalid input")
	// ErrFailed marks an operation that ran and failed, such as a backup
	// job that ended in error.
	ErrFailed = errors.New("operation failed")
)

// RateLimitError says the service is rate limiting us: retry after
// RetryAfter, the delay the server stated.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// IsRetryable reports whether a call that failed with err may succeed when
// made again unchanged (after RetryAfter for a *RateLimitError).
func IsRetryable(err error) bool {
	return err != nil &&
		!errors.Is(err, ErrAuth) &&
		!errors.Is(err, ErrNotFound) &&
		!errors.Is(err, ErrInvalid) &&
		!errors.Is(err, ErrFailed) &&
		!errors.Is(err, context.Canceled)
}

// RetryAfter returns the delay a *RateLimitError in err's chain asks for.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// DefaultRetryAfter is the wait assumed when a rate-limited response does
// not say how long to wait.
const DefaultRetryAfter = time.Minute

// RetryAfterHeader reads an HTTP Retry-After header (RFC 9110 10.2.3):
// delay-seconds or an HTTP date, relative to now. A missing or unreadable
// header gives DefaultRetryAfter.
func RetryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		return max(0, time.Duration(s)*time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return DefaultRetryAfter
}

// HTTPStatus classifies an HTTP error response by its status code, wrapping
// err (which says what was attempted): 401 and 403 are ErrAuth, 404 and 410
// ErrNotFound, 429 a *RateLimitError after Retry-After, other 4xx
// ErrInvalid; 408 and 5xx stay retryable.
func HTTPStatus(resp *http.Response, now time.Time, err error) error {
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: RetryAfterHeader(resp.Header, now), Err: err}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrAuth, err)
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case code == http.StatusRequestTimeout || code >= 500:
		return err
	case code >= 400:
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

// Sleep waits d, or until ctx ends (then it returns ctx's error): the wait
// of the integrations' retry and poll loops.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
