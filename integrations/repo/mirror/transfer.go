package mirror

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// transferred counts what a stage downloaded.
type transferred struct {
	files int
	bytes int64
}

// download runs produce, which sends the steps to fetch, alongside
// Concurrency workers that fetch each step into the pool as it comes. The
// first failure, of produce or of a fetch, cancels the rest and is
// returned.
func (m *Mirror) download(ctx context.Context, f *fetcher, prog *reporter,
	produce func(ctx context.Context, send func(Step) error) error) (transferred, error) {
	g, gctx := errgroup.WithContext(ctx)
	steps := make(chan Step, m.concurrency())
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
	var files, bytes atomic.Int64
	for range m.concurrency() {
		g.Go(func() error {
			for s := range steps {
				if err := gctx.Err(); err != nil {
					return err
				}
				n, err := m.fetchToPool(gctx, f, s.Item, prog)
				if err != nil {
					return err
				}
				m.logger().Debug("fetched", zap.String("href", s.Path), zap.String("reason", s.Reason), zap.Int64("bytes", n))
				files.Add(1)
				bytes.Add(n)
				prog.add(1, 0)
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return transferred{int(files.Load()), bytes.Load()}, err
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
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// fetchToPool streams one item into a new pool object, hashing as it
// writes, and commits the object only when size and checksum are what the
// metadata declares. It returns the number of bytes stored.
func (m *Mirror) fetchToPool(ctx context.Context, f *fetcher, it Item, prog io.Writer) (int64, error) {
	where := f.url(it.Path)
	h, err := rpmmd.NewHash(it.Checksum.Algo)
	if err != nil {
		return 0, badContent(where, err)
	}
	body, announced, err := f.open(ctx, it.Path)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	if announced >= 0 && announced != it.Size {
		return 0, badContentf(where, "size is %d bytes, metadata says %d", announced, it.Size)
	}

	w, err := m.Store.PoolCreate(it.Checksum)
	if err != nil {
		return 0, err
	}
	defer w.Abort() // a no-op once committed
	// Read one byte more than declared, to notice a longer file.
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(w, h, prog), io.LimitReader(body, it.Size+1), *buf)
	copyBuffers.Put(buf)
	switch {
	case err != nil:
		return 0, readError(ctx, where, err)
	case n > it.Size:
		return 0, badContentf(where, "more than the %d bytes the metadata declares", it.Size)
	case n < it.Size:
		// The source ended cleanly before the declared size. (A connection
		// cut short is a transport error instead, and retryable.)
		return 0, badContentf(where, "truncated: %d of %d bytes", n, it.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.Checksum.Hex {
		return 0, badContentf(where, "%s checksum mismatch: got %s, metadata says %s", it.Checksum.Algo, got, it.Checksum.Hex)
	}
	if err := w.Commit(); err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
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
