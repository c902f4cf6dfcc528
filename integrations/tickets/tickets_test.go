package tickets

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainTracker hides a tracker's atomic FileOrComment, to test the generic
// path other adapters get.
type plainTracker struct{ Tracker }

func TestFileOrCommentGenericPath(t *testing.T) {
	tr := plainTracker{&FileTracker{Dir: t.TempDir()}}
	_, ok := Tracker(tr).(atomicFiler)
	require.False(t, ok)

	tk, created, err := FileOrComment(t.Context(), tr, nt("fp"), "first")
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := FileOrComment(t.Context(), tr, nt("fp"), "second")
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, tk, again)
}

// failingTracker fails every call with err.
type failingTracker struct{ err error }

func (f failingTracker) FindOpen(context.Context, string) (*Ticket, error)       { return nil, f.err }
func (f failingTracker) Create(context.Context, NewTicket) (Ticket, error)       { return Ticket{}, f.err }
func (f failingTracker) Comment(context.Context, string, string) error           { return f.err }
func (f failingTracker) Close(context.Context, string, string) error             { return f.err }
func (f failingTracker) ListOpen(context.Context, ...string) ([]Ticket, error)   { return nil, f.err }
func (f failingTracker) HasMarker(context.Context, string, string) (bool, error) { return false, f.err }

func TestFileOrCommentKeepsTheErrorClass(t *testing.T) {
	rl := &RateLimitError{RetryAfter: 42, Err: errors.New("GitHub: 429")}
	_, _, err := FileOrComment(t.Context(), failingTracker{rl}, nt("repoclosure/baseos"), "c")
	var got *RateLimitError
	require.ErrorAs(t, err, &got)
	require.Equal(t, rl, got)
	require.ErrorContains(t, err, `file or comment ticket "repoclosure/baseos"`)

	_, _, err = FileOrComment(t.Context(), failingTracker{fmt.Errorf("%w: token", ErrAuth)}, nt("fp"), "c")
	require.ErrorIs(t, err, ErrAuth)
}

func TestIsRetryable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"auth", fmt.Errorf("x: %w", ErrAuth), false},
		{"not found", fmt.Errorf("x: %w", ErrNotFound), false},
		{"invalid", fmt.Errorf("x: %w", ErrInvalid), false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"rate limited", &RateLimitError{RetryAfter: 1, Err: errors.New("429")}, true},
		{"transport", errors.New("connection refused"), true},
	} {
		require.Equal(t, tt.want, IsRetryable(tt.err), tt.name)
	}
	require.Equal(t, "rate limited, retry after 1m30s: GitHub: 429",
		(&RateLimitError{RetryAfter: 90e9, Err: errors.New("GitHub: 429")}).Error())
}
