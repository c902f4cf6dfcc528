package activities

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"go.temporal.io/sdk/temporal"

	"github.com/osflow/osflow/integrations/failure"
	"github.com/osflow/osflow/integrations/repo"
)

// Error types a workflow (or an operator reading history) can match on.
const (
	ErrTypeBadContent   = "BadContent"
	ErrTypeInvalidInput = "InvalidInput"
	// ErrTypeFrozen is a switch or rollback refused because the channel
	// is frozen: the operator's decision, which no retry changes.
	ErrTypeFrozen = "Frozen"
	// ErrTypeUpstreamFailing: a sync spent its retry budget on an upstream
	// that fails too often. Not retried.
	ErrTypeUpstreamFailing = "UpstreamFailing"
	// ErrTypeSyncInterrupted: a sync stopped by the network, a mirror
	// caught mid-update or the local disk. Retried; it resumes.
	ErrTypeSyncInterrupted = "SyncInterrupted"
	// ErrTypeSourceUnavailable: a watched vendor source answered with a
	// permanent HTTP status (404, 410, 403...). Not retried.
	ErrTypeSourceUnavailable = "SourceUnavailable"
	// ErrTypeStoreLimit: the store's filesystem refused another link to
	// a file (EMLINK). Not retried: the links stay until GC.
	ErrTypeStoreLimit = "StoreLimit"
)

// tooManyLinksHint says what to do about EMLINK.
const tooManyLinksHint = " (not retried: the store's filesystem holds no more links to that file; " +
	"`osflow repo gc` frees the links of old snapshots)"

// classify turns a store or mirror error into what Temporal should do with
// it: content that failed verification and bad input will fail the same way
// on every attempt, so they are non-retryable; everything else (transport
// errors, 5xx, a 404 from a mirror caught mid-sync) is retried.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, repo.ErrFrozen):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeFrozen, nil)
	case errors.Is(err, repo.ErrBadContent):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadContent, err)
	case errors.Is(err, repo.ErrInvalid), errors.Is(err, repo.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, err)
	case errors.Is(err, syscall.EMLINK):
		return temporal.NewNonRetryableApplicationError(err.Error()+tooManyLinksHint, ErrTypeStoreLimit, err)
	default:
		return err
	}
}

func invalid(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidInput, nil)
}

// classifyFailure maps an error of the ticket, notify, monitoring and
// backup integrations to what Temporal should do with it: bad credentials
// or a missing repo will not fix themselves; a rate limit is retried after
// the time the server gave.
func classifyFailure(what string, err error) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("%s: %v", what, err)
	if d, ok := failure.RetryAfter(err); ok {
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeRateLimited, temporal.ApplicationErrorOptions{NextRetryDelay: d})
	}
	if !failure.IsRetryable(err) && !errors.Is(err, context.Canceled) {
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidInput, nil)
	}
	return fmt.Errorf("%s: %w", what, err)
}
