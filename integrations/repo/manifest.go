package repo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// A manifest is JSON lines of Package, one per line, in the field order
// encoding/json writes them. Diffs of distribution-sized snapshots read
// two of them per repo, so readManifest parses that exact shape by hand
// (encoding/json is several times slower) and hands any other line,
// e.g. one with escapes, to encoding/json.

// writeManifest writes pkgs one per line, byte for byte as json.Encoder
// would: appendManifestLine writes the common entry, whose strings need
// no escaping, and hands any other to encoding/json.
func writeManifest(w io.Writer, pkgs []Package) error {
	enc := json.NewEncoder(w)
	var line []byte
	for i := range pkgs {
		var ok bool
		if line, ok = appendManifestLine(line[:0], &pkgs[i]); !ok {
			if err := enc.Encode(pkgs[i]); err != nil {
				return err
			}
			continue
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// appendManifestLine appends p as parseManifestLine reads it, with its
// newline; false, with dst unusable, if a string needs escaping.
func appendManifestLine(dst []byte, p *Package) ([]byte, bool) {
	ok := true
	str := func(prefix, s string) {
		ok = ok && plainJSON(s)
		dst = append(append(append(dst, prefix...), s...), '"')
	}
	str(`{"name":"`, p.Name)
	str(`,"epoch":"`, p.Epoch)
	str(`,"version":"`, p.Version)
	str(`,"release":"`, p.Release)
	str(`,"arch":"`, p.Arch)
	str(`,"checksum":{"algo":"`, p.Checksum.Algo)
	str(`,"hex":"`, p.Checksum.Hex)
	dst = strconv.AppendInt(append(dst, `},"size":`...), p.Size, 10)
	str(`,"href":"`, p.Href)
	return append(dst, "}\n"...), ok
}

// plainJSON reports whether encoding/json writes s, quoted, as it is:
// printable ASCII other than the quote, the backslash and the characters
// it escapes for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b < 0x20 || b > 0x7e, b == '"', b == '\\', b == '<', b == '>', b == '&':
			return false
		}
	}
	return true
}

// maxManifestLine bounds one manifest entry; a real one is ~250 bytes.
const maxManifestLine = 1 << 20

// manifestChunk is how much of a manifest is read and parsed at a time.
const manifestChunk = 256 << 10

// readManifest streams a manifest in chunks. Each chunk of whole lines
// becomes one string that its entries' fields share, which keeps a
// 20,000-entry manifest to a few dozen allocations besides the slice.
func readManifest(p string) ([]Package, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pkgs []Package
	if fi, err := f.Stat(); err == nil {
		pkgs = make([]Package, 0, fi.Size()/200)
	}
	buf := make([]byte, 0, manifestChunk)
	for {
		n, rerr := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr != nil && rerr != io.EOF {
			return nil, fmt.Errorf("read %s: %w", p, rerr)
		}
		end := bytes.LastIndexByte(buf, '\n') + 1
		if rerr == io.EOF {
			end = len(buf) // a last line without its newline
		}
		if pkgs, err = parseManifestLines(string(buf[:end]), pkgs); err != nil {
			return nil, fmt.Errorf("decode %s: %w", p, err)
		}
		buf = buf[:copy(buf, buf[end:])]
		if rerr == io.EOF {
			return pkgs, nil
		}
		if len(buf) == cap(buf) {
			if len(buf) >= maxManifestLine {
				return nil, fmt.Errorf("decode %s: entry %d longer than %d bytes", p, len(pkgs)+1, maxManifestLine)
			}
			buf = slices.Grow(buf, len(buf))
		}
	}
}

// parseManifestLines appends the entries of text, which holds whole lines.
func parseManifestLines(text string, pkgs []Package) ([]Package, error) {
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		pkgs = append(pkgs, Package{})
		if !parseManifestLine(line, &pkgs[len(pkgs)-1]) {
			pkg, err := decodeManifestLine(line)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", len(pkgs), err)
			}
			pkgs[len(pkgs)-1] = pkg
		}
	}
	return pkgs, nil
}

// decodeManifestLine is the slow path for a line parseManifestLine does
// not recognise; kept apart so that only it pays for a heap-allocated
// Package.
func decodeManifestLine(line string) (Package, error) {
	var pkg Package
	err := json.Unmarshal([]byte(line), &pkg)
	return pkg, err
}

// parseManifestLine decodes a line in exactly the shape writeManifest
// produces, with no escapes; false for anything else. The fields share
// the memory of line.
func parseManifestLine(line string, p *Package) bool {
	c := lineCursor{s: line}
	ok := c.lit(`{"name":"`) && c.str(&p.Name) &&
		c.lit(`,"epoch":"`) && c.str(&p.Epoch) &&
		c.lit(`,"version":"`) && c.str(&p.Version) &&
		c.lit(`,"release":"`) && c.str(&p.Release) &&
		c.lit(`,"arch":"`) && c.str(&p.Arch) &&
		c.lit(`,"checksum":{"algo":"`) && c.str(&p.Checksum.Algo) &&
		c.lit(`,"hex":"`) && c.str(&p.Checksum.Hex) &&
		c.lit(`},"size":`) && c.int(&p.Size) &&
		c.lit(`,"href":"`) && c.str(&p.Href) &&
		c.lit(`}`)
	return ok && c.s == ""
}

// lineCursor consumes a manifest line from the front.
type lineCursor struct{ s string }

func (c *lineCursor) lit(prefix string) bool {
	rest, ok := strings.CutPrefix(c.s, prefix)
	c.s = rest
	return ok
}

// str reads up to and including the closing quote of a string whose
// opening quote lit consumed; an escape makes it give up.
func (c *lineCursor) str(dst *string) bool {
	i := strings.IndexByte(c.s, '"')
	if i < 0 || strings.IndexByte(c.s[:i], '\\') >= 0 {
		return false
	}
	*dst, c.s = c.s[:i], c.s[i+1:]
	return true
}

func (c *lineCursor) int(dst *int64) bool {
	i := 0
	for i < len(c.s) && (c.s[i] == '-' || c.s[i] >= '0' && c.s[i] <= '9') {
		i++
	}
	n, err := strconv.ParseInt(c.s[:i], 10, 64)
	*dst, c.s = n, c.s[i:]
	return err == nil
}
