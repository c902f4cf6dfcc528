package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// ErrTypeSyncFailed is the type of a failed DailySync's error; its details
// carry the DailySyncStatus, so `osflow sync --wait` can say what moved.
const ErrTypeSyncFailed = "SyncFailed"

// rootMessage is what an operator needs of an error: the message of the
// innermost application error (what the activity said), without the
// envelopes Temporal wraps around it (activity type, event IDs) and
// without its cause repeated after it.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		return app.Message()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return "canceled"
	}
	return err.Error()
}

// stepError names the step that failed and its root cause, once.
func stepError(step string, err error) error {
	return fmt.Errorf("%s: %s", step, rootMessage(err))
}
