package rpmmd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckHref(t *testing.T) {
	for _, tc := range []struct {
		href string
		want string // "" accepts
	}{
		{"Packages/f/foo-1.0-1.noarch.rpm", ""},
		{"repodata/abc-primary.xml.gz", ""},
		{"gcc-c++-11-1.x86_64.rpm", ""},
		{"foo..bar.rpm", ""},
		{"Packages/foo-1:2.rpm", ""},
		{"", "empty"},
		{".", "leaves the repository"},
		{"..", "leaves the repository"},
		{"../foo.rpm", "leaves the repository"},
		{"a/../../foo.rpm", "not clean"},
		{"a/../foo.rpm", "not clean"},
		{"./foo.rpm", "not clean"},
		{"a//foo.rpm", "not clean"},
		{"Packages/", "not clean"},
		{"/etc/passwd", "absolute"},
		{"//evil.example/x.rpm", "absolute"},
		{"http://evil.example/x.rpm", "scheme"},
		{"file:foo.rpm", "scheme"},
		{"C:/x.rpm", "scheme"},
		{`a\..\..\x.rpm`, "backslash"},
		{"a\x00.rpm", "control character U+0000"},
		{"a\n.rpm", "control character U+000A"},
		{"a\x7f.rpm", "control character U+007F"},
		{"a\u0085.rpm", "control character U+0085"},
		{"a\u009b.rpm", "control character U+009B"},
		{"evil\u202egpj.rpm", "format character U+202E"},
		{"a\u200b.rpm", "format character U+200B"},
		{"a\u2066.rpm", "format character U+2066"},
		{"\ufeffa.rpm", "format character U+FEFF"},
		{"Packages/%2e%2e/%2e%2e/x.rpm", `"%"`},
		{"a%20b.rpm", `"%"`},
		{"Packages/" + strings.Repeat("a", 255) + "/x.rpm", ""},
		{"Packages/" + strings.Repeat("a", 256) + "/x.rpm", "name of 256 bytes"},
		{"Packages/café-1.0.rpm", ""},
		{"a.rpm?x=1", "?"},
		{"a.rpm#frag", "#"},
		{"\xff.rpm", "not UTF-8"},
		{strings.Repeat("a", 4097), "longer than"},
	} {
		t.Run(tc.href, func(t *testing.T) {
			err := CheckHref(tc.href)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestNewHash(t *testing.T) {
	for _, tc := range []struct {
		algo string
		size int // 0: refused
	}{
		{"sha256", 32},
		{"SHA256", 32},
		{"sha384", 48},
		{"sha512", 64},
		{"md5", 0},
		{"sha1", 0},
		{"sha", 0},
		{"sha224", 0},
		{"", 0},
		{"crc32", 0},
	} {
		t.Run(tc.algo, func(t *testing.T) {
			h, err := NewHash(tc.algo)
			if tc.size == 0 {
				require.ErrorIs(t, err, ErrMalformed)
				require.ErrorContains(t, err, "weak or unknown checksum type")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.size, h.Size())
		})
	}
}
