package rpmmd

import (
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Memory a hostile stream may make a decoder allocate before it has produced
// a byte. xz -9 and zstd --ultra -22 stay below these.
const (
	maxXZDict     = 64 * mib
	maxZstdWindow = 128 * mib
	maxZstdMemory = 256 * mib
)

type openFunc func(io.Reader) (io.ReadCloser, error)

var codecs = map[string]openFunc{
	".gz":   openGzip,
	".xz":   openXZ,
	".zst":  openZstd,
	".zstd": openZstd,
	".bz2":  openBzip2,
}

// Compressions createrepo_c or other tools can write that we cannot read:
// passing them through as "uncompressed" would hand binary noise to a parser.
var unsupported = map[string]bool{".zck": true, ".lz4": true, ".lzma": true, ".bz": true, ".z": true}

// Decompress picks the codec from href's extension (.gz, .xz, .zst/.zstd,
// .bz2, anything else uncompressed) and returns a reader of the
// decompressed data. The reader fails with ErrMalformed on a corrupt or
// truncated stream and once more than max decompressed bytes are read; it
// never ends early without an error. Failures of r itself are passed
// through unchanged. Closing the result does not close r.
func Decompress(href string, r io.Reader, max int64) (io.ReadCloser, error) {
	what := path.Base(href)
	ext := strings.ToLower(path.Ext(href))
	if unsupported[ext] {
		return nil, fmt.Errorf("%w: %s: unsupported compression %s", ErrMalformed, show(what), ext)
	}
	src := &sourceReader{r: r}
	open, ok := codecs[ext]
	if !ok {
		open = func(r io.Reader) (io.ReadCloser, error) { return io.NopCloser(r), nil }
	}
	dec, err := open(src)
	if err != nil {
		return nil, src.classify(what, err)
	}
	return &decompressed{
		src:  src,
		dec:  dec,
		out:  LimitReader(dec, max, "decompressed "+what),
		what: what,
	}, nil
}

type decompressed struct {
	src  *sourceReader
	dec  io.ReadCloser
	out  io.Reader
	what string
	err  error
}

func (d *decompressed) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.out.Read(p)
	if err == io.EOF {
		return n, err
	}
	if err != nil {
		d.err = d.src.classify(d.what, err)
	}
	return n, d.err
}

func (d *decompressed) Close() error { return d.dec.Close() }

func openGzip(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }

func openBzip2(r io.Reader) (io.ReadCloser, error) { return io.NopCloser(bzip2.NewReader(r)), nil }

func openXZ(r io.Reader) (io.ReadCloser, error) {
	// The xz library allocates whatever dictionary each block header asks
	// for (up to 4 GiB); the framer checks every header before it does.
	xr, err := xz.NewReader(newXZFramer(r, maxXZDict))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(xr), nil
}

func openZstd(r io.Reader) (io.ReadCloser, error) {
	// Concurrency 1 decodes synchronously: no goroutines outlive a Close
	// that a caller forgot, and memory is one window.
	zr, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(maxZstdMemory))
	if err != nil {
		return nil, err
	}
	return zr.IOReadCloser(), nil
}
