package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// MinSpeed is the slowest transfer a sync puts up with (sync.minSpeed), as
// curl's --speed-limit/--speed-time and dnf's minrate do: a transfer that
// moves fewer than BytesPerSecond × Window bytes in any Window is cut off
// and retried. It also bounds each file's whole transfer (see deadline).
type MinSpeed struct {
	BytesPerSecond int64
	Window         time.Duration
}

// DefaultMinSpeed is 10 KiB/s over 60 s: far below any working mirror,
// far above a server that trickles a byte now and then to hold a sync.
var DefaultMinSpeed = MinSpeed{BytesPerSecond: 10 << 10, Window: time.Minute}

func (s MinSpeed) String() string {
	return fmt.Sprintf("%s/s over %s", formatBytes(s.BytesPerSecond), s.Window)
}

// perWindow is the fewest bytes a window must bring: at least one, so that
// a rate of 0 still cuts off a transfer that stopped.
func (s MinSpeed) perWindow() int64 {
	return max(1, int64(float64(s.BytesPerSecond)*s.Window.Seconds()))
}

// deadline bounds a whole transfer of size bytes: a window for the start,
// then the time size takes at the minimum speed. Every window bringing its
// share would finish sooner; the deadline catches what slips between them.
// 0 means none (a rate of 0).
func (s MinSpeed) deadline(size int64) time.Duration {
	if s.BytesPerSecond <= 0 || s.Window <= 0 {
		return 0
	}
	return 2*s.Window + time.Duration(float64(size)/float64(s.BytesPerSecond)*float64(time.Second))
}

// errTooSlow is the cause of a transfer cut off by the speed guard, and
// errDeadline of one that outlived its deadline.
var (
	errTooSlow  = errors.New("transfer too slow")
	errDeadline = errors.New("not done in the time its size takes at the minimum speed")
)

// speedReader cancels its request when a window passes that brought fewer
// bytes than the minimum speed asks for. Reads only count; a timer checks
// once a window, so a fast transfer pays nothing per read.
type speedReader struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	body   io.ReadCloser
	speed  MinSpeed
	n      atomic.Int64
	last   int64 // n at the previous check; touched by the timer only
	timer  *time.Timer
}

func newSpeedReader(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser, speed MinSpeed) *speedReader {
	r := &speedReader{ctx: ctx, cancel: cancel, body: body, speed: speed}
	if speed.Window > 0 {
		r.timer = time.AfterFunc(speed.Window, r.check)
	}
	return r
}

func (r *speedReader) check() {
	n := r.n.Load()
	if n-r.last < r.speed.perWindow() {
		r.cancel(errTooSlow)
		return
	}
	r.last = n
	r.timer.Reset(r.speed.Window)
}

func (r *speedReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.n.Add(int64(n))
	if err != nil && err != io.EOF {
		// The caller names the URL.
		switch context.Cause(r.ctx) {
		case errTooSlow:
			err = fmt.Errorf("slower than the minimum speed of %s: %w", r.speed, errTooSlow)
		case errDeadline:
			err = errDeadline
		}
	}
	return n, err
}

func (r *speedReader) Close() error {
	if r.timer != nil {
		r.timer.Stop()
	}
	err := r.body.Close()
	r.cancel(nil)
	return err
}

// formatBytes writes n in binary units, as the config reads them.
func formatBytes(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%dB", n)
}
