package mirror

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// FilesError lists the files a sync could not fetch although it tried each
// as often as its RetryPolicy allows (or met a 404: a mirror caught
// mid-update). It is retryable: the next attempt of the sync resumes with
// everything else already in the pool.
type FilesError struct {
	Failed []FileFailure
}

// FileFailure is one file a sync could not fetch, and why.
type FileFailure struct {
	Path string
	Err  error
}

// filesShown bounds the files an error names; the log has them all.
const filesShown = 5

func (e *FilesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "could not fetch %d file", len(e.Failed))
	if len(e.Failed) > 1 {
		b.WriteString("s")
	}
	writeShown(&b, len(e.Failed), func(i int) string { return e.Failed[i].Err.Error() })
	return b.String()
}

// Unwrap lets errors.Is and errors.As see every failure.
func (e *FilesError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// download runs produce, which sends the steps to fetch, alongside
// Concurrency workers that fetch each step into the pool as it comes. A
// file that fails in a way the next attempt of the sync may fix is set
// aside while the others go on, and all of them are returned at the end
// as a *FilesError; bad content, bad input, an exhausted budget or a
// failure of produce cancel the rest at once.
func (r *syncRun) download(ctx context.Context, produce func(ctx context.Context, send func(Step) error) error) error {
	g, gctx := errgroup.WithContext(ctx)
	steps := make(chan Step, r.m.concurrency())
	g.Go(func() error {
		defer close(steps)
		return produce(gctx, func(s Step) error {
			select {
			case steps <- s:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	var mu sync.Mutex
	var failed []FileFailure
	for range r.m.concurrency() {
		g.Go(func() error {
			for s := range steps {
				if gctx.Err() != nil {
					return r.stopped(gctx, s.Path, nil)
				}
				var n int64
				err := r.retrying(gctx, s.Path, func(ctx context.Context) (err error) {
					n, err = r.fetchToPool(ctx, s.Item)
					return err
				})
				if err != nil {
					if !IsRetryable(err) || gctx.Err() != nil {
						return err
					}
					r.log.Warn("file not fetched", zap.String("href", s.Path), zap.Error(err))
					mu.Lock()
					failed = append(failed, FileFailure{Path: s.Path, Err: err})
					mu.Unlock()
					continue
				}
				r.log.Debug("fetched", zap.String("href", s.Path), zap.String("reason", s.Reason), zap.Int64("bytes", n))
				r.prog.fetched(n)
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && len(failed) > 0 {
		err = &FilesError{Failed: failed}
	}
	return err
}

// sendAll is a download producer of a plan made in advance.
func sendAll(steps []Step) func(ctx context.Context, send func(Step) error) error {
	return func(_ context.Context, send func(Step) error) error {
		for _, s := range steps {
			if err := send(s); err != nil {
				return err
			}
		}
		return nil
	}
}

// copyBuffers hold the buffers downloads stream through: one each would
// be most of what a sync allocates, and the garbage collector's work.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// fetchToPool streams one item into a new pool object, hashing each chunk
// as it writes it (every byte is read once), and commits the object only
// when size and checksum are what the metadata declares. It reads no more
// than the declared size: one byte more is bad content at once. The whole
// transfer must end within the minimum speed's deadline for its size. It
// returns the number of bytes stored. An item of unknownSize (a tree's
// image) is held to the size the source announces, and to the limit on
// one package.
func (r *syncRun) fetchToPool(ctx context.Context, it Item) (int64, error) {
	where := r.f.url(it.Path)
	h, err := rpmmd.NewHash(it.Checksum.Algo)
	if err != nil {
		return 0, badContent(where, err)
	}
	if d := r.f.speed.deadline(it.Size); d > 0 && it.Size != unknownSize {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, errDeadline)
		defer cancel()
	}
	body, announced, err := r.f.open(ctx, it.Path)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	size, max := it.Size, it.Size
	if it.Size == unknownSize {
		size, max = announced, r.lim.PackageBytes
		if announced > max {
			return 0, badContentf(where, "size is %d bytes, more than the limit of %d on one file", announced, max)
		}
	}
	if announced >= 0 && announced != size {
		return 0, badContentf(where, "size is %d bytes, metadata says %d", announced, size)
	}

	w, err := r.m.Store.PoolCreate(it.Checksum)
	if err != nil {
		return 0, &localError{err}
	}
	defer w.Abort() // a no-op once committed
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var n int64
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			if n+int64(k) > max {
				return 0, badContentf(where, "more than the %d bytes the metadata declares", max)
			}
			h.Write(buf[:k])
			if _, err := w.Write(buf[:k]); err != nil {
				return 0, &localError{fmt.Errorf("%s: %w", where, err)}
			}
			n += int64(k)
			r.prog.streamed(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, readError(ctx, where, rerr)
		}
	}
	if n < size {
		// The source ended cleanly before the declared size: retried, as
		// a body cut short; a connection reset is a transport error.
		return 0, badContent(where, fmt.Errorf("%w: %d of %d bytes the metadata declares", errTruncated, n, size))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.Checksum.Hex {
		return 0, badContentf(where, "%s checksum mismatch: got %s, metadata says %s", it.Checksum.Algo, got, it.Checksum.Hex)
	}
	if err := w.Commit(); err != nil {
		return 0, &localError{fmt.Errorf("%s: %w", where, err)}
	}
	return n, nil
}

// addToPool stores data, already verified, in the pool under c.
func (m *Mirror) addToPool(c repo.Checksum, data []byte) error {
	if m.Store.PoolHas(c, int64(len(data))) {
		return nil
	}
	w, err := m.Store.PoolCreate(c)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Commit()
}
