package rpmmd

import (
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

// The fuzz targets of the rpm-md parsers. `go test` (and so make test) runs
// their seeds and the inputs under testdata/fuzz; `go test -fuzz FuzzX
// -fuzztime 5m ./integrations/repo/rpmmd` searches for more.

// parsed is what a primary parser delivered before it stopped, and why.
type parsed struct {
	pkgs []Package
	err  error
}

func parseWith(parse func(io.Reader, string, func(Package) error) error, r io.Reader, base string) parsed {
	var out parsed
	out.err = parse(r, base, func(p Package) error {
		out.pkgs = append(out.pkgs, p)
		return nil
	})
	return out
}

// stricterThanStd marks the errors the fast parser adds to encoding/xml's:
// an attribute given twice, and element names stacked past maxNames.
var stricterThanStd = regexp.MustCompile(`given more than once|element names nested more than`)

// requireSamePrimary holds ParsePrimary to the encoding/xml parser it
// replaced: the same packages, in order, and the same error (its line
// number aside), read whole and a byte at a time through a tiny buffer.
func requireSamePrimary(t *testing.T, doc, base string) {
	t.Helper()
	want := parseWith(parsePrimaryStd, strings.NewReader(doc), base)
	tiny := func(r io.Reader, base string, fn func(Package) error) error { return parsePrimary(r, base, fn, 3) }
	for _, got := range []parsed{
		parseWith(ParsePrimary, strings.NewReader(doc), base),
		parseWith(tiny, iotest.OneByteReader(strings.NewReader(doc)), base),
	} {
		if got.err != nil && stricterThanStd.MatchString(got.err.Error()) {
			require.ErrorIs(t, got.err, ErrMalformed)
			require.True(t, len(got.pkgs) <= len(want.pkgs) && slices.Equal(got.pkgs, want.pkgs[:len(got.pkgs)]), "%q", doc)
			continue
		}
		require.Equal(t, want.pkgs, got.pkgs, "%q", doc)
		if want.err == nil {
			require.NoError(t, got.err, "%q", doc)
			continue
		}
		require.Error(t, got.err, "%q: encoding/xml: %v", doc, want.err)
		require.Equal(t, lineNumber.ReplaceAllString(want.err.Error(), "on line N"),
			lineNumber.ReplaceAllString(got.err.Error(), "on line N"), "%q", doc)
		require.ErrorIs(t, got.err, ErrMalformed)
	}
}

const fuzzBase = "https://mirror.example/repo"

// primarySeeds are primary.xml documents, valid and hostile, in the shapes
// createrepo_c and other generators write and a few they never would.
func primarySeeds() []string {
	good := pkgElem("good", "sha256", sha256Zero, loc("Packages/good.rpm"))
	seeds := []string{
		primaryDoc(` packages="2"`, good, good),
		primaryDoc("", good),
		primaryDoc(` packages="0"`),
		primaryDoc(` packages=" 1 "`, good),
		primaryDoc(` packages="x"`, good),
		primaryDoc(` packages="3"`, good, good),
		string(realisticPrimary(3)),
		strings.ReplaceAll(primaryDoc("", good), "\n", "\r\n"),
		strings.Replace(primaryDoc("", good), "<name>good</name>", "<name> <![CDATA[go]]><!-- split -->od\n</name>", 1),
		strings.Replace(primaryDoc("", good), "<name>good</name>", "<name>g&#111;&#x6f;d</name>", 1),
		strings.Replace(primaryDoc("", good), "<name>good</name>", "<name>go<x/>od</name>", 1),
		strings.Replace(primaryDoc("", good), "<name>good</name>", "<name>good</name><name>evil</name>", 1),
		strings.Replace(primaryDoc("", good), "<name>good</name>", "<rpm:name>evil</rpm:name><name>good</name>", 1),
		strings.Replace(primaryDoc("", good), `<version epoch="0"`, `<version epoch="7"`, 1),
		strings.Replace(primaryDoc("", good), `<version epoch="0" `, ``, 1),
		strings.Replace(primaryDoc("", good), `ver="1.0"`, `ver="1.0&#10;"`, 1),
		strings.Replace(primaryDoc("", good), `href="Packages/good.rpm"`, `href="Packages/g&amp;d.rpm"`, 1),
		strings.Replace(primaryDoc("", good), `href="Packages/good.rpm"`, `href="Packages/good.rpm" href="../evil.rpm"`, 1),
		strings.Replace(primaryDoc("", good), "<location ", `<location xml:base="`+fuzzBase+`/" `, 1),
		strings.Replace(primaryDoc("", good), "<location ", `<location xml:base="https://evil.example/" `, 1),
		strings.Replace(primaryDoc("", good), "<location ", `<location xmlns:b="http://www.w3.org/XML/1998/namespace" b:base="https://evil.example/" `, 1),
		strings.Replace(primaryDoc("", good), "<format>", `<format xml:base="https://evil.example/">`, 1),
		strings.Replace(primaryDoc("", good), `<checksum type="sha256" pkgid="YES">`, `<checksum type="SHA256" pkgid="YES">`, 1),
		strings.Replace(primaryDoc("", good), sha256Zero, strings.ToUpper(sha256Zero), 1),
		strings.Replace(primaryDoc("", good), `package="100"`, `package="99999999999999999999"`, 1),
		strings.Replace(primaryDoc("", good), "<format>", "<format>"+strings.Repeat("<x>", 70)+strings.Repeat("</x>", 70), 1),
		`<c:metadata xmlns:c="http://linux.duke.edu/metadata/common"><c:package><c:name>p</c:name><c:arch>noarch</c:arch>` +
			`<c:version ver="1" rel="1"/><c:checksum type="sha256">` + sha256Zero + `</c:checksum><c:size package="1"/>` +
			`<c:location href="p.rpm"/></c:package></c:metadata>`,
		`<metadata xmlns="http://linux.duke.edu/metadata/common"><package xmlns="other"><name>p</name></package></metadata>`,
		`<metadata xmlns="http://linux.duke.edu/metadata/common"/>`,
		`<metadata xmlns="http://linux.duke.edu/metadata/common"></metadata><!-- after --><?pi?>` + "\n",
		`<metadata xmlns="http://linux.duke.edu/metadata/common"></metadata>x`,
		`<metadata xmlns="http://linux.duke.edu/metadata/common"></metadata><metadata/>`,
		`x<metadata xmlns="http://linux.duke.edu/metadata/common"></metadata>`,
		"\ufeff" + `<metadata xmlns="http://linux.duke.edu/metadata/common"></metadata>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><metadata xmlns="http://linux.duke.edu/metadata/common"></metadata>`,
		`<!DOCTYPE m><metadata xmlns="http://linux.duke.edu/metadata/common"></metadata>`,
		`<metadata xmlns="http://linux.duke.edu/metadata/common"><package>`,
		"",
	}
	return seeds
}

func TestParsePrimaryAgreesWithEncodingXML(t *testing.T) {
	for _, doc := range primarySeeds() {
		requireSamePrimary(t, doc, fuzzBase)
	}
}

func FuzzParsePrimary(f *testing.F) {
	for _, doc := range primarySeeds() {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) { requireSamePrimary(t, doc, fuzzBase) })
}

// FuzzParseRepomd checks what ParseRepomd promises of anything it accepts,
// and that it refuses everything else as malformed (the input is in
// memory: no transport error can occur).
func FuzzParseRepomd(f *testing.F) {
	ok := dataElem("primary", "repodata/p.xml.gz", "sha256", sha256Zero)
	for _, doc := range []string{
		repomdDoc(ok),
		repomdDoc(ok, dataElem("filelists", "repodata/f.xml.zst", "sha512", strings.Repeat("ab", 64),
			`<open-checksum type="sha256">`+sha256Zero+`</open-checksum>`)),
		repomdDoc(),
		repomdDoc(ok, ok),
		repomdDoc(strings.Replace(ok, "<location ", `<location xml:base="http://evil.example/" `, 1)),
		repomdDoc(dataElem("primary", "../p.xml.gz", "md5", md5Zero)),
		repomdDoc(strings.Replace(ok, "1700000000", "1700000000.5", 1)),
		repomdDoc(ok)[:200],
		`<repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision><revision>2</revision></repomd>`,
	} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		lim := Limits{RepomdBytes: 1 << 16, MetadataBytes: 1 << 20, OpenBytes: 1 << 22}
		m, err := ParseRepomd(strings.NewReader(doc), lim)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, "repomd.xml")
			return
		}
		again, err := ParseRepomd(strings.NewReader(doc), lim)
		require.NoError(t, err)
		require.Equal(t, m, again)
		types := map[string]bool{}
		for _, d := range m.Data {
			require.True(t, plainType(d.Type), d.Type)
			require.False(t, types[d.Type], "type %s twice", d.Type)
			types[d.Type] = true
			require.NoError(t, CheckHref(d.Href))
			for _, c := range []*Checksum{&d.Checksum, d.OpenChecksum} {
				if c == nil {
					continue
				}
				h, err := NewHash(c.Algo)
				require.NoError(t, err)
				require.Len(t, c.Hex, 2*h.Size())
				require.Equal(t, strings.ToLower(c.Hex), c.Hex)
			}
			require.True(t, d.Size >= 0 && d.Size <= lim.MetadataBytes, "size %d", d.Size)
			require.True(t, d.OpenSize >= 0 && d.OpenSize <= lim.OpenBytes, "open size %d", d.OpenSize)
			require.GreaterOrEqual(t, d.Timestamp, int64(0))
		}
	})
}

// TestParsePrimaryMessagesUnchanged pins a few of the errors users see, in
// full: the fast parser must word them as the encoding/xml parser did.
func TestParsePrimaryMessagesUnchanged(t *testing.T) {
	good := pkgElem("good", "sha256", sha256Zero, loc("Packages/good.rpm"))
	for _, tc := range []struct{ doc, want string }{
		{primaryDoc("", good, "<package><name>x</nam></package>"),
			"primary.xml: malformed repository metadata: package #2: XML syntax error on line 4: element <name> closed by </nam>"},
		{primaryDoc("", strings.Replace(good, "<name>good", "<name>go&od", 1)),
			"primary.xml: malformed repository metadata: package #1: XML syntax error on line 3: invalid character entity &od (no semicolon)"},
		{`<metadata xmlns="http://linux.duke.edu/metadata/common"><package>`,
			"primary.xml: malformed repository metadata: package #1: XML syntax error on line 1: unexpected EOF"},
		{"", "primary.xml: malformed repository metadata: EOF"},
	} {
		err := ParsePrimary(strings.NewReader(tc.doc), "", func(Package) error { return nil })
		require.EqualError(t, err, tc.want)
		require.True(t, errors.Is(err, ErrMalformed))
		require.EqualError(t, parseWith(parsePrimaryStd, strings.NewReader(tc.doc), "").err, tc.want,
			fmt.Sprintf("the reference parser words it so too: %q", tc.doc))
	}
}
