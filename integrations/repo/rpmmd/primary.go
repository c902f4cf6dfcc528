package rpmmd

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Package is one <package> of primary.xml.
type Package struct {
	Name, Epoch, Version, Release, Arch string // Epoch is "0" when absent
	Checksum                            Checksum
	Size                                int64  // <size package="...">
	Href                                string // <location href>, checked with CheckHref
}

func (p Package) nevra() string {
	return p.Name + "-" + p.Epoch + ":" + p.Version + "-" + p.Release + "." + p.Arch
}

// ParsePrimary stream-parses primary.xml (already decompressed) token by
// token and calls fn once per <package>, so memory stays flat whatever the
// package count. It refuses unsafe location hrefs, weak checksums, and any
// xml:base other than repoBase (compared without trailing slashes): an
// xml:base is how primary.xml would point clients at another host. A
// "packages" count on the root that disagrees with the packages listed is
// refused too, as a sign of a truncated or spliced file.
//
// The XML is read by xmlScanner, which accepts what encoding/xml's strict
// decoder accepts (except an attribute given twice, refused) at many times
// its speed; see the README's Benchmark section for figures.
//
// Format errors wrap ErrMalformed and name the package; an error from fn
// stops the parse and is returned wrapped with the package's NEVRA; errors
// of r are passed through.
func ParsePrimary(r io.Reader, repoBase string, fn func(Package) error) error {
	return parsePrimary(r, repoBase, fn, scanBufStart)
}

// parsePrimary is ParsePrimary with the scanner's first buffer size.
func parsePrimary(r io.Reader, repoBase string, fn func(Package) error, bufSize int) error {
	src := &sourceReader{r: r}
	p := &primaryParser{s: newXMLScanner(src, maxToken, bufSize), base: strings.TrimRight(repoBase, "/"), fn: fn}
	// Blank text matters only inside the elements readText reads.
	p.s.dropBlank = true
	if err := p.parse(); err != nil {
		if p.fnFailed {
			return err
		}
		return src.classify("primary.xml", err)
	}
	return nil
}

type primaryParser struct {
	s        *xmlScanner
	base     string
	fn       func(Package) error
	fnFailed bool
	depth    int
	text     []byte // a text element's content, reused
}

func (p *primaryParser) parse() error {
	declared, err := p.root()
	if err != nil {
		return err
	}
	listed := 0
	for {
		kind, err := p.token()
		if err != nil {
			return err
		}
		switch kind {
		case tokStart:
			if p.s.local == nil || string(p.s.local) != "package" || p.s.elemSpace() != nsCommon {
				if err := p.skip(); err != nil {
					return err
				}
				continue
			}
			listed++
			pkg, err := p.pkg(listed)
			if err != nil {
				return err
			}
			if err := p.fn(pkg); err != nil {
				p.fnFailed = true
				return fmt.Errorf("package %s: %w", pkg.nevra(), err)
			}
		case tokEnd: // of the root
			if err := checkCount(declared, listed); err != nil {
				return err
			}
			return p.expectEOF()
		}
	}
}

// token reads the next token, keeping track of depth and refusing a foreign
// xml:base on any element: XML Base is inherited, so one on <package> or
// <metadata> would move every <location> below it.
func (p *primaryParser) token() (tokKind, error) {
	kind, err := p.s.next()
	if err != nil {
		return kind, err
	}
	switch kind {
	case tokStart:
		return kind, p.opened()
	case tokEnd:
		p.depth--
	case tokEOF:
		return kind, io.EOF
	}
	return kind, nil
}

// opened checks the element whose start was just read.
func (p *primaryParser) opened() error {
	p.depth++
	if p.depth > maxDepth {
		return fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, maxDepth)
	}
	if b, ok := p.s.xmlBase(); ok && strings.TrimRight(b, "/") != p.base {
		return fmt.Errorf("%w: <%s> has xml:base %s, which is not the repository's base %s",
			ErrMalformed, p.s.local, show(b), show(p.base))
	}
	return nil
}

// root reads up to the root element and returns its "packages" attribute,
// nil when it has none.
func (p *primaryParser) root() (*string, error) {
	for {
		kind, err := p.token()
		if err != nil {
			return nil, err
		}
		switch kind {
		case tokStart:
			if space := p.s.elemSpace(); string(p.s.local) != "metadata" || space != nsCommon {
				return nil, fmt.Errorf("%w: root element is <%s> in namespace %s, want <metadata> in %s",
					ErrMalformed, p.s.local, show(space), nsCommon)
			}
			if v, ok := p.s.attr("packages"); ok {
				return &v, nil
			}
			return nil, nil
		case tokText:
			if len(bytes.TrimSpace(p.s.appendText(p.text[:0]))) != 0 {
				return nil, fmt.Errorf("%w: text before the root element", ErrMalformed)
			}
		}
	}
}

// expectEOF checks that nothing but comments, processing instructions and
// white space follows the root element: a second document glued to the
// first is how a truncated-and-extended file would slip through.
func (p *primaryParser) expectEOF() error {
	for {
		kind, err := p.s.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokEOF:
			return nil
		case tokOther:
		case tokText:
			if len(bytes.TrimSpace(p.s.appendText(p.text[:0]))) != 0 {
				return fmt.Errorf("%w: text after the root element", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: content after the root element", ErrMalformed)
		}
	}
}

// skip consumes the rest of the element whose start was just read. It is
// token's loop written out, as most of a file is skipped.
func (p *primaryParser) skip() error {
	for end := p.depth - 1; p.depth > end; {
		kind, err := p.s.next()
		switch {
		case err != nil:
			return err
		case kind == tokStart:
			if err := p.opened(); err != nil {
				return err
			}
		case kind == tokEnd:
			p.depth--
		}
	}
	return nil
}

func checkCount(declared *string, listed int) error {
	if declared == nil {
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(*declared))
	if err != nil {
		return fmt.Errorf("%w: <metadata packages=%s> is not a number", ErrMalformed, show(*declared))
	}
	if n != listed {
		return fmt.Errorf("%w: <metadata> declares %d packages but lists %d", ErrMalformed, n, listed)
	}
	return nil
}

// The fields of <package> that are read, as bits of rawPackage.seen.
const (
	fieldName uint8 = 1 << iota
	fieldArch
	fieldVersion
	fieldChecksum
	fieldSize
	fieldLocation
)

func packageField(local string) (uint8, bool) {
	switch local {
	case "name":
		return fieldName, true
	case "arch":
		return fieldArch, true
	case "version":
		return fieldVersion, true
	case "checksum":
		return fieldChecksum, true
	case "size":
		return fieldSize, true
	case "location":
		return fieldLocation, true
	}
	return 0, false
}

// rawPackage collects a package's fields as found, for validation once the
// package is complete and its NEVRA can name it in errors.
type rawPackage struct {
	Package
	sumType, sum, size string
	seen               uint8 // fields read
}

// pkg reads the rest of the n-th <package>.
func (p *primaryParser) pkg(n int) (Package, error) {
	var raw rawPackage
	for {
		kind, err := p.token()
		if err != nil {
			return Package{}, fmt.Errorf("package #%d%s: %w", n, raw.label(), err)
		}
		switch kind {
		case tokStart:
			if err := p.field(&raw); err != nil {
				return Package{}, fmt.Errorf("package #%d%s: %w", n, raw.label(), err)
			}
		case tokEnd:
			pkg, err := raw.validate()
			if err != nil {
				return Package{}, fmt.Errorf("package #%d%s: %w", n, raw.label(), err)
			}
			return pkg, nil
		}
	}
}

// field reads the child of <package> whose start was just read.
func (p *primaryParser) field(raw *rawPackage) error {
	s := p.s
	bit, ok := packageField(string(s.local))
	switch {
	case !ok || s.elemSpace() != nsCommon:
		return p.skip()
	case raw.seen&bit != 0:
		// Clients may read the first where we would read the last.
		return fmt.Errorf("%w: more than one <%s>", ErrMalformed, s.local)
	}
	raw.seen |= bit

	var err error
	switch bit {
	case fieldName:
		raw.Name, err = p.readText()
		return err
	case fieldArch:
		raw.Arch, err = p.readText()
		return err
	case fieldChecksum:
		raw.sumType, _ = s.attr("type")
		raw.sum, err = p.readText()
		return err
	case fieldVersion:
		raw.Epoch, _ = s.attr("epoch")
		raw.Version, _ = s.attr("ver")
		raw.Release, _ = s.attr("rel")
	case fieldSize:
		raw.size, _ = s.attr("package")
	case fieldLocation:
		raw.Href, _ = s.attr("href")
	}
	return p.skip()
}

// readText returns the text content of the element whose start was just
// read, up to and including its end, trimmed. Child elements are an error.
func (p *primaryParser) readText() (string, error) {
	p.text = p.text[:0]
	p.s.dropBlank = false
	defer func() { p.s.dropBlank = true }()
	for {
		kind, err := p.s.next()
		if err != nil {
			return "", err
		}
		switch kind {
		case tokText:
			// Comments can split text into many tokens, each within maxToken.
			if len(p.text)+p.s.textLen() > maxToken {
				return "", fmt.Errorf("%w: text longer than %d bytes", ErrMalformed, maxToken)
			}
			p.text = p.s.appendText(p.text)
		case tokEnd:
			p.depth--
			return intern(bytes.TrimSpace(p.text)), nil
		case tokStart:
			return "", fmt.Errorf("%w: unexpected element <%s> inside a text element", ErrMalformed, p.s.local)
		}
	}
}

// label names a package in an error as well as what was read so far allows.
func (raw *rawPackage) label() string {
	if raw.Name == "" {
		return ""
	}
	return " " + show(raw.Package.nevra())
}

func (raw *rawPackage) validate() (Package, error) {
	pkg := raw.Package
	if pkg.Epoch == "" {
		pkg.Epoch = "0"
	}
	for _, f := range []struct{ what, value, forbidden string }{
		{"name", pkg.Name, ""},
		{"arch", pkg.Arch, "-"},
		{"version", pkg.Version, "-"},
		{"release", pkg.Release, "-"},
	} {
		if err := checkNEVRAField(f.what, f.value, f.forbidden); err != nil {
			return Package{}, err
		}
	}
	if strings.TrimLeft(pkg.Epoch, "0123456789") != "" || len(pkg.Epoch) > 10 {
		return Package{}, fmt.Errorf("%w: epoch %s is not a number", ErrMalformed, show(pkg.Epoch))
	}
	if raw.seen&fieldChecksum == 0 {
		return Package{}, fmt.Errorf("%w: no <checksum>", ErrMalformed)
	}
	var err error
	if pkg.Checksum, err = parseChecksum(raw.sumType, raw.sum); err != nil {
		return Package{}, err
	}
	if raw.size == "" {
		return Package{}, fmt.Errorf("%w: no <size package>", ErrMalformed)
	}
	if pkg.Size, err = strconv.ParseInt(raw.size, 10, 64); err != nil || pkg.Size < 0 {
		return Package{}, fmt.Errorf("%w: size %s is not a non-negative integer", ErrMalformed, show(raw.size))
	}
	if raw.seen&fieldLocation == 0 {
		return Package{}, fmt.Errorf("%w: no <location>", ErrMalformed)
	}
	if err := CheckHref(pkg.Href); err != nil {
		return Package{}, fmt.Errorf("location: %w", err)
	}
	return pkg, nil
}

// checkNEVRAField keeps NEVRA parts to what rpm itself allows, so that they
// can go into manifests, file names and log lines without escaping.
// forbidden holds the bytes besides "/" that the part may not contain.
func checkNEVRAField(what, v, forbidden string) error {
	if plainNEVRAField(v, forbidden) {
		return nil
	}
	why := ""
	switch {
	case v == "":
		why = "missing"
	case len(v) > 256:
		why = "longer than 256 bytes"
	case !utf8.ValidString(v):
		why = "not UTF-8"
	case strings.ContainsAny(v, "/"+forbidden):
		why = "contains one of " + strconv.Quote("/"+forbidden)
	case hasSpaceOrControl(v):
		why = "contains white space or a control character"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s %s: %s", ErrMalformed, what, show(v), why)
}

// plainNEVRAField is checkNEVRAField's answer for the common case, at a
// glance: 1 to 256 printable ASCII bytes, none of them forbidden.
func plainNEVRAField(v, forbidden string) bool {
	if v == "" || len(v) > 256 || forbidden != "" && forbidden != "-" {
		return false
	}
	dash := forbidden == "-"
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '-' && dash {
			return false
		}
	}
	return true
}

// hasSpaceOrControl reports a rune that unicode.IsSpace or
// unicode.IsControl accepts, checking ASCII without decoding.
func hasSpaceOrControl(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= utf8.RuneSelf:
			return strings.IndexFunc(v[i:], func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
		case c <= ' ' || c == 0x7f:
			return true
		}
	}
	return false
}

// intern returns b as a string, without allocating for the values that
// most packages share.
func intern(b []byte) string {
	switch string(b) {
	case "noarch":
		return "noarch"
	case "x86_64":
		return "x86_64"
	case "aarch64":
		return "aarch64"
	case "i686":
		return "i686"
	case "src":
		return "src"
	case "sha256":
		return "sha256"
	case "0":
		return "0"
	}
	return string(b)
}
