package mirror

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
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

// fetchAll downloads every step into the pool, Concurrency at a time. The
// first failure cancels the others and is returned.
func (m *Mirror) fetchAll(ctx context.Context, f *fetcher, steps []Step, prog *reporter) (transferred, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.concurrency())
	var files, bytes atomic.Int64
	for _, s := range steps {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, err := m.fetchToPool(gctx, f, s.Item, prog)
			if err != nil {
				return err
			}
			m.logger().Debug("fetched", zap.String("href", s.Path), zap.String("reason", s.Reason), zap.Int64("bytes", n))
			files.Add(1)
			bytes.Add(n)
			prog.add(1, 0)
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return transferred{int(files.Load()), bytes.Load()}, err
}

// fetchToPool streams one item into a temporary file in the store, hashing
// as it writes, and moves it into the pool only when size and checksum are
// what the metadata declares. It returns the number of bytes stored.
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

	tmp, err := os.CreateTemp(m.Store.TempDir(), "mirror-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once PoolAdd moved it
	// Read one byte more than declared, to notice a longer file.
	n, err := io.Copy(io.MultiWriter(tmp, h, prog), io.LimitReader(body, it.Size+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
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
	if err := m.Store.PoolAdd(it.Checksum, tmp.Name()); err != nil {
		return 0, fmt.Errorf("%s: %w", where, err)
	}
	return n, nil
}

// addToPool stores data, already verified, in the pool under c.
func (m *Mirror) addToPool(c repo.Checksum, data []byte) error {
	if m.Store.PoolHas(c, int64(len(data))) {
		return nil
	}
	tmp, err := os.CreateTemp(m.Store.TempDir(), "mirror-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return m.Store.PoolAdd(c, tmp.Name())
}
