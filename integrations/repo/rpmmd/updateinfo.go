package rpmmd

import (
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Advisory is one <update> of updateinfo.xml: an erratum such as
// RHSA-2025:0101 and the package builds that carry its fix.
type Advisory struct {
	ID         string
	Type       string // security, bugfix, enhancement, newpackage (or whatever upstream says)
	Severity   string // Critical, Important, Moderate, Low, or "" when not rated
	Title      string
	Issued     time.Time // zero when the advisory has no <issued>
	References []Reference
	Packages   []AdvisoryPackage
}

// CVEs returns the IDs of the advisory's CVE references, in order.
func (a Advisory) CVEs() []string {
	var ids []string
	for _, r := range a.References {
		if r.Type == "cve" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Reference is one <reference>: a CVE, a bug, the advisory's own page.
type Reference struct {
	Type, ID, Href, Title string
}

// AdvisoryPackage is one <package> of a <pkglist>: a build that fixes the
// advisory.
type AdvisoryPackage struct {
	Name, Epoch, Version, Release, Arch string // Epoch is "0" when absent
	Filename                            string
}

// Limits of one advisory: real ones list tens of packages and references
// (a kernel erratum about a hundred), so these only stop a hostile file
// from making one <update> eat the memory.
const (
	maxAdvisoryPackages   = 100000
	maxAdvisoryReferences = 10000
	maxAdvisoryText       = 4096 // id, title, severity...
)

// ParseUpdateinfo stream-parses updateinfo.xml (already decompressed) and
// calls fn once per <update>, so memory stays bounded by one advisory. It
// follows the format createrepo_c's modifyrepo_c and the Fedora, RHEL and
// EPEL tooling write: <updates> holding <update type="..."> with <id>,
// <title>, <issued date>, <severity>, <references> and <pkglist>; other
// elements (description, solution, rights...) are skipped.
//
// It is strict the way ParsePrimary is: DOCTYPE and other directives,
// oversized tokens or text, deep nesting, a missing id or type, an
// unreadable date and package fields rpm would not accept are refused with
// an error wrapping ErrMalformed that names the advisory; an error from fn
// is returned wrapped with the advisory's ID; errors of r are passed
// through.
func ParseUpdateinfo(r io.Reader, fn func(Advisory) error) error {
	src := &sourceReader{r: r}
	p := &uiParser{d: newXMLDecoder(src)}
	err := p.parse(fn)
	switch {
	case err == nil:
		return nil
	case p.fnFailed:
		return err
	}
	return src.classify("updateinfo.xml", err)
}

type uiParser struct {
	d        *xml.Decoder
	depth    int
	fnFailed bool
}

func (p *uiParser) token() (xml.Token, error) {
	tok, err := p.d.Token()
	if err != nil {
		return nil, err
	}
	switch tok.(type) {
	case xml.StartElement:
		if p.depth++; p.depth > maxDepth {
			return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, maxDepth)
		}
	case xml.EndElement:
		p.depth--
	}
	return tok, nil
}

// skip consumes the rest of the element whose start was just read.
func (p *uiParser) skip() error {
	for end := p.depth - 1; p.depth > end; {
		if _, err := p.token(); err != nil {
			return err
		}
	}
	return nil
}

// text reads the text of the element whose start was just read.
func (p *uiParser) text(what string) (string, error) {
	s, err := readText(p.d)
	p.depth--
	if err != nil {
		return "", fmt.Errorf("<%s>: %w", what, err)
	}
	if len(s) > maxAdvisoryText || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: <%s> is longer than %d bytes or not UTF-8", ErrMalformed, what, maxAdvisoryText)
	}
	return s, nil
}

// children calls fn with each child element of the element whose start was
// just read, up to its end; fn consumes the child. With want set, every
// child must be called so. Text between children is refused, white space
// aside.
func (p *uiParser) children(parent, want string, fn func(xml.StartElement) error) error {
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if want != "" && t.Name.Local != want {
				return fmt.Errorf("%w: <%s> in <%s>, want <%s>", ErrMalformed, t.Name.Local, parent, want)
			}
			if err := fn(t); err != nil {
				return err
			}
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) != 0 {
				return fmt.Errorf("%w: text in <%s>", ErrMalformed, parent)
			}
		case xml.EndElement:
			return nil
		}
	}
}

func (p *uiParser) parse(fn func(Advisory) error) error {
	for {
		tok, err := p.token()
		if err != nil {
			return err
		}
		if t, ok := tok.(xml.CharData); ok && len(strings.TrimSpace(string(t))) != 0 {
			return fmt.Errorf("%w: text before the root element", ErrMalformed)
		}
		if t, ok := tok.(xml.StartElement); ok {
			if t.Name.Local != "updates" || t.Name.Space != "" {
				return fmt.Errorf("%w: root element is <%s> in namespace %s, want <updates>", ErrMalformed, t.Name.Local, show(t.Name.Space))
			}
			break
		}
	}
	n := 0
	err := p.children("updates", "update", func(t xml.StartElement) error {
		n++
		a, err := p.update(t, n)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			p.fnFailed = true
			return fmt.Errorf("advisory %s: %w", a.ID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return expectEOF(p.d)
}

// update reads the rest of the n-th <update>.
func (p *uiParser) update(start xml.StartElement, n int) (Advisory, error) {
	a := Advisory{}
	a.Type, _ = attr(start, "type")
	seen := map[string]bool{}
	err := p.children("update", "", func(t xml.StartElement) error {
		name := t.Name.Local
		if single[name] {
			if seen[name] {
				return fmt.Errorf("%w: <%s> given twice", ErrMalformed, name)
			}
			seen[name] = true
		}
		return p.field(&a, t)
	})
	if err == nil {
		err = a.validate()
	}
	if err != nil {
		label := ""
		if a.ID != "" {
			label = " " + a.ID
		}
		return Advisory{}, fmt.Errorf("advisory #%d%s: %w", n, label, err)
	}
	return a, nil
}

// single are the elements an <update> has at most once: a second one would
// leave readers disagreeing on which counts.
var single = map[string]bool{"id": true, "title": true, "issued": true, "severity": true, "references": true, "pkglist": true}

func (p *uiParser) field(a *Advisory, t xml.StartElement) error {
	var err error
	switch t.Name.Local {
	case "id":
		a.ID, err = p.text("id")
	case "title":
		a.Title, err = p.text("title")
	case "severity":
		a.Severity, err = p.text("severity")
	case "issued":
		if a.Issued, err = parseIssued(t); err != nil {
			return err
		}
		return p.skip()
	case "references":
		return p.children("references", "reference", func(t xml.StartElement) error {
			if len(a.References) == maxAdvisoryReferences {
				return fmt.Errorf("%w: more than %d references", ErrMalformed, maxAdvisoryReferences)
			}
			var r Reference
			r.Type, _ = attr(t, "type")
			r.ID, _ = attr(t, "id")
			r.Href, _ = attr(t, "href")
			r.Title, _ = attr(t, "title")
			if r.Type == "cve" && !cveRE.MatchString(r.ID) {
				return fmt.Errorf("%w: CVE reference with id %s", ErrMalformed, show(r.ID))
			}
			a.References = append(a.References, r)
			return p.skip()
		})
	case "pkglist":
		return p.children("pkglist", "collection", func(xml.StartElement) error { return p.collection(a) })
	default:
		return p.skip()
	}
	return err
}

var cveRE = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,}$`)

// collection reads the <name>, <module> and <package>s of a <collection>.
func (p *uiParser) collection(a *Advisory) error {
	return p.children("collection", "", func(t xml.StartElement) error {
		switch t.Name.Local {
		case "name":
			_, err := p.text("name")
			return err
		case "module": // the module stream the packages belong to
			return p.skip()
		case "package":
			if len(a.Packages) == maxAdvisoryPackages {
				return fmt.Errorf("%w: more than %d packages", ErrMalformed, maxAdvisoryPackages)
			}
			pkg, err := p.pkg(t)
			if err != nil {
				return err
			}
			a.Packages = append(a.Packages, pkg)
			return nil
		}
		return fmt.Errorf("%w: <%s> in <collection>", ErrMalformed, t.Name.Local)
	})
}

func (p *uiParser) pkg(t xml.StartElement) (AdvisoryPackage, error) {
	var pkg AdvisoryPackage
	pkg.Name, _ = attr(t, "name")
	pkg.Epoch, _ = attr(t, "epoch")
	pkg.Version, _ = attr(t, "version")
	pkg.Release, _ = attr(t, "release")
	pkg.Arch, _ = attr(t, "arch")
	if pkg.Epoch == "" {
		pkg.Epoch = "0"
	}
	for _, f := range []struct{ what, v, forbidden string }{
		{"name", pkg.Name, ""}, {"epoch", pkg.Epoch, ":-"}, {"version", pkg.Version, ":-"},
		{"release", pkg.Release, ":-"}, {"arch", pkg.Arch, ":-."},
	} {
		if err := checkNEVRAField("package "+f.what, f.v, f.forbidden); err != nil {
			return AdvisoryPackage{}, err
		}
	}
	if _, err := strconv.ParseUint(pkg.Epoch, 10, 32); err != nil {
		return AdvisoryPackage{}, fmt.Errorf("%w: package %s: epoch %s is not a number", ErrMalformed, pkg.Name, show(pkg.Epoch))
	}
	err := p.children("package", "", func(t xml.StartElement) error {
		if t.Name.Local != "filename" {
			return p.skip() // sum, reboot_suggested, ...
		}
		var err error
		pkg.Filename, err = p.text("filename")
		return err
	})
	return pkg, err
}

// parseIssued reads <issued date="...">, written "2025-03-02 00:00:00"
// (createrepo_c, RHEL), "2025-03-02" or as seconds since the epoch (some
// generators), always in UTC.
func parseIssued(t xml.StartElement) (time.Time, error) {
	v, ok := attr(t, "date")
	if !ok || v == "" {
		return time.Time{}, fmt.Errorf("%w: <issued> has no date", ErrMalformed)
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02", time.RFC3339} {
		if d, err := time.Parse(layout, v); err == nil {
			return d.UTC(), nil
		}
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
		return time.Unix(s, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: <issued date=%s> is not a date", ErrMalformed, show(v))
}

func (a Advisory) validate() error {
	switch {
	case a.ID == "":
		return fmt.Errorf("%w: no <id>", ErrMalformed)
	case strings.ContainsFunc(a.ID, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("%w: id %s contains white space or a control character", ErrMalformed, show(a.ID))
	case a.Type == "":
		return fmt.Errorf("%w: <update> has no type", ErrMalformed)
	case strings.ContainsFunc(a.Type, func(r rune) bool { return !(r >= 'a' && r <= 'z') }):
		return fmt.Errorf("%w: type %s", ErrMalformed, show(a.Type))
	}
	return nil
}
