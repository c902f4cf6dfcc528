package rpmmd

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openPrimary follows repomd.xml to primary, checking its checksum the way
// a mirror does, and returns the stored bytes and their href.
func openPrimary(t *testing.T, dir string) (Data, []byte) {
	t.Helper()
	d, ok := readRepomd(t, dir).Find("primary")
	require.True(t, ok)
	raw, err := os.ReadFile(filepath.Join(dir, d.Href))
	require.NoError(t, err)
	h, err := NewHash(d.Checksum.Algo)
	require.NoError(t, err)
	h.Write(raw)
	require.Equal(t, d.Checksum.Hex, hex.EncodeToString(h.Sum(nil)))
	return d, raw
}

func collect(r io.Reader, base string) ([]Package, error) {
	var pkgs []Package
	err := ParsePrimary(r, base, func(p Package) error {
		pkgs = append(pkgs, p)
		return nil
	})
	return pkgs, err
}

func TestParsePrimaryCreaterepo(t *testing.T) {
	needTools(t, "rpmbuild")
	rpm, err := builtRPM()
	require.NoError(t, err)
	want := Package{
		Name: "osflow-hello", Epoch: "1", Version: "1.2.3", Release: "4", Arch: "noarch",
		Checksum: Checksum{Algo: "sha256", Hex: sha256Hex(rpm)},
		Size:     int64(len(rpm)),
		Href:     "Packages/" + testRPMName,
	}
	// createrepo_c here is built without zstd, so that case recompresses its
	// primary.xml with the zstd tool, as a repository built elsewhere has it.
	zstdCLI := func(t *testing.T, d Data, raw []byte) (Data, []byte) {
		d.Href = strings.TrimSuffix(d.Href, ".gz") + ".zst"
		return d, cliCompress(t, mustDecompress(t, "x.gz", raw), "zstd", "-c")
	}
	for _, tc := range []struct {
		name, ext  string
		args       []string
		recompress func(*testing.T, Data, []byte) (Data, []byte)
	}{
		{"gz", ".gz", nil, nil},
		{"xz", ".xz", []string{"--general-compress-type=xz"}, nil},
		{"bz2", ".bz2", []string{"--general-compress-type=bz2"}, nil},
		{"zstd", ".zst", nil, zstdCLI},
		{"sha512", ".gz", []string{"--checksum=sha512"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testRepo(t, false, tc.args...)
			d, raw := openPrimary(t, dir)
			if tc.recompress != nil {
				d, raw = tc.recompress(t, d, raw)
			}
			require.True(t, strings.HasSuffix(d.Href, "primary.xml"+tc.ext), d.Href)

			rc, err := Decompress(d.Href, bytes.NewReader(raw), d.OpenSize)
			require.NoError(t, err)
			defer rc.Close()
			pkgs, err := collect(rc, "")
			require.NoError(t, err)

			w := want
			if tc.name == "sha512" {
				h, _ := NewHash("sha512")
				h.Write(rpm)
				w.Checksum = Checksum{Algo: "sha512", Hex: hex.EncodeToString(h.Sum(nil))}
			}
			require.Equal(t, []Package{w}, pkgs)
		})
	}
	t.Run("empty repository", func(t *testing.T) {
		d, raw := openPrimary(t, testRepo(t, true))
		rc, err := Decompress(d.Href, bytes.NewReader(raw), d.OpenSize)
		require.NoError(t, err)
		pkgs, err := collect(rc, "")
		require.NoError(t, err)
		require.Empty(t, pkgs)
	})
	t.Run("truncated gz", func(t *testing.T) {
		d, raw := openPrimary(t, testRepo(t, false))
		for _, cut := range []int{len(raw) / 2, len(raw) - 4} {
			rc, err := Decompress(d.Href, bytes.NewReader(raw[:cut]), d.OpenSize)
			require.NoError(t, err)
			_, err = collect(rc, "")
			require.ErrorIs(t, err, ErrMalformed, "cut at %d of %d", cut, len(raw))
		}
	})
	t.Run("xml:base of the repository itself", func(t *testing.T) {
		dir := testRepo(t, false, "--baseurl=http://mirror.example/epel/9/")
		d, raw := openPrimary(t, dir)
		rc, err := Decompress(d.Href, bytes.NewReader(raw), d.OpenSize)
		require.NoError(t, err)
		pkgs, err := collect(rc, "http://mirror.example/epel/9")
		require.NoError(t, err)
		require.Equal(t, []Package{want}, pkgs)

		_, err = collect(bytes.NewReader(mustDecompress(t, d.Href, raw)), "http://other.example/epel/9/")
		require.ErrorIs(t, err, ErrMalformed)
		require.ErrorContains(t, err, "xml:base")
	})
}

func mustDecompress(t *testing.T, href string, raw []byte) []byte {
	t.Helper()
	out, err := decompressAll(href, raw, 1<<30)
	require.NoError(t, err)
	return out
}

// pkgElem renders one <package> for handcrafted primary.xml files.
func pkgElem(name, sumType, sum, location string) string {
	return fmt.Sprintf(`<package type="rpm"><name>%s</name><arch>noarch</arch>`+
		`<version epoch="0" ver="1.0" rel="1"/><checksum type=%q pkgid="YES">%s</checksum>`+
		`<summary>s</summary><description>d</description>`+
		`<size package="100" installed="0" archive="0"/>%s`+
		`<format><rpm:license>MIT</rpm:license><rpm:provides><rpm:entry name="x"/></rpm:provides><file>/usr/bin/x</file></format>`+
		`</package>`, name, sumType, sum, location)
}

func loc(href string) string { return fmt.Sprintf(`<location href=%q/>`, href) }

// primaryHead is everything up to the first <package>.
func primaryHead(count string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"` + count + ">\n"
}

func primaryDoc(count string, pkgs ...string) string {
	return primaryHead(count) + strings.Join(pkgs, "\n") + "\n</metadata>\n"
}

func TestParsePrimaryHandcrafted(t *testing.T) {
	good := pkgElem("good", "sha256", sha256Zero, loc("Packages/good.rpm"))
	goodPkg := Package{Name: "good", Epoch: "0", Version: "1.0", Release: "1", Arch: "noarch",
		Checksum: Checksum{"sha256", sha256Zero}, Size: 100, Href: "Packages/good.rpm"}
	const base = "https://mirror.example/repo/"
	for _, tc := range []struct {
		name string
		doc  string
		want string // "" parses
	}{
		{"valid", primaryDoc(` packages="2"`, good, good), ""},
		{"no count", primaryDoc("", good), ""},
		{"xml:base equals repo base", primaryDoc("", strings.Replace(good, "<location ", `<location xml:base="https://mirror.example/repo" `, 1)), ""},
		{"parent href", primaryDoc("", pkgElem("bad", "sha256", sha256Zero, loc("../../etc/passwd"))), "leaves the repository"},
		{"absolute href", primaryDoc("", pkgElem("bad", "sha256", sha256Zero, loc("/etc/passwd"))), "absolute"},
		{"http href", primaryDoc("", pkgElem("bad", "sha256", sha256Zero, loc("http://evil.example/x.rpm"))), "scheme"},
		{"xml:base other host", primaryDoc("", strings.Replace(good, "<location ", `<location xml:base="https://evil.example/repo/" `, 1)), "xml:base"},
		{"xml:base other path", primaryDoc("", strings.Replace(good, "<location ", `<location xml:base="https://mirror.example/other/" `, 1)), "xml:base"},
		{"xml:base on package", primaryDoc("", strings.Replace(good, `<package type="rpm">`, `<package type="rpm" xml:base="https://evil.example/">`, 1)), "xml:base"},
		{"xml:base on root", strings.Replace(primaryDoc("", good), "<metadata ", `<metadata xml:base="https://evil.example/" `, 1), "xml:base"},
		{"md5", primaryDoc("", pkgElem("weak", "md5", md5Zero, loc("weak.rpm"))), "weak or unknown checksum type md5"},
		{"sha1", primaryDoc("", pkgElem("weak", "sha", sha1Zero, loc("weak.rpm"))), "weak or unknown checksum type sha"},
		{"no checksum", primaryDoc("", strings.Replace(good, `<checksum type="sha256" pkgid="YES">`+sha256Zero+`</checksum>`, "", 1)), "no <checksum>"},
		{"no location", primaryDoc("", pkgElem("nol", "sha256", sha256Zero, "")), "no <location>"},
		{"two locations", primaryDoc("", pkgElem("two", "sha256", sha256Zero, loc("a.rpm")+loc("b.rpm"))), "more than one <location>"},
		{"bad size", primaryDoc("", strings.Replace(good, `package="100"`, `package="-5"`, 1)), "non-negative"},
		{"dash in version", primaryDoc("", strings.Replace(good, `ver="1.0"`, `ver="1.0-2"`, 1)), "version"},
		{"bad epoch", primaryDoc("", strings.Replace(good, `epoch="0"`, `epoch="x"`, 1)), "epoch"},
		{"newline in name", primaryDoc("", pkgElem("a\nb", "sha256", sha256Zero, loc("x.rpm"))), "white space"},
		{"no name", primaryDoc("", pkgElem("", "sha256", sha256Zero, loc("x.rpm"))), "name \"\": missing"},
		{"count too high", primaryDoc(` packages="3"`, good, good), "declares 3 packages but lists 2"},
		{"count too low", primaryDoc(` packages="1"`, good, good), "declares 1 packages but lists 2"},
		{"malformed XML", primaryDoc("", good, "<package><name>x</nam></package>"), "XML syntax error"},
		{"truncated", primaryDoc("", good, good)[:400], "unexpected EOF"},
		{"only a prolog", `<?xml version="1.0"?>`, "EOF"},
		{"empty", "", "EOF"},
		{"wrong root", `<repomd xmlns="http://linux.duke.edu/metadata/repo"/>`, "root element is <repomd>"},
		{"no namespace", `<metadata packages="0"></metadata>`, "root element is <metadata>"},
		{"second document", primaryDoc("", good) + primaryDoc("", good), "after the root element"},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]>` + primaryDoc("", good), "DOCTYPE"},
		{"deep nesting", primaryDoc("", strings.Replace(good, "<format>", "<format>"+strings.Repeat("<x>", 100)+strings.Repeat("</x>", 100), 1)), "nested deeper"},
		{"huge token", primaryDoc("", strings.Replace(good, "<description>d", "<description>"+strings.Repeat("d", maxToken+1), 1)), "XML token is longer"},
		{"huge text in pieces", primaryDoc("", strings.Replace(good, "<name>good", "<name>"+strings.Repeat(strings.Repeat("n", 1<<20)+"<!---->", 17), 1)), "text longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := collect(strings.NewReader(tc.doc), base)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotEmpty(t, pkgs)
				for _, p := range pkgs {
					require.Equal(t, goodPkg, p)
				}
				return
			}
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "primary.xml")
		})
	}
}

func TestParsePrimaryErrorsNamePackage(t *testing.T) {
	doc := primaryDoc("", pkgElem("good", "sha256", sha256Zero, loc("a.rpm")),
		pkgElem("evil", "sha256", sha256Zero, loc("../b.rpm")))
	var seen []string
	err := ParsePrimary(strings.NewReader(doc), "", func(p Package) error {
		seen = append(seen, p.Name)
		return nil
	})
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "package #2 evil-0:1.0-1.noarch: location")
	require.Equal(t, []string{"good"}, seen)
}

func TestParsePrimaryCallbackAndTransportErrors(t *testing.T) {
	doc := primaryDoc("", pkgElem("first", "sha256", sha256Zero, loc("a.rpm")),
		pkgElem("second", "sha256", sha256Zero, loc("b.rpm")))

	stop := errors.New("disk full")
	calls := 0
	err := ParsePrimary(strings.NewReader(doc), "", func(Package) error {
		calls++
		return stop
	})
	require.ErrorIs(t, err, stop)
	require.NotErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "first-0:1.0-1.noarch")
	require.Equal(t, 1, calls)

	broken := errors.New("connection reset")
	_, err = collect(prefixThenFail([]byte(doc[:300]), broken), "")
	require.ErrorIs(t, err, broken)
	require.NotErrorIs(t, err, ErrMalformed)
}

func TestParsePrimaryBomb(t *testing.T) {
	// Valid XML that never ends: white space after the root start tag,
	// 50 MB of it gzipped, opened with a 1 MB limit.
	body := io.MultiReader(strings.NewReader(primaryHead("")), io.LimitReader(spaces{}, 50<<20))
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, err := io.Copy(gw, body)
	require.NoError(t, err)
	require.NoError(t, gw.Close())

	rc, err := Decompress("primary.xml.gz", &gz, 1<<20)
	require.NoError(t, err)
	_, err = collect(rc, "")
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "larger than the limit of 1048576 bytes")
}

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// generatedPrimary yields a primary.xml with n packages without holding it
// in memory.
type generatedPrimary struct {
	n, done int
	buf     bytes.Buffer
}

func (g *generatedPrimary) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && g.done <= g.n {
		switch {
		case g.done == 0:
			g.buf.WriteString(primaryHead(fmt.Sprintf(` packages="%d"`, g.n)))
		case g.done == g.n:
			g.buf.WriteString("</metadata>\n")
		}
		if g.done < g.n {
			g.buf.WriteString(pkgElem(fmt.Sprintf("pkg%d", g.done), "sha256", sha256Zero, loc(fmt.Sprintf("Packages/pkg%d.rpm", g.done))))
		}
		g.done++
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

func TestParsePrimaryFlatMemory(t *testing.T) {
	const n = 30_000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var early, late uint64
	count := 0
	err := ParsePrimary(&generatedPrimary{n: n}, "", func(p Package) error {
		count++
		switch count {
		case 1000:
			early = heap()
		case n:
			late = heap()
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, n, count)
	// 29,000 more packages (about 15 MB of XML) may not grow the heap.
	require.Less(t, late, early+4<<20, "heap grew from %d to %d bytes", early, late)
}
