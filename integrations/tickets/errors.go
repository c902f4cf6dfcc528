package tickets

import "github.com/osflow/osflow/integrations/failure"

// Trackers classify their failures as every integration does (package
// failure): ErrAuth, ErrNotFound and ErrInvalid are not retryable, a
// *RateLimitError is retried after its RetryAfter (GitHub may ban an
// integration that keeps trying earlier), anything else is retryable.
var (
	// ErrAuth marks credentials the tracker refused or that could not be
	// read: a missing, expired or under-scoped token.
	ErrAuth = failure.ErrAuth
	// ErrNotFound marks a ticket, repository or ticket directory that does
	// not exist (or that the credentials cannot see).
	ErrNotFound = failure.ErrNotFound
	// ErrInvalid marks bad input: an empty title, a malformed ID, a label
	// the tracker rejects.
	ErrInvalid = failure.ErrInvalid
)

// RateLimitError says the tracker is rate limiting us.
type RateLimitError = failure.RateLimitError

// IsRetryable reports whether a call that failed with err may succeed when
// made again unchanged (after RetryAfter for a *RateLimitError).
func IsRetryable(err error) bool { return failure.IsRetryable(err) }
