package repo

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestManifestMatchesEncodingJSON pins the hand-written manifest format to
// what encoding/json writes, and checks that it reads back.
func TestManifestMatchesEncodingJSON(t *testing.T) {
	pkgs := []Package{
		pkg("bash", "", "5.2.15", "3.el9", "x86_64", sha("bash")),
		pkg("kernel", "1", "5.14.0", "427.el9", "x86_64", sha("kernel")),
		{Name: "odd\"quote", Version: "1", Release: "1", Arch: "noarch", Href: `Packages/a\b.rpm`},
		{Name: "html<&>", Version: "1", Release: "1", Arch: "noarch", Size: -1},
		{Name: "ünïcode", Version: "1\u2028", Release: "\x01", Arch: "noarch"},
		{Name: "bad-utf8-\xff", Version: "1", Release: "1", Arch: "noarch"},
		{},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	for _, p := range pkgs {
		require.NoError(t, enc.Encode(p))
	}
	var got bytes.Buffer
	require.NoError(t, writeManifest(&got, pkgs))
	require.Equal(t, want.String(), got.String())

	p := filepath.Join(t.TempDir(), "m")
	require.NoError(t, os.WriteFile(p, got.Bytes(), 0o644))
	back, err := readManifest(p)
	require.NoError(t, err)
	pkgs[5].Name = "bad-utf8-\ufffd" // encoding/json replaces invalid UTF-8
	require.Equal(t, pkgs, back)
}

// TestManifestIsWrittenSorted: a manifest comes back in name.arch order,
// packages sharing one in the order given, and the caller's slice is left
// as it was.
func TestManifestIsWrittenSorted(t *testing.T) {
	s := newStore(t)
	pkgs := []Package{
		pkg("zsh", "", "5.8", "1", "x86_64", sha("zsh")),
		pkg("kernel", "", "5.14.0", "427", "x86_64", sha("k427")),
		pkg("glibc", "", "2.34", "1", "x86_64", sha("glibc64")),
		pkg("kernel", "", "5.14.0", "70", "x86_64", sha("k70")),
		pkg("glibc", "", "2.34", "1", "i686", sha("glibc32")),
	}
	given := slices.Clone(pkgs)
	snap := commit(t, s, "base", t0, map[string]string{"repodata/repomd.xml": "sorted"}, pkgs...)
	require.Equal(t, given, pkgs)
	got, err := s.Manifest("base", snap.ID)
	require.NoError(t, err)
	require.Equal(t, []Package{pkgs[4], pkgs[2], pkgs[1], pkgs[3], pkgs[0]}, got)
}
