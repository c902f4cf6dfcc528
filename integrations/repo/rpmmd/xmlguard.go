package rpmmd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	nsRepo   = "http://linux.duke.edu/metadata/repo"
	nsCommon = "http://linux.duke.edu/metadata/common"
	nsXML    = "http://www.w3.org/XML/1998/namespace"

	// maxToken bounds one XML token (a text node, tag, comment, CDATA
	// section). encoding/xml holds a whole token in memory, so without it a
	// single multi-GiB description would be read into RAM. Real package
	// descriptions are a few KiB.
	maxToken = 16 * mib
	// maxDepth bounds element nesting, which encoding/xml keeps on a stack.
	// primary.xml nests five deep.
	maxDepth = 64
)

// newXMLDecoder returns a strict decoder over r whose tokens are bounded.
// encoding/xml never expands external or user-defined entities, so there is
// no entity expansion to defend against; directives are refused outright.
func newXMLDecoder(r io.Reader) *xml.Decoder {
	return xml.NewDecoder(&tokenGuard{r: r, max: maxToken})
}

// tokenGuard follows the lexical structure of XML just far enough to measure
// each token as encoding/xml will see it, and fails the read before a
// token grows past max bytes. It ends a token no later than encoding/xml
// does, so the decoder can never be holding a longer one.
type tokenGuard struct {
	r     io.Reader
	max   int64
	run   int64  // bytes in the current token
	state gState // where we are
	quote byte   // open attribute quote inside a tag
	bang  []byte // bytes after "<!" until we know what they start
	term  string // terminator of a comment, PI or CDATA section
	seen  int    // bytes of term matched
	err   error
}

type gState int

const (
	gText gState = iota
	gOpen
	gTag
	gBang
	gUntil
)

func (g *tokenGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i := 0; i < n; i++ {
		// Plain text is most of a file: skip to the next '<' at once.
		if g.state == gText {
			j := bytes.IndexByte(p[i:n], '<')
			if j < 0 {
				j = n - i
			}
			if g.run += int64(j); g.run > g.max {
				i += int(g.max - (g.run - int64(j)))
				g.err = g.tooLong()
				return i, g.err
			}
			if i += j; i == n {
				break
			}
		}
		if g.err = g.step(p[i]); g.err != nil {
			// Hand over only the bytes before the offending one.
			return i, g.err
		}
	}
	return n, err
}

func (g *tokenGuard) tooLong() error {
	return fmt.Errorf("%w: an XML token is longer than %d bytes", ErrMalformed, g.max)
}

func (g *tokenGuard) step(b byte) error {
	if g.state == gText && b == '<' {
		g.state, g.run = gOpen, 1
		return nil
	}
	g.run++
	if g.run > g.max {
		return g.tooLong()
	}
	switch g.state {
	case gOpen:
		switch b {
		case '!':
			g.state, g.bang = gBang, g.bang[:0]
		case '?':
			g.until("?>")
		default:
			g.state = gTag
			g.tag(b)
		}
	case gTag:
		g.tag(b)
	case gBang:
		g.bang = append(g.bang, b)
		switch s := string(g.bang); {
		case s == "--":
			g.until("-->")
		case s == "[CDATA[":
			g.until("]]>")
		case !strings.HasPrefix("--", s) && !strings.HasPrefix("[CDATA[", s):
			return fmt.Errorf("%w: XML directives such as DOCTYPE are not allowed", ErrMalformed)
		}
	case gUntil:
		g.seen = matched(g.term, g.seen, b)
		if g.seen == len(g.term) {
			g.state, g.run = gText, 0
		}
	}
	return nil
}

func (g *tokenGuard) tag(b byte) {
	switch {
	case g.quote != 0:
		if b == g.quote {
			g.quote = 0
		}
	case b == '"' || b == '\'':
		g.quote = b
	case b == '>':
		g.state, g.run = gText, 0
	}
}

func (g *tokenGuard) until(term string) {
	g.state, g.term, g.seen = gUntil, term, 0
}

// matched returns how much of term is matched after b, given that seen
// bytes were matched before: the longest suffix of term[:seen]+b that is a
// prefix of term.
func matched(term string, seen int, b byte) int {
	for k := min(seen+1, len(term)); k > 0; k-- {
		if term[k-1] == b && term[:k-1] == term[seen+1-k:seen] {
			return k
		}
	}
	return 0
}

// attr returns the value of the un-namespaced attribute local.
func attr(se xml.StartElement, local string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// xmlBase returns the element's xml:base attribute, if any.
func xmlBase(se xml.StartElement) (string, bool) {
	for _, a := range se.Attr {
		if (a.Name.Space == nsXML || a.Name.Space == "xml") && a.Name.Local == "base" {
			return a.Value, true
		}
	}
	return "", false
}

// expectEOF checks that nothing but comments, processing instructions and
// white space follows the root element: a second document glued to the
// first is how a truncated-and-extended file would slip through.
func expectEOF(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) != 0 {
				return fmt.Errorf("%w: text after the root element", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: content after the root element", ErrMalformed)
		}
	}
}

// readText returns the text content of the element whose start was just
// read, up to and including its end. Child elements are an error.
func readText(d *xml.Decoder) (string, error) {
	var sb strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			// Comments can split text into many tokens, each within maxToken.
			if sb.Len()+len(t) > maxToken {
				return "", fmt.Errorf("%w: text longer than %d bytes", ErrMalformed, maxToken)
			}
			sb.Write(t)
		case xml.EndElement:
			return strings.TrimSpace(sb.String()), nil
		case xml.StartElement:
			return "", fmt.Errorf("%w: unexpected element <%s> inside a text element", ErrMalformed, t.Name.Local)
		}
	}
}
