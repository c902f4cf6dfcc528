package ci

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseJUnit(t *testing.T) {
	tests := []struct {
		name string
		xml  string
		want []Case
	}{
		{
			name: "testsuites with every status",
			xml: `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all" tests="5">
  <testsuite name="install" tests="5">
    <testcase classname="install.Slurm" name="test_client" time="1.5"/>
    <testcase classname="install.Slurm" name="test_daemon" time="0.25">
      <failure message="slurmd did not start" type="AssertionError">Traceback:
  slurmd exited 1</failure>
    </testcase>
    <testcase name="mounts" time="1,234.5">
      <error message="fixture broke"/>
    </testcase>
    <testcase name="gpu" time="N/A"><skipped message="no GPU on test"/></testcase>
    <testcase name="same" time="2"><failure message="same">same</failure></testcase>
  </testsuite>
</testsuites>`,
			want: []Case{
				{Suite: "s", Name: "install.Slurm.test_client", Status: Passed, Duration: 1500 * time.Millisecond},
				{Suite: "s", Name: "install.Slurm.test_daemon", Status: Failed, Message: "slurmd did not start\nTraceback:\n  slurmd exited 1", Duration: 250 * time.Millisecond},
				{Suite: "s", Name: "mounts", Status: Errored, Message: "fixture broke", Duration: 1234500 * time.Millisecond},
				{Suite: "s", Name: "gpu", Status: Skipped, Message: "no GPU on test"},
				{Suite: "s", Name: "same", Status: Failed, Message: "same", Duration: 2 * time.Second},
			},
		},
		{
			name: "testsuite root, failure text only",
			xml:  `<testsuite name="x"><testcase name="a"><failure>boom</failure></testcase></testsuite>`,
			want: []Case{{Suite: "s", Name: "a", Status: Failed, Message: "boom"}},
		},
		{
			name: "nested suites",
			xml: `<testsuites><testsuite name="outer"><testcase name="a"/>
				<testsuite name="inner"><testcase name="b"/></testsuite></testsuite></testsuites>`,
			want: []Case{{Suite: "s", Name: "a", Status: Passed}, {Suite: "s", Name: "b", Status: Passed}},
		},
		{
			name: "no cases",
			xml:  `<testsuites/>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJUnit(strings.NewReader(tt.xml), "s")
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseJUnitRefuses(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
		want string
	}{
		{"empty", strings.NewReader(""), "empty report"},
		{"not xml", strings.NewReader("Traceback (most recent call last):"), "junit: "},
		{"truncated", strings.NewReader(`<testsuites><testsuite><testcase name="a">`), "junit: "},
		{"other root", strings.NewReader(`<html><body/></html>`), "root element <html>"},
		{"case without name", strings.NewReader(`<testsuite><testcase classname="c"/></testsuite>`), "without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJUnit(tt.r, "s")
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseJUnitBoundsInput(t *testing.T) {
	endless := io.MultiReader(strings.NewReader("<testsuites><!--"), neverEnding('x'))
	_, err := parseJUnit(endless, "s", 64<<10)
	require.ErrorContains(t, err, "report larger than 65536 bytes")

	// A report that ends right at the limit is read.
	report := `<testsuite><testcase name="a"/></testsuite>`
	cases, err := parseJUnit(strings.NewReader(report), "s", int64(len(report)))
	require.NoError(t, err)
	require.Len(t, cases, 1)
}

func TestParseJUnitTruncatesLongMessages(t *testing.T) {
	long := strings.Repeat("é", maxMessage) // two bytes a rune: the cut falls inside one
	cases, err := ParseJUnit(strings.NewReader(`<testsuite><testcase name="a"><failure message="`+long+`"/></testcase></testsuite>`), "s")
	require.NoError(t, err)
	msg := cases[0].Message
	require.LessOrEqual(t, len(msg), maxMessage+len(" […]"))
	require.True(t, strings.HasSuffix(msg, "é […]"), msg[len(msg)-20:])
}

// neverEnding is an endless stream of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
