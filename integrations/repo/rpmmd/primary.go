package rpmmd

import (
	"encoding/xml"
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
// Format errors wrap ErrMalformed and name the package; an error from fn
// stops the parse and is returned wrapped with the package's NEVRA; errors
// of r are passed through.
func ParsePrimary(r io.Reader, repoBase string, fn func(Package) error) error {
	src := &sourceReader{r: r}
	p := &primaryParser{d: newXMLDecoder(src), base: strings.TrimRight(repoBase, "/"), fn: fn}
	if err := p.parse(); err != nil {
		if p.fnFailed {
			return err
		}
		return src.classify("primary.xml", err)
	}
	return nil
}

type primaryParser struct {
	d        *xml.Decoder
	base     string
	fn       func(Package) error
	fnFailed bool
	depth    int
}

var (
	metadataName = xml.Name{Space: nsCommon, Local: "metadata"}
	packageName  = xml.Name{Space: nsCommon, Local: "package"}
)

func (p *primaryParser) parse() error {
	root, err := p.root()
	if err != nil {
		return err
	}
	listed := 0
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name != packageName {
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
		case xml.EndElement: // of the root
			if err := checkCount(root, listed); err != nil {
				return err
			}
			return expectEOF(p.d)
		}
	}
}

// token reads the next token, keeping track of depth and refusing a foreign
// xml:base on any element: XML Base is inherited, so one on <package> or
// <metadata> would move every <location> below it.
func (p *primaryParser) token() (xml.Token, error) {
	tok, err := p.d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		p.depth++
		if p.depth > maxDepth {
			return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, maxDepth)
		}
		if b, ok := xmlBase(t); ok && strings.TrimRight(b, "/") != p.base {
			return nil, fmt.Errorf("%w: <%s> has xml:base %s, which is not the repository's base %s",
				ErrMalformed, t.Name.Local, show(b), show(p.base))
		}
	case xml.EndElement:
		p.depth--
	}
	return tok, nil
}

func (p *primaryParser) root() (xml.StartElement, error) {
	for {
		tok, err := p.token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name != metadataName {
				return xml.StartElement{}, fmt.Errorf("%w: root element is <%s> in namespace %s, want <metadata> in %s",
					ErrMalformed, t.Name.Local, show(t.Name.Space), nsCommon)
			}
			return t, nil
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) != 0 {
				return xml.StartElement{}, fmt.Errorf("%w: text before the root element", ErrMalformed)
			}
		}
	}
}

// skip consumes the rest of the element whose start was just read.
func (p *primaryParser) skip() error {
	for end := p.depth - 1; p.depth > end; {
		if _, err := p.token(); err != nil {
			return err
		}
	}
	return nil
}

func checkCount(root xml.StartElement, listed int) error {
	v, ok := attr(root, "packages")
	if !ok {
		return nil
	}
	declared, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%w: <metadata packages=%s> is not a number", ErrMalformed, show(v))
	}
	if declared != listed {
		return fmt.Errorf("%w: <metadata> declares %d packages but lists %d", ErrMalformed, declared, listed)
	}
	return nil
}

// rawPackage collects a package's fields as found, for validation once the
// package is complete and its NEVRA can name it in errors.
type rawPackage struct {
	Package
	sumType, sum, size string
	seen               map[string]bool
}

// pkg reads the rest of the n-th <package>.
func (p *primaryParser) pkg(n int) (Package, error) {
	raw := rawPackage{seen: map[string]bool{}}
	for {
		tok, err := p.token()
		if err != nil {
			return Package{}, fmt.Errorf("package #%d%s: %w", n, raw.label(), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := p.field(&raw, t); err != nil {
				return Package{}, fmt.Errorf("package #%d%s: %w", n, raw.label(), err)
			}
		case xml.EndElement:
			pkg, err := raw.validate()
			if err != nil {
				return Package{}, fmt.Errorf("package #%d%s: %w", n, raw.label(), err)
			}
			return pkg, nil
		}
	}
}

func (p *primaryParser) field(raw *rawPackage, t xml.StartElement) error {
	name := t.Name.Local
	switch {
	case t.Name.Space != nsCommon:
		return p.skip()
	case name != "name" && name != "arch" && name != "version" && name != "checksum" &&
		name != "size" && name != "location":
		return p.skip()
	case raw.seen[name]:
		// Clients may read the first where we would read the last.
		return fmt.Errorf("%w: more than one <%s>", ErrMalformed, name)
	}
	raw.seen[name] = true

	var err error
	switch name {
	case "name":
		raw.Name, err = p.text()
		return err
	case "arch":
		raw.Arch, err = p.text()
		return err
	case "checksum":
		raw.sumType, _ = attr(t, "type")
		raw.sum, err = p.text()
		return err
	case "version":
		raw.Epoch, _ = attr(t, "epoch")
		raw.Version, _ = attr(t, "ver")
		raw.Release, _ = attr(t, "rel")
	case "size":
		raw.size, _ = attr(t, "package")
	case "location":
		raw.Href, _ = attr(t, "href")
	}
	return p.skip()
}

func (p *primaryParser) text() (string, error) {
	s, err := readText(p.d)
	if err == nil {
		p.depth-- // readText consumed the end element
	}
	return s, err
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
	if !raw.seen["checksum"] {
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
	if !raw.seen["location"] {
		return Package{}, fmt.Errorf("%w: no <location>", ErrMalformed)
	}
	if err := CheckHref(pkg.Href); err != nil {
		return Package{}, fmt.Errorf("location: %w", err)
	}
	return pkg, nil
}

// checkNEVRAField keeps NEVRA parts to what rpm itself allows, so that they
// can go into manifests, file names and log lines without escaping.
func checkNEVRAField(what, v, forbidden string) error {
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
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		why = "contains white space or a control character"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s %s: %s", ErrMalformed, what, show(v), why)
}
