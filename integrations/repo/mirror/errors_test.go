package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

func TestIsRetryable(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("mirror r: %w", &StatusError{URL: "http://x/repodata/repomd.xml", Code: code, Status: fmt.Sprint(code)})
	}
	transport := &url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	tests := []struct {
		name    string
		err     error
		want    bool
		invalid bool // also satisfies errors.Is(err, repo.ErrInvalid)
	}{
		{"nil", nil, false, false},
		{"500", status(http.StatusInternalServerError), true, false},
		{"503", status(http.StatusServiceUnavailable), true, false},
		{"404: mirror mid-sync", status(http.StatusNotFound), true, false},
		{"410", status(http.StatusGone), true, false},
		{"429", status(http.StatusTooManyRequests), true, false},
		{"401", status(http.StatusUnauthorized), false, true},
		{"403", status(http.StatusForbidden), false, true},
		{"400", status(http.StatusBadRequest), false, true},
		{"transport error", fmt.Errorf("mirror r: %w", transport), true, false},
		{"too slow", fmt.Errorf("GET x: %w", errTooSlow), true, false},
		{"deadline", fmt.Errorf("GET x: %w", errDeadline), true, false},
		{"upstream failing", fmt.Errorf("x: %w", ErrUpstreamFailing), false, false},
		{"client timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), true, false},
		{"file missing", fmt.Errorf("x: %w", fs.ErrNotExist), true, false},
		{"bad content", badContentf("http://x/a.rpm", "checksum mismatch"), false, false},
		{"malformed", badContent("http://x/repodata/repomd.xml", rpmmd.ErrMalformed), false, false},
		{"invalid input", fmt.Errorf("%w: bad URL", repo.ErrInvalid), false, true},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false, false},
		{"permission denied", fmt.Errorf("x: %w", fs.ErrPermission), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, IsRetryable(tt.err))
			require.Equal(t, tt.invalid, errors.Is(tt.err, repo.ErrInvalid))
		})
	}
}

func TestStatusErrorNamesURL(t *testing.T) {
	err := &StatusError{URL: "https://mirror.example/el9/repodata/repomd.xml", Code: 403, Status: "403 Forbidden"}
	require.Contains(t, err.Error(), "https://mirror.example/el9/repodata/repomd.xml")
	require.Contains(t, err.Error(), "403 Forbidden")
}

func TestReadErrorNamesTheCause(t *testing.T) {
	const where = "http://x/Packages/a.rpm"
	late, cancel := context.WithTimeoutCause(t.Context(), 0, errDeadline)
	defer cancel()
	gone, stop := context.WithCancel(t.Context())
	stop()
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		want      string
		retryable bool
	}{
		{"deadline", late, context.DeadlineExceeded, where + ": not done in the time its size takes at the minimum speed", true},
		{"cancelled", gone, context.Canceled, "context canceled", false},
		{"too large", t.Context(), fmt.Errorf("%w: too large", rpmmd.ErrMalformed), "bad repository content: " + where, false},
		{"reset", t.Context(), errors.New("connection reset by peer"), where + ": connection reset by peer", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readError(tt.ctx, where, tt.err)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, tt.retryable, IsRetryable(err))
		})
	}
}
