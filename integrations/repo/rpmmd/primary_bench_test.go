package rpmmd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// realisticPrimary renders n packages the way createrepo_c writes them for a
// distribution: descriptions with escaped characters, a dozen dependencies,
// a few files. Real primary.xml files average 1.5–3 KB per package; so
// does this one.
func realisticPrimary(n int) []byte {
	var b bytes.Buffer
	b.WriteString(primaryHead(fmt.Sprintf(` packages="%d"`, n)))
	for i := range n {
		name := fmt.Sprintf("%clib%05d-devel", 'a'+i%26, i)
		fmt.Fprintf(&b, `<package type="rpm">
  <name>%[1]s</name>
  <arch>x86_64</arch>
  <version epoch="%[2]d" ver="2.%[3]d.1" rel="3.el9_4"/>
  <checksum type="sha256" pkgid="YES">%[4]s</checksum>
  <summary>Development files for %[1]s &amp; friends</summary>
  <description>The %[1]s package contains libraries &lt;and&gt; header files for
developing applications that use %[1]s. It is "quoted" and ünïcödé.

Second paragraph, as distributions write them, with a URL: https://example.org/%[1]s?x=1&amp;y=2.</description>
  <packager>Rocky Linux Build System (Peridot) &lt;releng@rockylinux.org&gt;</packager>
  <url>https://example.org/%[1]s</url>
  <time file="1717000000" build="1716900000"/>
  <size package="%[5]d" installed="%[6]d" archive="%[7]d"/>
  <location href="Packages/%[8]c/%[1]s-2.%[3]d.1-3.el9_4.x86_64.rpm"/>
  <format>
    <rpm:license>LGPL-2.1-or-later AND MIT</rpm:license>
    <rpm:vendor>Rocky Enterprise Software Foundation</rpm:vendor>
    <rpm:group>Unspecified</rpm:group>
    <rpm:buildhost>pb-0123abcd-5678-x86-64</rpm:buildhost>
    <rpm:sourcerpm>%[1]s-2.%[3]d.1-3.el9_4.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="%[9]d"/>
    <rpm:provides>
      <rpm:entry name="%[1]s" flags="EQ" epoch="%[2]d" ver="2.%[3]d.1" rel="3.el9_4"/>
      <rpm:entry name="%[1]s(x86-64)" flags="EQ" epoch="%[2]d" ver="2.%[3]d.1" rel="3.el9_4"/>
      <rpm:entry name="pkgconfig(%[1]s)" flags="EQ" epoch="0" ver="2.%[3]d.1"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/usr/bin/pkg-config"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
      <rpm:entry name="libm.so.6()(64bit)"/>
      <rpm:entry name="libpthread.so.0()(64bit)"/>
      <rpm:entry name="libz.so.1()(64bit)"/>
      <rpm:entry name="rtld(GNU_HASH)"/>
      <rpm:entry name="pkgconfig(zlib)"/>
      <rpm:entry name="%[1]s-libs(x86-64)" flags="EQ" epoch="%[2]d" ver="2.%[3]d.1" rel="3.el9_4"/>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="glibc" flags="GE" epoch="0" ver="2.34"/>
    </rpm:requires>
    <rpm:conflicts>
      <rpm:entry name="%[1]s-compat" flags="LT" epoch="0" ver="2.0"/>
    </rpm:conflicts>
    <file>/usr/bin/%[1]s-config</file>
    <file>/usr/lib64/lib%[1]s.so</file>
    <file type="dir">/usr/include/%[1]s</file>
  </format>
</package>
`, name, i%3, i%40, strings.Repeat(fmt.Sprintf("%02x", i%256), 32),
			100_000+i, 300_000+i, 290_000+i, name[0], 9000+i%1000)
	}
	b.WriteString("</metadata>\n")
	return b.Bytes()
}

// benchmarkParse reports MB/s of wall time, as Go benchmarks do, and
// cpu-MB/s of the CPU time the process used: on a shared machine the wall
// time moves with the load, the CPU time much less.
func benchmarkParse(b *testing.B, parse func([]byte) (int, error)) {
	doc := realisticPrimary(5000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		n, err := parse(doc)
		require.NoError(b, err)
		require.Equal(b, 5000, n)
	}
	if cpu := cpuTime(b) - cpu0; cpu > 0 {
		b.ReportMetric(float64(len(doc))*float64(b.N)/1e6/cpu.Seconds(), "cpu-MB/s")
	}
}

// cpuTime is the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPrimaryParse measures ParsePrimary on one core in MB/s of
// uncompressed primary.xml; make bench runs it.
func BenchmarkPrimaryParse(b *testing.B) {
	benchmarkParse(b, func(doc []byte) (int, error) {
		n := 0
		err := ParsePrimary(bytes.NewReader(doc), "", func(Package) error { n++; return nil })
		return n, err
	})
}

// BenchmarkPrimaryParseEncodingXML is the same over the encoding/xml
// reference, for the ratio.
func BenchmarkPrimaryParseEncodingXML(b *testing.B) {
	benchmarkParse(b, func(doc []byte) (int, error) {
		n := 0
		err := parsePrimaryStd(bytes.NewReader(doc), "", func(Package) error { n++; return nil })
		return n, err
	})
}
