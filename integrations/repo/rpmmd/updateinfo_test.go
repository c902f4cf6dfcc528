package rpmmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parseAllUpdateinfo(t *testing.T, data string) ([]Advisory, error) {
	t.Helper()
	var all []Advisory
	err := ParseUpdateinfo(strings.NewReader(data), func(a Advisory) error {
		all = append(all, a)
		return nil
	})
	return all, err
}

func TestParseUpdateinfo(t *testing.T) {
	data, err := os.ReadFile("testdata/updateinfo.xml")
	require.NoError(t, err)
	all, err := parseAllUpdateinfo(t, string(data))
	require.NoError(t, err)
	require.Len(t, all, 3)

	k := all[0]
	require.Equal(t, "RLSA-2025:0101", k.ID)
	require.Equal(t, "security", k.Type)
	require.Equal(t, "Important", k.Severity)
	require.Equal(t, "Important: kernel security update", k.Title)
	require.Equal(t, time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC), k.Issued)
	require.Equal(t, []string{"CVE-2025-0001", "CVE-2025-10002"}, k.CVEs())
	require.Len(t, k.References, 4)
	require.Equal(t, Reference{Type: "bugzilla", ID: "2300001", Href: "https://bugzilla.redhat.com/show_bug.cgi?id=2300001", Title: "kernel: use-after-free"}, k.References[3])
	require.Equal(t, []AdvisoryPackage{
		{Name: "kernel", Epoch: "0", Version: "5.14.0", Release: "503.2.el9_5", Arch: "x86_64", Filename: "kernel-5.14.0-503.2.el9_5.x86_64.rpm"},
		{Name: "kernel-core", Epoch: "0", Version: "5.14.0", Release: "503.2.el9_5", Arch: "x86_64", Filename: "kernel-core-5.14.0-503.2.el9_5.x86_64.rpm"},
	}, k.Packages)

	b := all[1]
	require.Equal(t, "bugfix", b.Type)
	require.Equal(t, "", b.Severity)
	require.Equal(t, time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), b.Issued)
	require.Empty(t, b.References)
	require.Equal(t, []AdvisoryPackage{{Name: "slurm", Epoch: "0", Version: "23.02.7", Release: "2.el9", Arch: "x86_64", Filename: "slurm-23.02.7-2.el9.x86_64.rpm"}}, b.Packages)

	e := all[2]
	require.Equal(t, "enhancement", e.Type)
	require.Equal(t, time.Unix(1741046400, 0).UTC(), e.Issued)
	require.Equal(t, "1", e.Packages[0].Epoch)
}

// TestParseUpdateinfoFromModifyrepo reads updateinfo the way a snapshot
// holds it: added to real repodata by createrepo_c's modifyrepo_c,
// compressed, and named by repomd.xml.
func TestParseUpdateinfoFromModifyrepo(t *testing.T) {
	needTools(t, "createrepo_c", "modifyrepo_c")
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	require.NoError(t, os.MkdirAll(repo, 0o755))
	run(t, dir, "createrepo_c", "--quiet", repo)
	src, err := filepath.Abs("testdata/updateinfo.xml")
	require.NoError(t, err)
	run(t, dir, "modifyrepo_c", "--mdtype=updateinfo", "--compress-type=xz", src, filepath.Join(repo, "repodata"))

	f, err := os.Open(filepath.Join(repo, "repodata", "repomd.xml"))
	require.NoError(t, err)
	defer f.Close()
	md, err := ParseRepomd(f, Limits{})
	require.NoError(t, err)
	d, ok := md.Find("updateinfo")
	require.True(t, ok, "modifyrepo_c lists updateinfo in repomd.xml")
	require.True(t, strings.HasSuffix(d.Href, "updateinfo.xml.xz"), d.Href)
	raw, err := os.Open(filepath.Join(repo, d.Href))
	require.NoError(t, err)
	defer raw.Close()
	open, err := Decompress(d.Href, raw, DefaultLimits().OpenBytes)
	require.NoError(t, err)
	defer open.Close()
	var ids []string
	require.NoError(t, ParseUpdateinfo(open, func(a Advisory) error { ids = append(ids, a.ID); return nil }))
	require.Equal(t, []string{"RLSA-2025:0101", "RLBA-2025:0202", "FEDORA-EPEL-2025-1a2b3c"}, ids)
}

func TestParseUpdateinfoRefusesHostileInput(t *testing.T) {
	upd := func(inner string) string {
		return `<?xml version="1.0"?><updates><update type="security"><id>X-1</id>` + inner + `</update></updates>`
	}
	pkg := func(attrs string) string {
		return upd(`<pkglist><collection><package ` + attrs + `/></collection></pkglist>`)
	}
	tests := []struct {
		name, data, want string
	}{
		{"DOCTYPE with an entity", `<?xml version="1.0"?><!DOCTYPE updates [<!ENTITY x "y">]><updates/>`, "DOCTYPE are not allowed"},
		{"a huge element", upd(`<description>` + strings.Repeat("a", maxToken+1) + `</description>`), "longer than"},
		{"a long title", upd(`<title>` + strings.Repeat("t", maxAdvisoryText+1) + `</title>`), "<title> is longer than 4096 bytes"},
		{"deep nesting", upd(strings.Repeat("<x>", maxDepth) + strings.Repeat("</x>", maxDepth)), "nested deeper than"},
		{"wrong root", `<metadata/>`, "root element is <metadata>"},
		{"no id", `<updates><update type="bugfix"><title>t</title></update></updates>`, "advisory #1: malformed repository metadata: no <id>"},
		{"id twice", upd(`<id>X-2</id>`), "<id> given twice"},
		{"no type", `<updates><update><id>X-1</id></update></updates>`, "advisory #1 X-1: malformed repository metadata: <update> has no type"},
		{"bad type", `<updates><update type="Security Fix"><id>X-1</id></update></updates>`, `type "Security Fix"`},
		{"bad CVE id", upd(`<references><reference type="cve" id="CVE-25-1"/></references>`), "CVE reference with id CVE-25-1"},
		{"bad date", upd(`<issued date="March 2nd"/>`), `<issued date="March 2nd"> is not a date`},
		{"package name with a slash", pkg(`name="../etc" version="1" release="1" arch="x86_64"`), "package name ../etc: contains one of"},
		{"no version", pkg(`name="a" release="1" arch="x86_64"`), "package version"},
		{"epoch not a number", pkg(`name="a" epoch="x" version="1" release="1" arch="x86_64"`), "epoch x is not a number"},
		{"package outside a collection", upd(`<pkglist><package name="a" version="1" release="1" arch="x86_64"/></pkglist>`), "<package> in <pkglist>"},
		{"text after the root", `<updates></updates>trailing`, "text after the root element"},
		{"a second document", `<updates></updates><updates></updates>`, "content after the root element"},
		{"truncated", `<updates><update type="security"><id>X-1</id>`, "unexpected EOF"},
		{"something else in updates", `<updates><erratum/></updates>`, "<erratum> in <updates>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseAllUpdateinfo(t, tt.data)
			require.Error(t, err)
			require.ErrorIs(t, err, ErrMalformed)
			require.Contains(t, err.Error(), tt.want)
			require.True(t, strings.HasPrefix(err.Error(), "updateinfo.xml: "), err.Error())
		})
	}
}

func TestParseUpdateinfoCallbackAndReaderErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/updateinfo.xml")
	require.NoError(t, err)
	stop := errors.New("stop here")
	err = ParseUpdateinfo(strings.NewReader(string(data)), func(a Advisory) error { return stop })
	require.ErrorIs(t, err, stop)
	require.NotErrorIs(t, err, ErrMalformed)
	require.Contains(t, err.Error(), "advisory RLSA-2025:0101")

	broken := errors.New("connection reset")
	err = ParseUpdateinfo(&failAfter{data: data[:500], err: broken}, func(Advisory) error { return nil })
	require.ErrorIs(t, err, broken, "a transport error is passed through")
	require.NotErrorIs(t, err, ErrMalformed)
}

// failAfter yields data, then err.
type failAfter struct {
	data []byte
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func ExampleParseUpdateinfo() {
	_ = ParseUpdateinfo(strings.NewReader(`<updates><update type="security"><id>RLSA-1</id><severity>Low</severity></update></updates>`),
		func(a Advisory) error { fmt.Println(a.ID, a.Type, a.Severity); return nil })
	// Output: RLSA-1 security Low
}

// BenchmarkParseUpdateinfo reads an updateinfo the size of RHEL 9
// BaseOS's (about 2,000 advisories, 40,000 package entries).
func BenchmarkParseUpdateinfo(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0" encoding="UTF-8"?><updates>`)
	for i := range 2000 {
		fmt.Fprintf(&sb, `<update from="sec@example.org" status="final" type="security" version="2"><id>RLSA-2025:%04d</id><title>Important: pkg%d security update</title><issued date="2025-03-02 00:00:00"/><severity>Important</severity><description>%s</description><references><reference href="https://example.org/CVE-2025-%04d" id="CVE-2025-%04d" type="cve" title="t"/></references><pkglist><collection short="baseos"><name>BaseOS</name>`,
			i, i, strings.Repeat("Text of the advisory. ", 40), i+1000, i+1000)
		for j := range 20 {
			fmt.Fprintf(&sb, `<package name="pkg%d-sub%d" version="1.%d" release="1.el9" epoch="0" arch="x86_64"><filename>pkg%d-sub%d-1.%d-1.el9.x86_64.rpm</filename><sum type="sha256">%064d</sum></package>`, i, j, i, i, j, i, i)
		}
		sb.WriteString(`</collection></pkglist></update>`)
	}
	sb.WriteString(`</updates>`)
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := ParseUpdateinfo(strings.NewReader(data), func(a Advisory) error { n += len(a.Packages); return nil }); err != nil || n != 40000 {
			b.Fatal(err, n)
		}
	}
}
