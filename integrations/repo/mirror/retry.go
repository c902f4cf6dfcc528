package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/osflow/osflow/integrations/repo"
)

// RetryPolicy is how a sync retries a file on its own, as dnf does, while
// the other downloads go on: a mirror that answers 503 now and then, or
// cuts a connection, costs a wait, not the sync.
type RetryPolicy struct {
	// Attempts per file, the first included.
	Attempts int
	// Backoff is the first wait; each retry doubles it up to MaxBackoff,
	// and the wait is drawn at random below that (full jitter), so that
	// retries of many files do not arrive together.
	Backoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a server asking
	// for more gives the file up for this attempt of the sync.
	MaxRetryAfter time.Duration
	// Budget is how many retries a sync may spend, plus one for every file
	// it has to have. Spending more fails the sync with ErrUpstreamFailing.
	Budget int
}

// DefaultRetryPolicy suits a public mirror network: a file is tried for
// about five minutes, and a sync may retry each file once on average.
var DefaultRetryPolicy = RetryPolicy{Attempts: 10, Backoff: time.Second, MaxBackoff: time.Minute, MaxRetryAfter: 5 * time.Minute, Budget: 100}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.Attempts <= 0 {
		p.Attempts = d.Attempts
	}
	if p.Backoff <= 0 {
		p.Backoff = d.Backoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(d.MaxBackoff, p.Backoff)
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	if p.Budget <= 0 {
		p.Budget = d.Budget
	}
	return p
}

// wait is the pause before retry n (1 for the first retry): full jitter
// below the doubled backoff, but never less than the server asked for.
func (p RetryPolicy) wait(n int, asked time.Duration) time.Duration {
	ceil := p.Backoff << min(n-1, 30)
	if ceil <= 0 || ceil > p.MaxBackoff {
		ceil = p.MaxBackoff
	}
	return max(asked, rand.N(ceil)+1)
}

// ErrUpstreamFailing is wrapped when a sync spent its retry budget: the
// upstream fails too often for more attempts to be worth it. Not retryable.
var ErrUpstreamFailing = errors.New("upstream failing")

// budget counts the retries of one sync, earlier attempts of it included,
// against what it may spend, and remembers the last failures to name them.
type budget struct {
	mu     sync.Mutex
	base   int
	files  int // files the sync has to have, as far as it knows
	spent  int
	recent []string
}

const recentFailures = 5

func newBudget(base, spentBefore int) *budget { return &budget{base: base, spent: spentBefore} }

// need counts n more files the sync has to have.
func (b *budget) need(n int) {
	b.mu.Lock()
	b.files += n
	b.mu.Unlock()
}

// spend pays for one retry of what after err, or fails with
// ErrUpstreamFailing once the budget is spent.
func (b *budget) spend(what string, err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spent++
	b.recent = append(b.recent, what+": "+err.Error())
	if len(b.recent) > recentFailures {
		b.recent = b.recent[1:]
	}
	if b.spent <= b.base+b.files {
		return nil
	}
	return fmt.Errorf("%w: %d retries, more than the %d allowed for %d files; the last failures: %s",
		ErrUpstreamFailing, b.spent, b.base+b.files, b.files, strings.Join(b.recent, "; "))
}

// localError marks a failure of this host (the store's disk), which no
// retry of the download fixes.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// errTruncated marks a file that ended cleanly before its declared size:
// a proxy or a server may cut a body short and say nothing, so the file is
// retried; if every attempt ends short, the content is bad.
var errTruncated = errors.New("truncated")

// retryHere reports whether the sync should retry a file that failed with
// err, and the wait the server asked for. Transport failures, 5xx, 408,
// 429, slow transfers and short bodies are retried here; a 404 means a
// mirror caught mid-update and waits for the next attempt of the whole
// sync, and bad content, bad input and local failures are not retried.
func retryHere(err error) (bool, time.Duration) {
	var se *StatusError
	var le *localError
	var pe *fs.PathError
	var lk *os.LinkError
	switch {
	case errors.As(err, &se):
		return se.Code >= 500 || se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests, se.RetryAfter
	case errors.Is(err, errTruncated):
		return true, 0
	case errors.Is(err, repo.ErrBadContent), errors.Is(err, repo.ErrInvalid),
		errors.Is(err, ErrUpstreamFailing), errors.Is(err, context.Canceled),
		errors.As(err, &le), errors.As(err, &pe), errors.As(err, &lk):
		return false, 0
	}
	return true, 0 // the network: a reset, a timeout, a body cut short, too slow
}

// retrying runs fetch, one attempt of what, until it succeeds, fails in a
// way a retry cannot fix, uses up the file's attempts, or the sync's
// budget runs out. Each attempt holds a slot of the global download limit;
// the waits between them do not.
func (r *syncRun) retrying(ctx context.Context, what string, fetch func(ctx context.Context) error) error {
	for n := 1; ; n++ {
		err := r.m.Downloads.do(ctx, fetch)
		if err == nil {
			return nil
		}
		retry, asked := retryHere(err)
		switch {
		case ctx.Err() != nil:
			return r.stopped(ctx, what, err)
		case !retry:
			return err
		case n >= r.retry.Attempts:
			return fmt.Errorf("%w (%d attempts)", err, n)
		case asked > r.retry.MaxRetryAfter:
			return fmt.Errorf("%w (the server asks to retry after %s)", err, asked.Round(time.Second))
		}
		if berr := r.budget.spend(what, err); berr != nil {
			return berr
		}
		r.prog.retried()
		wait := r.retry.wait(n, asked)
		r.log.Info("retrying", zap.String("file", what), zap.Int("attempt", n), zap.Duration("wait", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return r.stopped(ctx, what, err)
		}
	}
}

// ErrSyncTimeout is wrapped when a sync stops because its time (the
// activity's, sync.timeout) is about to run out: an upstream that accepts
// connections and never answers, or answers too slowly for the whole
// repo. The error names the URL that was not answered. Not retryable:
// there is no time left for another attempt.
var ErrSyncTimeout = errors.New("the sync's time (sync.timeout) ran out")

// timeReserve is how long before its caller's deadline a sync stops to
// report which URL it was waiting for, instead of being cut off with no
// word (Temporal's ScheduleToClose timeout names nothing).
func timeReserve(left time.Duration) time.Duration { return min(left/10, 30*time.Second) }

// stopped is the error of what, stopped by ctx after last (nil if it did
// not run): the caller's cancellation as is, and the sync's time running
// out as ErrSyncTimeout naming the URL.
func (r *syncRun) stopped(ctx context.Context, what string, last error) error {
	if !errors.Is(context.Cause(ctx), ErrSyncTimeout) {
		return ctx.Err()
	}
	if last == nil {
		return fmt.Errorf("%s: %w", r.f.url(what), ErrSyncTimeout)
	}
	return fmt.Errorf("%s: %w, waiting for it (the last attempt: %v)", r.f.url(what), ErrSyncTimeout, last)
}

// Limit bounds the downloads running at once across every sync of a
// Mirror (sync.maxDownloads), on top of each sync's own concurrency, so
// that many repos syncing together do not open a flood of connections to
// one mirror host. A nil *Limit bounds nothing.
type Limit struct{ slots chan struct{} }

// NewLimit allows n downloads at once; n <= 0 means no limit (nil).
func NewLimit(n int) *Limit {
	if n <= 0 {
		return nil
	}
	return &Limit{slots: make(chan struct{}, n)}
}

// do runs fn in a slot, waiting for one while ctx allows.
func (l *Limit) do(ctx context.Context, fn func(ctx context.Context) error) error {
	if l == nil {
		return fn(ctx)
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.slots }()
	return fn(ctx)
}
