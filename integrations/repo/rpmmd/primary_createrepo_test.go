package rpmmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// oddSpec builds a source package with subs subpackages that exercise what
// createrepo_c writes into primary.xml: epochs (none, 0, per subpackage),
// version characters rpm allows (~ ^ + _), names with + and ., summaries and
// descriptions with markup characters, "]]>", tabs and non-ASCII text,
// rich and scripted dependencies, directories, ghosts, files with spaces
// and non-ASCII names, and one subpackage with many files.
func oddSpec(subs, manyFiles int) string {
	var b strings.Builder
	b.WriteString(`Name: c++-odd_name.x
Version: 1.0~rc1^git5
Release: 2+b1_x
Summary: Ünïcödé summary & <tags> "quoted" 'apos'
License: MIT
BuildArch: noarch
Requires: (bash or zsh)
Requires: perl(Foo::Bar) >= 1.0
Requires(pre): /bin/sh
Provides: config(odd) = 1.0
Conflicts: odd-old < 1:2.0
Obsoletes: odd-ancient <= 0.9
%description
Line one ]]> with & and < and > and a tab	here.
ünïcödé ☃ 😀 and a very long line ` + strings.Repeat("lorem ipsum ", 200) + `
`)
	for i := range subs {
		fmt.Fprintf(&b, `%%package -n sub%03d-lib++
Summary: subpackage %d <&>
`, i, i)
		if i%3 != 0 {
			fmt.Fprintf(&b, "Epoch: %d\n", i%3*7)
		}
		if i%4 == 0 {
			fmt.Fprintf(&b, "Requires: sub%03d-lib++ = %%{?epoch:%%{epoch}:}%%{version}-%%{release}\n", (i+1)%subs)
		}
		fmt.Fprintf(&b, `%%description -n sub%03d-lib++
Subpackage %d: "quoted" & <escaped>.
%%files -n sub%03d-lib++
/usr/bin/sub%03d
`, i, i, i, i)
		if i == subs-1 {
			b.WriteString("/usr/bin/many/\n")
		}
	}
	fmt.Fprintf(&b, `%%install
mkdir -p %%{buildroot}/usr/bin/many %%{buildroot}/etc/odd
touch "%%{buildroot}/usr/bin/with space" "%%{buildroot}/usr/bin/ünï" "%%{buildroot}/usr/bin/amp&lt"
(cd %%{buildroot}/usr/bin && seq -f 'sub%%03g' 0 %d | xargs touch)
(cd %%{buildroot}/usr/bin/many && seq -f 'file-%%g' 1 %d | xargs touch)
%%files
"/usr/bin/with space"
/usr/bin/ünï
/usr/bin/amp&lt
%%dir /etc/odd
%%ghost /etc/odd/ghost.conf
`, subs-1, manyFiles)
	return b.String()
}

// buildOddRepo builds oddSpec's packages and lays them out as a
// repository directory: each package once under Packages/, and copies
// under more names until there are at least total, so the metadata lists
// many packages. It returns the directory and the package count.
func buildOddRepo(t *testing.T, subs, manyFiles, total int) (string, int) {
	t.Helper()
	needTools(t, "rpmbuild", "createrepo_c")
	top := t.TempDir()
	spec := filepath.Join(top, "odd.spec")
	require.NoError(t, os.WriteFile(spec, []byte(oddSpec(subs, manyFiles)), 0o644))
	// Uncompressed payloads and no post-install scripts: the metadata is
	// what matters, and rpmbuild is the slow part of the test.
	out, err := exec.Command("rpmbuild", "--define", "_topdir "+top, "--define", "_binary_payload w0.ufdio",
		"--define", "__spec_install_post %{nil}", "--define", "_build_id_links none", "-bb", spec).CombinedOutput()
	require.NoError(t, err, "rpmbuild: %s", out)
	rpms, err := filepath.Glob(filepath.Join(top, "RPMS", "noarch", "*.rpm"))
	require.NoError(t, err)
	require.Len(t, rpms, subs+1)

	dir := t.TempDir()
	n := 0
	for copyNo := 0; n < total || copyNo == 0; copyNo++ {
		sub := filepath.Join(dir, "Packages")
		if copyNo > 0 {
			sub = filepath.Join(dir, "Packages", fmt.Sprintf("copy%03d", copyNo))
		}
		require.NoError(t, os.MkdirAll(sub, 0o755))
		for _, rpm := range rpms {
			require.NoError(t, os.Link(rpm, filepath.Join(sub, filepath.Base(rpm))))
			n++
		}
	}
	return dir, n
}

// TestParsePrimaryAgreesOnCreaterepoOutput parses real createrepo_c output
// with the fast parser and with the encoding/xml one it replaced, and
// requires the same packages from both.
func TestParsePrimaryAgreesOnCreaterepoOutput(t *testing.T) {
	dir, n := buildOddRepo(t, 24, 1500, 600)
	for _, tc := range []struct {
		name string
		args []string
		base string
	}{
		{"default", nil, ""},
		{"xml:base", []string{"--baseurl=http://mirror.example/odd/"}, "http://mirror.example/odd"},
		{"sha512, xz", []string{"--checksum=sha512", "--general-compress-type=xz"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "repodata")))
			run(t, dir, "createrepo_c", append(tc.args, "--quiet", "--workers=2", dir)...)
			d, raw := openPrimary(t, dir)
			xml := mustDecompress(t, d.Href, raw)
			// The shapes the spec was written for are in the file.
			require.GreaterOrEqual(t, bytes.Count(xml, []byte("<file>/usr/bin/many/")), 1500)
			for _, s := range []string{"]]&gt;", "&amp;", "ünï", "\t", `<rpm:entry name="(bash or zsh)"/>`, `type="ghost"`, `epoch="14"`} {
				require.Contains(t, string(xml), s)
			}

			want := parseWith(parsePrimaryStd, bytes.NewReader(xml), tc.base)
			require.NoError(t, want.err)
			require.Len(t, want.pkgs, n)
			got := parseWith(ParsePrimary, bytes.NewReader(xml), tc.base)
			require.NoError(t, got.err)
			require.Equal(t, want.pkgs, got.pkgs)
			tiny := func(r io.Reader, base string, fn func(Package) error) error { return parsePrimary(r, base, fn, 3) }
			cut := parseWith(tiny, iotest.HalfReader(bytes.NewReader(xml)), tc.base)
			require.NoError(t, cut.err)
			require.Equal(t, want.pkgs, cut.pkgs)

			byName := map[string]Package{}
			for _, p := range got.pkgs {
				byName[p.Name] = p
			}
			main := byName["c++-odd_name.x"]
			require.Equal(t, []string{"0", "1.0~rc1^git5", "2+b1_x", "noarch"}, []string{main.Epoch, main.Version, main.Release, main.Arch})
			require.Equal(t, "14", byName["sub002-lib++"].Epoch)
			require.Equal(t, "0", byName["sub003-lib++"].Epoch)
			require.True(t, strings.HasPrefix(main.Href, "Packages/"), main.Href)
		})
	}
}
