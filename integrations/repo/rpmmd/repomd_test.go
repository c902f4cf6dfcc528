package rpmmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRepomdCreaterepo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		empty bool
	}{
		{"with package", false},
		{"empty repository", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testRepo(t, tc.empty)
			m := readRepomd(t, dir)
			require.NotEmpty(t, m.Revision)
			for _, typ := range []string{"primary", "filelists", "other", "primary_db"} {
				d, ok := m.Find(typ)
				require.True(t, ok, typ)
				require.True(t, strings.HasPrefix(d.Href, "repodata/"), d.Href)
				require.Equal(t, "sha256", d.Checksum.Algo)
				require.NotNil(t, d.OpenChecksum)
				require.Positive(t, d.Timestamp)

				raw, err := os.ReadFile(filepath.Join(dir, d.Href))
				require.NoError(t, err)
				require.Equal(t, int64(len(raw)), d.Size, typ)
				require.Equal(t, sha256Hex(raw), d.Checksum.Hex, typ)

				// The open checksum is over what Decompress yields, for
				// every compression createrepo_c wrote (gz, bz2).
				rc, err := Decompress(d.Href, bytes.NewReader(raw), d.OpenSize)
				require.NoError(t, err)
				open, err := io.ReadAll(rc)
				require.NoError(t, err)
				require.NoError(t, rc.Close())
				require.Equal(t, d.OpenSize, int64(len(open)), typ)
				require.Equal(t, d.OpenChecksum.Hex, sha256Hex(open), typ)
			}
			_, ok := m.Find("no-such-type")
			require.False(t, ok)
		})
	}
}

const (
	sha256Zero = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	sha1Zero   = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	md5Zero    = "d41d8cd98f00b204e9800998ecf8427e"
)

// dataXML renders one <data> for handcrafted repomd.xml files.
func dataElem(typ, href, sumType, sum string, extra ...string) string {
	return fmt.Sprintf(`<data type=%q><checksum type=%q>%s</checksum><location href=%q/>`+
		`<timestamp>1700000000</timestamp><size>10</size><open-size>20</open-size>%s</data>`,
		typ, sumType, sum, href, strings.Join(extra, ""))
}

func repomdDoc(data ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
<revision>42</revision>` + strings.Join(data, "\n") + "</repomd>\n"
}

func TestParseRepomdValid(t *testing.T) {
	sha512 := strings.Repeat("AB", 64)
	doc := repomdDoc(
		dataElem("primary", "repodata/p.xml.gz", "sha256", sha256Zero,
			`<open-checksum type="SHA512">`+sha512+`</open-checksum><unknown-element>x</unknown-element>`),
		dataElem("group_gz", "repodata/comps.xml.xz", "sha384", strings.Repeat("0", 96)),
	)
	m, err := ParseRepomd(strings.NewReader(doc), Limits{})
	require.NoError(t, err)
	require.Equal(t, Repomd{Revision: "42", Data: []Data{
		{
			Type: "primary", Href: "repodata/p.xml.gz",
			Checksum:     Checksum{Algo: "sha256", Hex: sha256Zero},
			OpenChecksum: &Checksum{Algo: "sha512", Hex: strings.ToLower(sha512)},
			Size:         10, OpenSize: 20, Timestamp: 1700000000,
		},
		{
			Type: "group_gz", Href: "repodata/comps.xml.xz",
			Checksum: Checksum{Algo: "sha384", Hex: strings.Repeat("0", 96)},
			Size:     10, OpenSize: 20, Timestamp: 1700000000,
		},
	}}, m)
}

func TestParseRepomdHostile(t *testing.T) {
	ok := dataElem("primary", "repodata/p.xml.gz", "sha256", sha256Zero)
	for _, tc := range []struct {
		name string
		doc  string
		lim  Limits
		want string
	}{
		{"parent href", repomdDoc(dataElem("primary", "../p.xml.gz", "sha256", sha256Zero)), Limits{}, "leaves the repository"},
		{"inner parent href", repomdDoc(dataElem("primary", "repodata/../../p.xml.gz", "sha256", sha256Zero)), Limits{}, "not clean"},
		{"absolute href", repomdDoc(dataElem("primary", "/etc/passwd", "sha256", sha256Zero)), Limits{}, "absolute"},
		{"http href", repomdDoc(dataElem("primary", "http://evil.example/p.xml.gz", "sha256", sha256Zero)), Limits{}, "scheme"},
		{"backslash href", repomdDoc(dataElem("primary", `repodata\..\p.xml.gz`, "sha256", sha256Zero)), Limits{}, "backslash"},
		{"empty href", repomdDoc(dataElem("primary", "", "sha256", sha256Zero)), Limits{}, "empty"},
		{"xml:base", repomdDoc(strings.Replace(ok, "<location ", `<location xml:base="http://evil.example/" `, 1)), Limits{}, "xml:base"},
		{"md5 only", repomdDoc(dataElem("primary", "repodata/p.xml.gz", "md5", md5Zero)), Limits{}, "weak or unknown checksum type md5"},
		{"sha1 only", repomdDoc(dataElem("primary", "repodata/p.xml.gz", "sha1", sha1Zero)), Limits{}, "weak or unknown checksum type sha1"},
		{"sha alias", repomdDoc(dataElem("primary", "repodata/p.xml.gz", "sha", sha1Zero)), Limits{}, "weak or unknown checksum type sha"},
		{"weak open checksum", repomdDoc(strings.Replace(ok, "</data>", `<open-checksum type="md5">`+md5Zero+`</open-checksum></data>`, 1)), Limits{}, "open-checksum"},
		{"short digest", repomdDoc(dataElem("primary", "repodata/p.xml.gz", "sha256", sha256Zero[:63])), Limits{}, "not 64 hex digits"},
		{"no checksum", repomdDoc(`<data type="primary"><location href="repodata/p.xml.gz"/><size>1</size></data>`), Limits{}, "no <checksum>"},
		{"two locations", repomdDoc(strings.Replace(ok, "</data>", `<location href="repodata/q.xml.gz"/></data>`, 1)), Limits{}, "more than one <location>"},
		{"no size", repomdDoc(strings.Replace(ok, "<size>10</size>", "", 1)), Limits{}, "no <size>"},
		{"negative size", repomdDoc(strings.Replace(ok, "<size>10</size>", "<size>-1</size>", 1)), Limits{}, "non-negative"},
		{"size over limit", repomdDoc(ok), Limits{MetadataBytes: 9}, "exceeds the limit"},
		{"open size over limit", repomdDoc(ok), Limits{OpenBytes: 19}, "exceeds the limit"},
		{"duplicate type", repomdDoc(ok, ok), Limits{}, "listed twice"},
		{"missing type", repomdDoc(dataElem("", "repodata/p.xml.gz", "sha256", sha256Zero)), Limits{}, "bad type"},
		{"path in type", repomdDoc(dataElem("../x", "repodata/p.xml.gz", "sha256", sha256Zero)), Limits{}, "bad type"},
		{"malformed XML", strings.TrimSuffix(repomdDoc(ok), "</repomd>\n") + "<data>", Limits{}, "XML syntax error"},
		{"truncated", repomdDoc(ok)[:200], Limits{}, "unexpected EOF"},
		{"oversized", repomdDoc(ok), Limits{RepomdBytes: 100}, "larger than the limit of 100 bytes"},
		{"wrong namespace", strings.Replace(repomdDoc(ok), "metadata/repo", "metadata/other", 1), Limits{}, "expected element"},
		{"wrong root", `<metadata xmlns="http://linux.duke.edu/metadata/repo"/>`, Limits{}, "expected element"},
		{"second root", repomdDoc(ok) + "<repomd/>", Limits{}, "after the root element"},
		{"doctype", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>` + repomdDoc(ok), Limits{}, "DOCTYPE"},
		{"unknown entity", repomdDoc(strings.Replace(ok, "1700000000", "&lol;", 1)), Limits{}, "entity"},
		{"not UTF-8", `<?xml version="1.0" encoding="ISO-8859-1"?>` + repomdDoc(ok), Limits{}, "encoding"},
		{"empty", "", Limits{}, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRepomd(strings.NewReader(tc.doc), tc.lim)
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "repomd.xml")
		})
	}
}

func TestParseRepomdTransportError(t *testing.T) {
	broken := fmt.Errorf("connection reset")
	_, err := ParseRepomd(prefixThenFail([]byte(repomdDoc()[:50]), broken), Limits{})
	require.ErrorIs(t, err, broken)
	require.NotErrorIs(t, err, ErrMalformed, "a transport failure must stay retryable")
}
