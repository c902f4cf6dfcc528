package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"time"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// How failures are classified (the repo activities turn this into Temporal
// retry decisions):
//
//   - Content that contradicts its metadata (checksum or size mismatch, a
//     truncated file, an href leaving the repo, malformed or oversized
//     metadata, a bad or missing signature) wraps repo.ErrBadContent and is
//     not retryable: the same bytes will fail the same way.
//   - HTTP 404/410 is retryable. Mirrors are often caught mid-sync, with a
//     repomd.xml naming files that have not arrived yet (or are already
//     gone); the next attempt usually finds a consistent tree.
//   - HTTP 408, 429 and 5xx, transport errors, stalled transfers and local
//     I/O errors are retryable.
//   - Other 4xx (400, 401, 403, ...) mean the URL or our access to it is
//     wrong: the StatusError satisfies errors.Is(err, repo.ErrInvalid) and is
//     not retryable.
//   - A cancelled context is not retryable: the caller asked us to stop.
//   - EMLINK (the store's filesystem refused another link to an inode) is
//     not retryable: the links stay until a snapshot is collected.
//   - A redirect loop and an oversized response header are bad content;
//     ErrSyncTimeout (no answer before the sync's time ran out) is not
//     retryable either: no time is left.
//
// Within one sync, each file is retried on its own first (see RetryPolicy):
// 5xx, 408, 429, a cut connection or a transfer below the minimum speed
// costs that file a wait and the repo one unit of its error budget, while
// the other downloads go on. An exhausted budget (ErrUpstreamFailing) is
// not retryable: the upstream fails too often to be worth more tries.

// StatusError is an HTTP response other than 200 OK.
type StatusError struct {
	URL    string
	Code   int
	Status string // "404 Not Found"
	// RetryAfter is what a Retry-After header asked for; 0 if none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %s", e.URL, e.Status)
	if e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden {
		msg += " (access refused: check the repo URL and credentials)"
	}
	return msg
}

// Retryable reports whether asking again later may succeed.
func (e *StatusError) Retryable() bool {
	switch {
	case e.Code >= 500,
		e.Code == http.StatusNotFound,
		e.Code == http.StatusGone,
		e.Code == http.StatusRequestTimeout,
		e.Code == http.StatusTooManyRequests:
		return true
	}
	return false
}

// Is makes a non-retryable status satisfy errors.Is(err, repo.ErrInvalid).
func (e *StatusError) Is(target error) bool {
	return target == repo.ErrInvalid && !e.Retryable()
}

// IsRetryable reports whether a Sync that failed with err may succeed when
// run again unchanged. See the classification above.
func IsRetryable(err error) bool {
	if err == nil ||
		errors.Is(err, repo.ErrBadContent) ||
		errors.Is(err, ErrUpstreamFailing) ||
		errors.Is(err, repo.ErrInvalid) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.EMLINK) ||
		errors.Is(err, ErrSyncTimeout) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	return true
}

// badContent marks err, found at where (a URL or a path), as content that
// retrying cannot fix. Causes such as rpmmd.ErrMalformed stay visible to errors.Is.
func badContent(where string, err error) error {
	return fmt.Errorf("%w: %s: %w", repo.ErrBadContent, where, err)
}

// badContentf is badContent with a formatted cause.
func badContentf(where, format string, args ...any) error {
	return badContent(where, fmt.Errorf(format, args...))
}

// isNotFound reports whether err says the file does not exist upstream.
func isNotFound(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusNotFound || se.Code == http.StatusGone
	}
	return errors.Is(err, fs.ErrNotExist)
}

// readError classifies an error met while reading from where: a passed
// transfer deadline as such, the caller's cancellation as is, a size limit
// (rpmmd.ErrMalformed) as bad content, and anything else as a transport or
// I/O error.
func readError(ctx context.Context, where string, err error) error {
	switch {
	case context.Cause(ctx) == errDeadline:
		return fmt.Errorf("%s: %w", where, errDeadline)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, rpmmd.ErrMalformed):
		return badContent(where, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}
