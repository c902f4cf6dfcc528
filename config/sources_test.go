package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sourcesBase is a config whose second repo, on line 5, is an overlay with
// a bypass policy; a test appends its sources or watch keys.
const sourcesBase = "store: s\nrepos:\n  - name: baseos\n    url: http://mirror/baseos/\n  - name: site\n    overlay: true\n    bypass: {allow: [vendor-*, openssl*]}\n"

func TestSources(t *testing.T) {
	clearTemporalEnv(t)
	path := writeConfig(t, "schedule: {timeZone: Europe/Berlin}\n"+sourcesBase+`    sources:
      - url: https://vendor.example.com/dl/vendor-app-2.1-1.x86_64.rpm
        checksumURL: https://vendor.example.com:443/dl/SHA256SUMS
      - url: https://vendor.example.com/dl
        kind: listing
        include: ["vendor-tool-*.rpm"]
        gpgKey: RPM-GPG-KEY-test
        signature: asc
      - url: http://security.example.com/el9/x86_64/
        kind: rpmmd
        include: [openssl, openssl-libs]
        gpgKey: RPM-GPG-KEY-test
        bypass: auto
  - name: other
    overlay: true
    sources:
      - {url: 'https://v.example.com/a.rpm', checksumURL: 'https://v.example.com/SUMS'}
    watch: ["0 * * * *", "30 6 * * mon"]
    watchTimeZone: UTC
`)
	key := filepath.Join(filepath.Dir(path), "RPM-GPG-KEY-test")
	c, err := Load(path)
	require.NoError(t, err)
	site, _ := c.Repo("site")
	require.True(t, site.Watches())
	require.Equal(t, []string{"*/30 * * * *"}, site.Watch, "default: every 30 minutes")
	require.Equal(t, "Europe/Berlin", site.WatchTimeZone, "default: the daily schedule's zone")
	require.Equal(t, []Source{
		{URL: "https://vendor.example.com/dl/vendor-app-2.1-1.x86_64.rpm", Kind: SourceRPM, ChecksumURL: "https://vendor.example.com:443/dl/SHA256SUMS"},
		{URL: "https://vendor.example.com/dl/", Kind: SourceListing, Include: []string{"vendor-tool-*.rpm"}, GPGKey: key, Signature: SignatureASC},
		{URL: "http://security.example.com/el9/x86_64/", Kind: SourceRPMMD, Include: []string{"openssl", "openssl-libs"}, GPGKey: key,
			Signature: SignatureRPM, Bypass: BypassAuto},
	}, site.Sources)
	require.False(t, site.Sources[0].AutoBypass())
	require.True(t, site.Sources[2].AutoBypass())
	s, ok := site.Source("https://vendor.example.com/dl/")
	require.True(t, ok)
	require.Equal(t, SourceListing, s.Kind)

	other, _ := c.Repo("other")
	require.Equal(t, []string{"0 * * * *", "30 6 * * mon"}, other.Watch)
	require.Equal(t, "UTC", other.WatchTimeZone)

	baseos, _ := c.Repo("baseos")
	require.False(t, baseos.Watches())
	require.Empty(t, baseos.Watch, "no sources, no watch defaults")
	require.Empty(t, baseos.WatchTimeZone)
}

func TestSourceErrors(t *testing.T) {
	clearTemporalEnv(t)
	const src = "    sources:\n      - url: https://v.example.com/a.rpm\n"
	tests := []struct {
		name, text string
		line       int
		path, msg  string
	}{
		{"sources on a mirror", "store: s\nrepos:\n  - name: baseos\n    url: http://m/\n    sources: [{url: 'https://v/a.rpm', checksumURL: 'https://v/S'}]\n",
			5, "repos[0].sources", "only an overlay watches vendor sources"},
		{"watch without sources", sourcesBase + "    watch: ['*/5 * * * *']\n", 8, "repos[1].watch", "only a repo with sources is watched"},
		{"zone without sources", sourcesBase + "    watchTimeZone: UTC\n", 8, "repos[1].watchTimeZone", "only a repo with sources is watched"},
		{"bad watch cron", sourcesBase + src + "        checksumURL: https://v.example.com/S\n    watch: ['*/30 * *']\n", 11, "repos[1].watch[0]", "has 3 fields, want 5"},
		{"bad watch zone", sourcesBase + src + "        checksumURL: https://v.example.com/S\n    watchTimeZone: Moon/Base\n", 11, "repos[1].watchTimeZone", `unknown time zone "Moon/Base"`},
		{"unverified", sourcesBase + src, 9, "repos[1].sources[0]", "set checksumURL, gpgKey or both"},
		{"missing url", sourcesBase + "    sources:\n      - kind: listing\n        include: [a]\n        checksumURL: https://v/S\n", 9, "repos[1].sources[0].url", "required"},
		{"ftp url", sourcesBase + "    sources:\n      - url: ftp://v/a.rpm\n        checksumURL: https://v/S\n", 9, "repos[1].sources[0].url", `scheme "ftp"`},
		{"kind needed", sourcesBase + "    sources:\n      - url: https://v/dl/\n        checksumURL: https://v/S\n", 9, "repos[1].sources[0].kind", "required for a URL that is not an .rpm file"},
		{"bad kind", sourcesBase + "    sources:\n      - url: https://v/dl/\n        kind: html\n        include: [a]\n        checksumURL: https://v/S\n", 10, "repos[1].sources[0].kind", `"html" is not one of rpm, listing, rpmmd`},
		{"rpm kind not a file", sourcesBase + "    sources:\n      - url: https://v/dl/x\n        kind: rpm\n        checksumURL: https://v/S\n", 9, "repos[1].sources[0].url", "the URL of one .rpm file"},
		{"rpm with include", sourcesBase + src + "        include: [a*]\n        checksumURL: https://v.example.com/S\n", 10, "repos[1].sources[0].include", "include is for listing and rpmmd"},
		{"listing without include", sourcesBase + "    sources:\n      - url: https://v/dl/\n        kind: listing\n        checksumURL: https://v/S\n", 9, "repos[1].sources[0].include", "required for kind listing: the file names"},
		{"bad include", sourcesBase + "    sources:\n      - url: https://v/el9/\n        kind: rpmmd\n        include: ['[a']\n        checksumURL: https://v/S\n", 11, "repos[1].sources[0].include[0]", `"[a" is not a pattern of package names`},
		{"include with a slash", sourcesBase + "    sources:\n      - url: https://v/dl/\n        kind: listing\n        include: ['x/a.rpm']\n        checksumURL: https://v/S\n", 11, "repos[1].sources[0].include[0]", "no /"},
		{"checksum elsewhere", sourcesBase + src + "        checksumURL: https://mirror.example.org/S\n", 10, "repos[1].sources[0].checksumURL", "is not on https://v.example.com"},
		{"checksum over http", sourcesBase + src + "        checksumURL: http://v.example.com/S\n", 10, "repos[1].sources[0].checksumURL", "scheme, host and port"},
		{"checksum other port", sourcesBase + src + "        checksumURL: https://v.example.com:8443/S\n", 10, "repos[1].sources[0].checksumURL", "scheme, host and port"},
		{"checksum directory", sourcesBase + src + "        checksumURL: https://v.example.com/\n", 10, "repos[1].sources[0].checksumURL", "names a directory"},
		{"user info", sourcesBase + "    sources:\n      - url: 'https://me:pw@v.example.com/a.rpm'\n        checksumURL: https://v.example.com/S\n", 9, "repos[1].sources[0].url", "no user info"},
		{"key missing", sourcesBase + src + "        gpgKey: /nonexistent/KEY\n", 10, "repos[1].sources[0].gpgKey", "cannot read /nonexistent/KEY"},
		{"signature without key", sourcesBase + src + "        checksumURL: https://v.example.com/S\n        signature: asc\n", 11, "repos[1].sources[0].signature", "needs gpgKey"},
		{"bad signature", sourcesBase + src + "        gpgKey: RPM-GPG-KEY-test\n        signature: detached\n", 11, "repos[1].sources[0].signature", `"detached" is not one of rpm, asc`},
		{"bad bypass", sourcesBase + src + "        checksumURL: https://v.example.com/S\n        bypass: yes\n", 11, "repos[1].sources[0].bypass", `"yes" is not auto`},
		{"auto without policy", "store: s\nrepos:\n  - name: site\n    overlay: true\n    sources:\n      - url: https://v/a.rpm\n        checksumURL: https://v/S\n        bypass: auto\n",
			8, "repos[0].sources[0].bypass", "auto needs the overlay's bypass policy"},
		{"twice", sourcesBase + src + "        checksumURL: https://v.example.com/S\n      - url: https://v.example.com/a.rpm\n        checksumURL: https://v.example.com/S\n",
			11, "repos[1].sources[1].url", "is also repos[1].sources[0]"},
		{"unknown key", sourcesBase + src + "        checksumURL: https://v.example.com/S\n        sha256: abc\n", 11, "repos[1].sources[0].sha256", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			_, err := Load(path)
			require.Error(t, err)
			require.Contains(t, err.Error(), fmt.Sprintf("%s:%d: %s: ", path, tt.line, tt.path))
			require.Contains(t, err.Error(), tt.msg)
			var fe *FieldError
			require.True(t, errors.As(err, &fe))
		})
	}
}
