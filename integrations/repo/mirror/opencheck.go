package mirror

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// openReader is the decompressed content of one metadata file, checked
// against what repomd.xml (whose checksum chain is verified) declares of
// it: a bomb is refused at the first byte past its open-size or its
// type's cap, not after inflating, and verify compares its open checksum
// and size once the last byte is read.
type openReader struct {
	rc io.ReadCloser
	r  io.Reader
	h  hashCounter
	d  rpmmd.Data
}

// openChecked decompresses d's content from r, up to max bytes.
func openChecked(r io.Reader, d rpmmd.Data, max int64) (*openReader, error) {
	rc, err := rpmmd.Decompress(d.Href, r, max)
	if err != nil {
		return nil, err
	}
	o := &openReader{rc: rc, r: rc, d: d}
	if d.OpenSize > 0 {
		o.r = rpmmd.LimitReader(rc, d.OpenSize, "decompressed "+path.Base(d.Href)+" (its declared open-size)")
	}
	if d.OpenChecksum != nil {
		if o.h.Hash, err = rpmmd.NewHash(d.OpenChecksum.Algo); err != nil {
			rc.Close()
			return nil, err
		}
	}
	if d.OpenChecksum != nil || d.OpenSize > 0 {
		o.r = io.TeeReader(o.r, &o.h)
	}
	return o, nil
}

func (o *openReader) Read(p []byte) (int, error) { return o.r.Read(p) }
func (o *openReader) Close() error               { return o.rc.Close() }

// verify reads what is left and compares the open checksum and size.
func (o *openReader) verify() error {
	if o.h.Hash == nil && o.d.OpenSize <= 0 {
		return nil
	}
	if _, err := io.Copy(io.Discard, o.r); err != nil {
		return err
	}
	if o.h.Hash != nil {
		if got := hex.EncodeToString(o.h.Sum(nil)); got != strings.ToLower(o.d.OpenChecksum.Hex) {
			return fmt.Errorf("open %s checksum mismatch: got %s, repomd.xml says %s", o.d.OpenChecksum.Algo, got, o.d.OpenChecksum.Hex)
		}
	}
	if o.d.OpenSize > 0 && o.h.n != o.d.OpenSize {
		return fmt.Errorf("open size is %d bytes, repomd.xml says %d", o.h.n, o.d.OpenSize)
	}
	return nil
}

// hashCounter counts what is written to it, and hashes it with Hash
// unless that is nil.
type hashCounter struct {
	hash.Hash
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	if h.Hash == nil {
		return len(p), nil
	}
	return h.Hash.Write(p)
}

// checkMetadata verifies the decompressed form of every metadata file
// but primary (which readPrimary checks as it parses it), from the pool:
// within its declared open-size and its type's cap, and matching its
// declared open checksum and size. A file osflow cannot decompress
// (zchunk) is republished on its closed checksum alone, as dnf reads it.
func (r *syncRun) checkMetadata(ctx context.Context, md rpmmd.Repomd) error {
	for _, d := range md.Data {
		if d.Type == "primary" || !rpmmd.CanOpen(d.Href) {
			continue
		}
		if err := r.checkOpen(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (r *syncRun) checkOpen(ctx context.Context, d rpmmd.Data) error {
	where := r.f.url(d.Href)
	file, err := os.Open(r.m.Store.PoolPath(poolChecksum(d.Checksum)))
	if err != nil {
		return &localError{err}
	}
	defer file.Close()
	// Its pool object passed the closed checksum: the local disk is the
	// only source that can fail; anything else is the content's fault.
	src := &ctxReader{ctx: ctx, ReadCloser: file}
	open, err := openChecked(src, d, r.lim.OpenBytesFor(d.Type))
	if err == nil {
		// Read to the end even with nothing declared: the type's cap.
		if err = open.verify(); err == nil {
			_, err = io.Copy(io.Discard, open)
		}
		open.Close()
	}
	var pathErr *os.PathError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return r.stopped(ctx, d.Href, nil)
	case errors.As(err, &pathErr):
		return &localError{err}
	}
	return badContent(where, fmt.Errorf("%s metadata: %w", d.Type, err))
}
