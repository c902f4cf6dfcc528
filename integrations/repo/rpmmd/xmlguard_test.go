package rpmmd

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokenGuard(t *testing.T) {
	const max = 64
	long := strings.Repeat("x", max)
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"text at the limit", long, true},
		{"text over the limit", long + "x", false},
		{"text at the limit, then a tag", long + "<a>" + long + "</a>", true},
		{"many small tokens", strings.Repeat("<a>"+long[:50]+"</a>", 100), true},
		{"tag over the limit", "<a b=\"" + long + "\">", false},
		{"quoted > does not end a tag", `<a b="` + strings.Repeat(">", max) + `">`, false},
		{"single-quoted > does not end a tag", `<a b='` + strings.Repeat(">", max) + `'>`, false},
		{"CDATA with < inside", "<![CDATA[" + strings.Repeat("<a>", max/3) + "]]>", false},
		{"CDATA end overlapping", "<![CDATA[a]]]>" + long[:60], true},
		{"comment with < inside", "<!--" + strings.Repeat("<>", max/2) + "-->", false},
		{"comment end overlapping", "<!-- a --->" + long[:60], true},
		{"processing instruction", "<?pi " + strings.Repeat("<>", max/2) + "?>", false},
		{"xml declaration", `<?xml version="1.0"?>` + long[:60], true},
		{"doctype", `<!DOCTYPE a>`, false},
		{"entity", `<!ENTITY a "b">`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := io.ReadAll(&tokenGuard{r: halfByteByByte(tc.in), max: max})
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, tc.in, string(got))
				return
			}
			require.ErrorIs(t, err, ErrMalformed)
			require.Less(t, len(got), len(tc.in))
		})
	}
}

// halfByteByByte feeds the first half in one chunk and the rest a byte at a time,
// the two ways its fast path can be entered.
func halfByteByByte(s string) io.Reader {
	return io.MultiReader(strings.NewReader(s[:len(s)/2]), &oneByte{s[len(s)/2:]})
}

type oneByte struct{ s string }

func (o *oneByte) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

// TestTokenGuardAgreesWithDecoder checks that inputs the guard lets through
// decode to the same tokens, so the guard never changes what is parsed.
func TestTokenGuardAgreesWithDecoder(t *testing.T) {
	doc := primaryDoc(` packages="1"`, pkgElem("a", "sha256", sha256Zero, loc("a.rpm"))) +
		`<!-- trailing comment with <tags> and "quotes" -->`
	tokens := func(r io.Reader) []xml.Token {
		d := xml.NewDecoder(r)
		var out []xml.Token
		for {
			tok, err := d.Token()
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			out = append(out, xml.CopyToken(tok))
		}
	}
	require.Equal(t, tokens(strings.NewReader(doc)), tokens(&tokenGuard{r: strings.NewReader(doc), max: maxToken}))
}
