package rpmmd

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parsePrimaryStd is ParsePrimary as it was built on encoding/xml (behind
// tokenGuard), kept as the reference that the differential tests and fuzz
// targets hold the fast parser to.
func parsePrimaryStd(r io.Reader, repoBase string, fn func(Package) error) error {
	src := &sourceReader{r: r}
	p := &stdPrimaryParser{d: newXMLDecoder(src), base: strings.TrimRight(repoBase, "/"), fn: fn}
	if err := p.parse(); err != nil {
		if p.fnFailed {
			return err
		}
		return src.classify("primary.xml", err)
	}
	return nil
}

type stdPrimaryParser struct {
	d        *xml.Decoder
	base     string
	fn       func(Package) error
	fnFailed bool
	depth    int
}

var (
	stdMetadataName = xml.Name{Space: nsCommon, Local: "metadata"}
	stdPackageName  = xml.Name{Space: nsCommon, Local: "package"}
)

func (p *stdPrimaryParser) parse() error {
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
			if t.Name != stdPackageName {
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
			if err := stdCheckCount(root, listed); err != nil {
				return err
			}
			return expectEOF(p.d)
		}
	}
}

// token reads the next token, keeping track of depth and refusing a foreign
// xml:base on any element: XML Base is inherited, so one on <package> or
// <metadata> would move every <location> below it.
func (p *stdPrimaryParser) token() (xml.Token, error) {
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

func (p *stdPrimaryParser) root() (xml.StartElement, error) {
	for {
		tok, err := p.token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name != stdMetadataName {
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
func (p *stdPrimaryParser) skip() error {
	for end := p.depth - 1; p.depth > end; {
		if _, err := p.token(); err != nil {
			return err
		}
	}
	return nil
}

func stdCheckCount(root xml.StartElement, listed int) error {
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

// stdRawPackage collects a package's fields as found, for validation once the
// package is complete and its NEVRA can name it in errors.
type stdRawPackage struct {
	*rawPackage
	seen map[string]bool
}

// pkg reads the rest of the n-th <package>.
func (p *stdPrimaryParser) pkg(n int) (Package, error) {
	raw := stdRawPackage{rawPackage: &rawPackage{}, seen: map[string]bool{}}
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

func (p *stdPrimaryParser) field(raw *stdRawPackage, t xml.StartElement) error {
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
	bit, _ := packageField(name)
	raw.rawPackage.seen |= bit

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

func (p *stdPrimaryParser) text() (string, error) {
	s, err := readText(p.d)
	if err == nil {
		p.depth-- // readText consumed the end element
	}
	return s, err
}
