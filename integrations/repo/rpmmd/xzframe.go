package rpmmd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// xzFramer passes an xz file through unchanged while following its framing
// (streams, block headers, LZMA2 chunk sizes, index, footer) far enough to
// see every block header before the decoder does, and refuses a dictionary
// larger than maxDict. The decoder still verifies everything else (CRCs,
// index contents); the framer only has to agree with it on where each block
// starts, and it rejects anything it does not understand rather than guess.
type xzFramer struct {
	r       io.Reader
	maxDict int64
	out     bytes.Buffer // bytes consumed by the parser, not yet returned
	state   xzState
	check   int   // check field size of the current stream
	counted int64 // size of the current block or index, for its padding
	records uint64
	err     error
}

type xzState int

const (
	xzStreamHeader xzState = iota
	xzBlockOrIndex
	xzChunk
	xzIndexRecord
	xzStreamPadding
	xzDone
)

var (
	xzMagic       = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	xzFooterMagic = []byte{'Y', 'Z'}
	errXZFraming  = errors.New("xz framing")
)

func newXZFramer(r io.Reader, maxDict int64) io.Reader {
	return &xzFramer{r: r, maxDict: maxDict}
}

func (f *xzFramer) Read(p []byte) (int, error) {
	for f.out.Len() == 0 && f.err == nil {
		if f.state == xzDone {
			f.err = io.EOF
			break
		}
		f.err = f.step()
	}
	if f.out.Len() > 0 {
		return f.out.Read(p)
	}
	return 0, f.err
}

// take reads exactly n bytes into the output and returns them. The end of
// input inside a structure is a truncated file.
func (f *xzFramer) take(n int) ([]byte, error) {
	start := f.out.Len()
	got, err := io.CopyN(&f.out, f.r, int64(n))
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	f.counted += got
	return f.out.Bytes()[start:], nil
}

func (f *xzFramer) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := f.take(1)
		if err != nil {
			return 0, err
		}
		v |= uint64(b[0]&0x7f) << (7 * i)
		if b[0]&0x80 == 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: varint too long", errXZFraming)
}

// pad consumes the zero bytes that align the current block or index to four.
func (f *xzFramer) pad() error {
	b, err := f.take(int((4 - f.counted%4) % 4))
	if err != nil {
		return err
	}
	if bytes.Count(b, []byte{0}) != len(b) {
		return fmt.Errorf("%w: non-zero padding", errXZFraming)
	}
	return nil
}

func (f *xzFramer) step() error {
	switch f.state {
	case xzStreamHeader:
		h, err := f.take(12)
		if err != nil {
			return err
		}
		return f.streamHeader(h)
	case xzBlockOrIndex:
		f.counted = 0
		b, err := f.take(1)
		if err != nil {
			return err
		}
		if b[0] == 0 {
			if f.records, err = f.varint(); err != nil {
				return err
			}
			f.state = xzIndexRecord
			return nil
		}
		rest, err := f.take(int(b[0])*4 + 3)
		if err != nil {
			return err
		}
		if err := f.blockHeader(rest); err != nil {
			return err
		}
		f.state = xzChunk
		return nil
	case xzChunk:
		return f.chunk()
	case xzIndexRecord:
		if f.records == 0 {
			return f.indexEnd()
		}
		f.records--
		for range 2 { // unpadded size, uncompressed size
			if _, err := f.varint(); err != nil {
				return err
			}
		}
		return nil
	case xzStreamPadding:
		return f.streamPadding()
	}
	return fmt.Errorf("%w: bad state %d", errXZFraming, f.state)
}

func (f *xzFramer) streamHeader(h []byte) error {
	if !bytes.Equal(h[:6], xzMagic) {
		return fmt.Errorf("%w: not an xz stream", errXZFraming)
	}
	if h[6] != 0 || h[7]&0xf0 != 0 {
		return fmt.Errorf("%w: unsupported stream flags", errXZFraming)
	}
	if t := int(h[7] & 0x0f); t == 0 {
		f.check = 0
	} else {
		f.check = 4 << ((t - 1) / 3)
	}
	f.state = xzBlockOrIndex
	return nil
}

// blockHeader parses the header after its size byte. Every filter before the
// last is a BCJ or delta filter that has no dictionary; the last must be
// LZMA2, the only one the decoder supports, with a bounded dictionary.
func (f *xzFramer) blockHeader(h []byte) error {
	body := bytes.NewReader(h[:len(h)-4]) // without the CRC32
	flags, _ := body.ReadByte()
	if flags&0x3c != 0 {
		return fmt.Errorf("%w: reserved block flags", errXZFraming)
	}
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			if _, err := binary.ReadUvarint(body); err != nil {
				return fmt.Errorf("%w: block sizes: %w", errXZFraming, err)
			}
		}
	}
	var id, props uint64
	for range int(flags&3) + 1 {
		var err error
		if id, err = binary.ReadUvarint(body); err != nil {
			return fmt.Errorf("%w: filter id: %w", errXZFraming, err)
		}
		if props, err = binary.ReadUvarint(body); err != nil || props > uint64(body.Len()) {
			return fmt.Errorf("%w: filter properties", errXZFraming)
		}
		if id == 0x21 && props == 1 {
			dict, _ := body.ReadByte()
			if err := f.checkDict(dict); err != nil {
				return err
			}
			continue
		}
		if _, err := body.Seek(int64(props), io.SeekCurrent); err != nil {
			return fmt.Errorf("%w: filter properties: %w", errXZFraming, err)
		}
	}
	if id != 0x21 {
		return fmt.Errorf("%w: last filter %#x is not LZMA2", errXZFraming, id)
	}
	return nil
}

func (f *xzFramer) checkDict(code byte) error {
	if code > 40 {
		return fmt.Errorf("%w: bad LZMA2 dictionary size code %d", errXZFraming, code)
	}
	size := int64(1)<<32 - 1
	if code < 40 {
		size = int64(2|code&1) << (code/2 + 11)
	}
	if size > f.maxDict {
		return fmt.Errorf("%w: LZMA2 dictionary of %d bytes exceeds the limit of %d", ErrMalformed, size, f.maxDict)
	}
	return nil
}

// chunk skips one LZMA2 chunk, whose header states its compressed size.
func (f *xzFramer) chunk() error {
	c, err := f.take(1)
	if err != nil {
		return err
	}
	var size int
	switch ctl := c[0]; {
	case ctl == 0: // end of the block's data
		if err := f.pad(); err != nil {
			return err
		}
		if _, err := f.take(f.check); err != nil {
			return err
		}
		f.state = xzBlockOrIndex
		return nil
	case ctl == 1 || ctl == 2: // stored chunk
		h, err := f.take(2)
		if err != nil {
			return err
		}
		size = int(binary.BigEndian.Uint16(h)) + 1
	case ctl >= 0x80: // LZMA chunk, with a properties byte on a state reset
		n := 4
		if ctl >= 0xc0 {
			n = 5
		}
		h, err := f.take(n)
		if err != nil {
			return err
		}
		size = int(binary.BigEndian.Uint16(h[2:4])) + 1
	default:
		return fmt.Errorf("%w: bad LZMA2 control byte %#x", errXZFraming, ctl)
	}
	_, err = f.take(size)
	return err
}

func (f *xzFramer) indexEnd() error {
	if err := f.pad(); err != nil {
		return err
	}
	if _, err := f.take(4); err != nil { // index CRC32
		return err
	}
	footer, err := f.take(12)
	if err != nil {
		return err
	}
	if !bytes.Equal(footer[10:], xzFooterMagic) {
		return fmt.Errorf("%w: bad stream footer", errXZFraming)
	}
	f.state = xzStreamPadding
	return nil
}

// streamPadding consumes zero padding between streams in words of four and
// recognises the next stream's header or the end of the file.
func (f *xzFramer) streamPadding() error {
	var word [4]byte
	n, err := io.ReadFull(f.r, word[:])
	f.out.Write(word[:n])
	switch {
	case err == io.EOF:
		f.state = xzDone
		return nil
	case err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: stream padding is not a multiple of four bytes", errXZFraming)
	case err != nil:
		return err
	case word == [4]byte{}:
		return nil
	}
	rest, err := f.take(8)
	if err != nil {
		return err
	}
	return f.streamHeader(append(word[:], rest...))
}
