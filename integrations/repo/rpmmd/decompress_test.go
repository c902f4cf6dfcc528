package rpmmd

import (
	"bytes"
	"compress/gzip"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"
)

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func xzBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func zstdBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	return enc.EncodeAll(data, nil)
}

// cliCompress runs a real compressor, the way repositories are produced.
func cliCompress(t *testing.T, data []byte, name string, args ...string) []byte {
	t.Helper()
	needTools(t, name)
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	require.NoError(t, err)
	return out
}

func decompressAll(href string, data []byte, max int64) ([]byte, error) {
	rc, err := Decompress(href, bytes.NewReader(data), max)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// compressible but not trivially so, so that every codec emits several
// chunks or blocks.
func testPayload() []byte {
	var b strings.Builder
	for i := range 20000 {
		b.WriteString("<package><name>pkg")
		b.WriteString(strings.Repeat("x", i%37))
		b.WriteString("</name></package>\n")
	}
	return []byte(b.String())
}

func TestDecompress(t *testing.T) {
	payload := testPayload()
	codecs := []struct {
		href string
		data func(t *testing.T) []byte
	}{
		{"primary.xml", func(*testing.T) []byte { return payload }},
		{"primary.xml.gz", func(t *testing.T) []byte { return gzipBytes(t, payload) }},
		{"primary.xml.GZ", func(t *testing.T) []byte { return gzipBytes(t, payload) }},
		{"primary.xml.xz", func(t *testing.T) []byte { return xzBytes(t, payload) }},
		{"cli.xml.xz", func(t *testing.T) []byte { return cliCompress(t, payload, "xz", "-9e", "-c") }},
		{"multiblock.xml.xz", func(t *testing.T) []byte {
			return cliCompress(t, payload, "xz", "-T2", "--block-size=64KiB", "--check=sha256", "-c")
		}},
		{"multistream.xml.xz", func(t *testing.T) []byte {
			half := len(payload) / 2
			a := cliCompress(t, payload[:half], "xz", "--check=none", "-c")
			b := cliCompress(t, payload[half:], "xz", "--check=crc32", "-c")
			return append(append(a, make([]byte, 8)...), b...) // with stream padding
		}},
		{"stored.xml.xz", func(t *testing.T) []byte {
			// Random-looking input makes xz emit uncompressed LZMA2 chunks.
			return cliCompress(t, xzBytes(t, payload), "xz", "-0", "-c")
		}},
		{"primary.xml.zst", func(t *testing.T) []byte { return zstdBytes(t, payload) }},
		{"primary.xml.zstd", func(t *testing.T) []byte { return cliCompress(t, payload, "zstd", "-19", "-c") }},
		{"primary.xml.bz2", func(t *testing.T) []byte { return cliCompress(t, payload, "bzip2", "-c") }},
	}
	for _, tc := range codecs {
		t.Run(tc.href, func(t *testing.T) {
			data := tc.data(t)
			want := payload
			if strings.HasPrefix(tc.href, "stored") {
				want = xzBytes(t, payload)
			}

			got, err := decompressAll(tc.href, data, int64(len(want)))
			require.NoError(t, err, "exactly at the limit is fine")
			require.Equal(t, want, got)

			_, err = decompressAll(tc.href, data, int64(len(want))-1)
			require.ErrorIs(t, err, ErrMalformed, "one byte over the limit")
			require.ErrorContains(t, err, "larger than the limit")

			if tc.href == "primary.xml" {
				return
			}
			for _, cut := range []int{len(data) / 3, len(data) - 1} {
				_, err = decompressAll(tc.href, data[:cut], 1<<30)
				require.ErrorIs(t, err, ErrMalformed, "truncated at %d of %d", cut, len(data))
			}
			// Garbage after a complete stream is refused as well.
			_, err = decompressAll(tc.href, append(bytes.Clone(data), "garbage"...), 1<<30)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestDecompressBomb(t *testing.T) {
	// 50 MB of zeros is 50 KB gzipped; with a 1 MB limit the reader must
	// stop at 1 MB, not inflate the rest.
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for range 50 {
		_, err = w.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())

	rc, err := Decompress("repodata/primary.xml.gz", &buf, 1<<20)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, rc)
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "decompressed primary.xml.gz is larger than the limit of 1048576 bytes")
	require.Equal(t, int64(1<<20), n)
	require.Greater(t, buf.Len(), 0, "decompression stopped early, leaving input unread")
}

func TestDecompressErrors(t *testing.T) {
	t.Run("unsupported compression", func(t *testing.T) {
		_, err := Decompress("repodata/primary.xml.zck", strings.NewReader("x"), 10)
		require.ErrorIs(t, err, ErrMalformed)
		require.ErrorContains(t, err, "unsupported compression .zck")
	})
	t.Run("not gzip", func(t *testing.T) {
		_, err := Decompress("primary.xml.gz", strings.NewReader("<xml/>"), 10)
		require.ErrorIs(t, err, ErrMalformed)
	})
	t.Run("transport error passes through", func(t *testing.T) {
		broken := errors.New("connection reset")
		data := gzipBytes(t, testPayload())
		for _, r := range []io.Reader{errReader{broken}, prefixThenFail(data[:len(data)/2], broken)} {
			got, err := func() ([]byte, error) {
				rc, err := Decompress("primary.xml.gz", r, 1<<30)
				if err != nil {
					return nil, err
				}
				return io.ReadAll(rc)
			}()
			require.ErrorIs(t, err, broken)
			require.NotErrorIs(t, err, ErrMalformed, "a transport failure must stay retryable")
			require.Less(t, len(got), len(testPayload()))
		}
	})
	t.Run("limit error of the compressed stream passes through", func(t *testing.T) {
		data := gzipBytes(t, testPayload())
		_, err := decompressAll("primary.xml.gz", data, 1<<30)
		require.NoError(t, err)
		rc, err := Decompress("primary.xml.gz", LimitReader(bytes.NewReader(data), 100, "primary.xml.gz"), 1<<30)
		require.NoError(t, err)
		_, err = io.ReadAll(rc)
		require.ErrorIs(t, err, ErrMalformed)
		require.ErrorContains(t, err, "primary.xml.gz is larger than the limit of 100 bytes")
	})
}

// TestDecompressXZDictionaryBomb patches an xz block header to ask for a
// 1.5 GiB dictionary, which the xz library would allocate up front.
func TestDecompressXZDictionaryBomb(t *testing.T) {
	data := xzBytes(t, testPayload())
	// Stream header is 12 bytes; the block header follows: size byte, flags,
	// then (no optional sizes here) filter id 0x21, props size 1, dict code.
	hdr := data[12 : 12+(int(data[12])+1)*4]
	require.Equal(t, []byte{0x21, 0x01}, hdr[2:4], "unexpected block header layout")
	hdr[4] = 37 // 3 << 29 = 1.5 GiB
	crc := crc32.ChecksumIEEE(hdr[:len(hdr)-4])
	hdr[len(hdr)-4], hdr[len(hdr)-3], hdr[len(hdr)-2], hdr[len(hdr)-1] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)

	_, err := decompressAll("primary.xml.xz", data, 1<<30)
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "dictionary of 1610612736 bytes exceeds the limit")
}

func TestLimitReader(t *testing.T) {
	for _, tc := range []struct {
		size, max int64
		ok        bool
	}{
		{0, 0, true},
		{10, 10, true},
		{10, 11, true},
		{11, 10, false},
		{1, 0, false},
		{10, math.MaxInt64, true},
	} {
		got, err := io.ReadAll(LimitReader(bytes.NewReader(make([]byte, tc.size)), tc.max, "thing"))
		if tc.ok {
			require.NoError(t, err)
			require.Len(t, got, int(tc.size))
			continue
		}
		require.ErrorIs(t, err, ErrMalformed)
		require.ErrorContains(t, err, "thing is larger than the limit")
		require.Len(t, got, int(tc.max), "never more than max bytes")
	}
}

// TestOpenBytesFor: the types far smaller in real repos have a cap of
// their own, never above OpenBytes.
func TestOpenBytesFor(t *testing.T) {
	def := DefaultLimits()
	for _, tc := range []struct {
		typ    string
		limits Limits
		want   int64
	}{
		{"primary", def, def.OpenBytes},
		{"filelists", def, def.OpenBytes},
		{"updateinfo", def, 512 * mib},
		{"updateinfo_zck", def, 512 * mib},
		{"group", def, 64 * mib},
		{"group_gz", def, 64 * mib},
		{"modules", def, 256 * mib},
		{"productid", def, 1 * mib},
		{"updateinfo", Limits{OpenBytes: 1 << 20}, 1 << 20},
		{"other", Limits{}, def.OpenBytes},
	} {
		require.Equal(t, tc.want, tc.limits.OpenBytesFor(tc.typ), tc.typ)
	}
	require.False(t, CanOpen("repodata/x-primary.xml.zck"))
	require.True(t, CanOpen("repodata/x-comps.xml"))
}
