package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// How failures are classified (the ticket activities turn this into
// Temporal retry decisions):
//
//   - ErrAuth, ErrNotFound and ErrInvalid are not retryable: the same call
//     with the same credentials and input fails the same way. Each is
//     wrapped with what was attempted and where.
//   - *RateLimitError is retryable, but not before RetryAfter: retrying
//     earlier only extends the block (GitHub may ban an integration that
//     keeps trying).
//   - Everything else (transport errors, 5xx, local I/O) is retryable.
//   - A cancelled context is not retryable: the caller asked us to stop.

// Errors callers classify on.
var (
	// ErrAuth marks credentials the tracker refused or that could not be
	// read: a missing, expired or under-scoped token.
	ErrAuth = errors.New("credentials refused")
	// ErrNotFound marks a ticket, repository or ticket directory that does
	// not exist (or that the credentials cannot see).
	ErrNotFound = errors.New("not found")
	// ErrInvalid marks bad input: an empty title, a malformed ID, a label
	// the tracker rejects.
	ErrInvalid = errors.New("invalid input")
)

// RateLimitError says the tracker is rate limiting us: retry after
// RetryAfter, the time the server stated.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// IsRetryable reports whether a call that failed with err may succeed when
// made again unchanged (after RetryAfter for a *RateLimitError). See the
// classification above.
func IsRetryable(err error) bool {
	return err != nil &&
		!errors.Is(err, ErrAuth) &&
		!errors.Is(err, ErrNotFound) &&
		!errors.Is(err, ErrInvalid) &&
		!errors.Is(err, context.Canceled)
}
