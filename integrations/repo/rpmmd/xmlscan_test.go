package rpmmd

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// scanLimit is the token limit of the scanner tests: small, so that the
// over-long cases stay small too.
const scanLimit = 64

// refTokens is what encoding/xml, behind tokenGuard, makes of doc: one line
// per token, then the error that ended the stream ("" at a clean EOF).
func refTokens(doc string) ([]string, error) {
	d := xml.NewDecoder(&tokenGuard{r: strings.NewReader(doc), max: scanLimit})
	var out []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line := "start " + t.Name.Space + " " + t.Name.Local
			for _, a := range t.Attr {
				line += fmt.Sprintf(" %s|%s=%q", a.Name.Space, a.Name.Local, a.Value)
			}
			out = append(out, line)
		case xml.EndElement:
			out = append(out, "end "+t.Name.Local)
		case xml.CharData:
			out = append(out, fmt.Sprintf("text %q", string(t)))
		case xml.Comment:
			out = append(out, "other")
		case xml.ProcInst:
			out = append(out, "other "+t.Target)
		default:
			return out, fmt.Errorf("unexpected token %T", tok)
		}
	}
}

// scanTokens is the same through xmlScanner, read through r with a first
// buffer of size bytes.
func scanTokens(r io.Reader, size int) ([]string, error) {
	s := newXMLScanner(r, scanLimit, size)
	var out []string
	for {
		kind, err := s.next()
		if err != nil {
			return out, err
		}
		switch kind {
		case tokEOF:
			return out, nil
		case tokStart:
			line := "start " + s.elemSpace() + " " + string(s.local)
			for _, a := range s.attrs {
				line += fmt.Sprintf(" %s|%s=%q", s.attrSpace(s.prefixOf(a)), s.bytes(a.local), s.value(a))
			}
			out = append(out, line)
		case tokEnd:
			out = append(out, "end "+string(s.local))
		case tokText:
			out = append(out, fmt.Sprintf("text %q", s.appendText(nil)))
		case tokOther:
			line := "other"
			if s.target != nil {
				line += " " + string(s.target)
			}
			out = append(out, line)
		}
	}
}

var lineNumber = regexp.MustCompile(`on line \d+`)

// requireSameTokens holds the scanner to encoding/xml on doc, read whole,
// with a buffer that cuts every token, and a byte at a time: the same
// tokens, and the same error message (line numbers aside) where it fails.
// The differences allowed: the scanner refuses an attribute given twice,
// which encoding/xml lets through, and refuses an over-long text without
// handing out its first part.
func requireSameTokens(t *testing.T, doc string) {
	t.Helper()
	want, wantErr := refTokens(doc)
	// encoding/xml hands out the part of an over-long text that tokenGuard
	// let through before failing; the scanner refuses it whole.
	cutText := wantErr != nil && strings.Contains(wantErr.Error(), "token is longer") &&
		len(want) > 0 && strings.HasPrefix(want[len(want)-1], "text ")
	for _, read := range []struct {
		name string
		r    io.Reader
		size int
	}{
		{"whole", strings.NewReader(doc), 4096},
		{"tiny buffer", strings.NewReader(doc), 3},
		{"byte by byte", iotest.OneByteReader(strings.NewReader(doc)), 1},
	} {
		got, err := scanTokens(read.r, read.size)
		if err != nil && strings.Contains(err.Error(), "more than once") {
			// Stricter than encoding/xml: it must have read the same so far.
			require.True(t, len(got) <= len(want) && slices.Equal(want[:len(got)], got), "%s: %q", read.name, doc)
			continue
		}
		require.True(t, slices.Equal(want, got) || cutText && slices.Equal(want[:len(want)-1], got),
			"%s: %q\nencoding/xml: %q\nscanner:      %q", read.name, doc, want, got)
		if wantErr == nil {
			require.NoError(t, err, "%s: %q", read.name, doc)
			continue
		}
		require.Error(t, err, "%s: %q; encoding/xml: %v", read.name, doc, wantErr)
		require.Equal(t, lineNumber.ReplaceAllString(wantErr.Error(), "on line N"),
			lineNumber.ReplaceAllString(err.Error(), "on line N"), "%s: %q", read.name, doc)
		require.Equal(t, errors.Is(wantErr, ErrMalformed), errors.Is(err, ErrMalformed))
	}
}

// scanSeeds are XML documents that reach every path of the scanner, valid
// and not; the fuzz targets start from them.
var scanSeeds = []string{
	``,
	`<a/>`,
	`<a></a>`,
	`<?xml version="1.0" encoding="UTF-8"?>` + "\n<a>text</a>\n",
	`<?xml version="1.1"?><a/>`,
	`<?xml version="1.0" encoding="latin1"?><a/>`,
	`<?xml-stylesheet href="x"?><a/>`,
	`<?x?><a/>`,
	`<??><a/>`,
	`<?1x ?><a/>`,
	`<a b="1" c='2' d = "3"/>`,
	`<a b="1"c="2"/>`,
	`<a b=1/>`,
	`<a b/>`,
	`<a b="x<y"/>`,
	`<a b="x>y"/>`,
	`<a b="]]>"/>`,
	`<a b="&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x1F600;"/>`,
	`<a b="&#xD800;&#0;"/>`,
	`<a b="&#1;"/>`,
	`<a b="&#x110000;"/>`,
	`<a b="&#99999999999999999999;"/>`,
	`<a b="&foo;"/>`,
	`<a b="&lt"/>`,
	`<a b="&"/>`,
	`<a b="&#X41;"/>`,
	`<a b="&#;"/>`,
	`<a b="&é;"/>`,
	`<a b="x` + "\r\n" + `y` + "\r" + `z"/>`,
	`<a b="1" b="2"/>`,
	`<a xmlns:p="u" xmlns:q="u" p:b="1" q:b="2"/>`,
	`<a xmlns:p="" p:b="1" b="2"/>`,
	`<a b="1" b2="2" b3="3" b4="4" b5="5" b6="6" b7="7" b8="8" b="9"/>`,
	`<a b="unterminated`,
	`<a b="é` + "\xff" + `"/>`,
	`<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;</a>`,
	`<a>&amp</a>`,
	`<a>&amp`,
	`<a>&`,
	`<a>x]]>y</a>`,
	`<a>x]]y]>z</a>`,
	`<a>` + "\r\n\r\r\n" + `</a>`,
	`<a>` + "\x01" + `</a>`,
	`<a>` + "\xef\xbf\xbe" + `</a>`,
	`<a>` + "\xc3" + `</a>`,
	`<a>ünïcödé ☃ 😀</a>`,
	`<a><![CDATA[<x>&amp;]]></a>`,
	`<a><![CDATA[]]></a>`,
	`<a><![CDATA[x` + "\r\n" + `]]]></a>`,
	`<a><![CDATA[never ends`,
	`<a><![CDAT[x]]></a>`,
	`<a><!-- c --></a>`,
	`<a><!----></a>`,
	`<a><!-- -- --></a>`,
	`<a><!-- x ---></a>`,
	`<a><!-x--></a>`,
	`<a><!--x-</a>`,
	`<!DOCTYPE a><a/>`,
	`<a><!ENTITY x "y"></a>`,
	`<a></b>`,
	`<p:a xmlns:p="u"></q:a>`,
	`<p:a xmlns:p="u"></a>`,
	`<a></p:a>`,
	`</a>`,
	`<a>`,
	`<a><b></a>`,
	`< a/>`,
	`<1a/>`,
	`<a:b:c/>`,
	`<:a/>`,
	`<a:/>`,
	`<é/>`,
	`<aé:bé/>`,
	"<a\xff/>",
	`<a/ >`,
	`<a></a x>`,
	`<a></a  >`,
	`<a></>`,
	`<a xmlns="u"><b xmlns=""><c/></b><d/></a>`,
	`<a xmlns:p="u1"><p:b xmlns:p="u2" p:x="1"/><p:c p:y="2"/></a>`,
	`<a xml:base="http://x/" xml:lang="en"/>`,
	`<xmlns/>`,
	`<a xmlns:xmlns="x" xmlns:="y"/>`,
	`<unbound:a unbound:b="1"/>`,
	`<a>` + strings.Repeat("x", scanLimit) + `</a>`,
	`<a>` + strings.Repeat("x", scanLimit+1) + `</a>`,
	`<a b="` + strings.Repeat("x", scanLimit-7) + `"/>`,
	`<a b="` + strings.Repeat("x", scanLimit-6) + `"/>`,
	`<!--` + strings.Repeat("x", scanLimit) + `-->`,
	`<a><![CDATA[` + strings.Repeat("x", scanLimit) + `]]></a>`,
	`<?pi ` + strings.Repeat("x", scanLimit) + `?>`,
	strings.Repeat(" ", scanLimit+1) + `<a/>`,
	strings.Repeat(" ", scanLimit) + `<a/>` + strings.Repeat(" ", scanLimit+1),
	"\ufeff<a/>",
	`<a/><b/>`,
	`<a/>trailing`,
}

func TestXMLScannerAgreesWithEncodingXML(t *testing.T) {
	for _, doc := range scanSeeds {
		requireSameTokens(t, doc)
	}
	requireSameTokens(t, primaryDoc(` packages="1"`, pkgElem("a", "sha256", sha256Zero, loc("a.rpm"))))
}

func FuzzXMLScanner(f *testing.F) {
	for _, doc := range scanSeeds {
		f.Add(doc)
	}
	f.Fuzz(requireSameTokens)
}
