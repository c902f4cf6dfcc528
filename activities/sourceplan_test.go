package activities

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
)

func TestParseFileName(t *testing.T) {
	for file, want := range map[string]string{
		"vendor-app-2.1-1.el9.x86_64.rpm":  "vendor-app  2.1 1.el9 x86_64",
		"openssl-libs-3.0.8-1.el9.src.rpm": "openssl-libs  3.0.8 1.el9 src",
		"a-1-1.noarch.rpm":                 "a  1 1 noarch",
		"vendor-app-latest.x86_64.rpm":     "", // "app" is no version
		"vendor-app.rpm":                   "",
		"vendor-app-2.1-1.x86_64.tar.gz":   "",
		"vendor-app-1:2.1-1.x86_64.rpm":    "", // an epoch is never in a file name
		"-1-1.noarch.rpm":                  "",
		"x-1-.noarch.rpm":                  "",
	} {
		n, ok := parseFileName(file)
		if want == "" {
			require.False(t, ok, file)
			continue
		}
		require.True(t, ok, file)
		require.Equal(t, want, strings.Join([]string{n.Name, n.Epoch, n.Version, n.Release, n.Arch}, " "), file)
	}
	n, ok := parseNEVRA("vendor-app-3:2.1-1.x86_64")
	require.True(t, ok)
	require.Equal(t, nevra{Name: "vendor-app", Epoch: "3", Version: "2.1", Release: "1", Arch: "x86_64"}, n)
	require.Equal(t, "vendor-app-3:2.1-1.x86_64", n.String())
	older, _ := parseNEVRA("vendor-app-9.9-1.x86_64")
	require.Positive(t, n.compare(older), "the epoch wins")
	named, _ := parseFileName("vendor-app-2.2-1.x86_64.rpm")
	require.Positive(t, named.compare(n), "a file name's unknown epoch is taken to be the overlay's")
	named, _ = parseFileName("vendor-app-2.1-1.x86_64.rpm")
	require.Zero(t, named.compare(n))
}

func TestParseChecksums(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("B", 64)
	sums, err := parseChecksums("https://v/SUMS", []byte("-----BEGIN PGP SIGNED MESSAGE-----\n# sums\n"+
		a+"  vendor-app-1.0-1.x86_64.rpm\n"+b+" *./Packages/vendor-tool-1.0-1.x86_64.rpm\r\n"+
		"SHA256 (vendor-doc-1.0-1.noarch.rpm) = "+a+"\nnot a sum line\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"vendor-app-1.0-1.x86_64.rpm":  a,
		"vendor-tool-1.0-1.x86_64.rpm": strings.ToLower(b),
		"vendor-doc-1.0-1.noarch.rpm":  a,
	}, sums)

	_, err = parseChecksums("https://v/SUMS", []byte(a+"  x.rpm\n"+strings.Repeat("c", 64)+"  dir/x.rpm\n"))
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.ErrorContains(t, err, "lists x.rpm twice")
	_, err = parseChecksums("https://v/SUMS", []byte("<html>not found</html>\n"))
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.ErrorContains(t, err, "holds no SHA256 sums")
}

// TestPlanSourceIsBounded: a vendor listing of a thousand files, many
// versions of many packages, costs a bounded number of downloads and
// notes, and never a download of what the overlay already has.
func TestPlanSourceIsBounded(t *testing.T) {
	var files []sourceFile
	for pkg := range 100 {
		for v := range 10 {
			name := fmt.Sprintf("tool%03d-%d.0-1.x86_64.rpm", pkg, v)
			f := sourceFile{URL: "https://v/dl/" + name, File: name}
			f.Pkg, f.Known = parseFileName(name)
			files = append(files, f)
		}
	}
	newest := map[string]nevra{}
	for pkg := range 90 {
		newest[fmt.Sprintf("tool%03d", pkg)] = nevra{Name: fmt.Sprintf("tool%03d", pkg), Epoch: "0", Version: "9.0", Release: "1", Arch: "x86_64"}
	}
	p, err := planSource(files, newest, nil, indexJournal(nil), "", false)
	require.NoError(t, err)
	require.Len(t, p.Fetch, 10, "the newest of each package the overlay lacks")
	for _, s := range p.Fetch {
		require.Contains(t, s.File.File, "-9.0-1.x86_64.rpm")
		require.True(t, strings.HasPrefix(s.File.File, "tool09"), s.File.File)
	}
	require.Equal(t, 990, p.Skipped)
	require.Len(t, p.Notes, maxSourceNotes)

	// With nothing in the overlay, the downloads of one check are bounded.
	p, err = planSource(files, nil, nil, indexJournal(nil), "", false)
	require.NoError(t, err)
	require.Len(t, p.Fetch, maxSourceDownloads)
	require.Equal(t, 100-maxSourceDownloads, p.More)
	require.Equal(t, fmt.Sprintf("%d more files to download are left to the next check", 100-maxSourceDownloads), p.Notes[0])
	require.Len(t, p.Notes, maxSourceNotes)
}

func TestPlanSourceUsesTheJournal(t *testing.T) {
	f := func(name, sha string) sourceFile {
		s := sourceFile{URL: "https://v/dl/" + name, File: name, SHA256: sha}
		s.Pkg, s.Known = parseFileName(name)
		return s
	}
	newest := map[string]nevra{"app": {Name: "app", Epoch: "0", Version: "2.0", Release: "1", Arch: "x86_64"}}
	ix := indexJournal([]repo.SourceEntry{
		{Action: repo.SourceSeen, URL: "https://v/dl/latest.rpm", SHA256: "s1", NEVRA: "app-1.5-1.x86_64", LastModified: "Tue, 01 Dec 2026 10:00:00 GMT"},
		{Action: repo.SourceSeen, URL: "https://v/dl/current.rpm", SHA256: "s2", NEVRA: "app-1.9-1.x86_64"},
		{Action: repo.SourceBypass, URL: "https://v/dl/fix-3.0-1.x86_64.rpm", SHA256: "s3", NEVRA: "fix-3.0-1.x86_64", Bypass: "bypass-site-x"},
		{Action: repo.SourceBypass, URL: "https://v/dl/fix2-1.0-1.x86_64.rpm", SHA256: "s4", Bypass: "bypass-site-y"},
		{Action: repo.SourceBypassFailed, URL: "https://v/dl/fix2-1.0-1.x86_64.rpm", SHA256: "s4", Bypass: "bypass-site-y"},
	})
	p, err := planSource([]sourceFile{
		f("latest.rpm", ""),               // seen by URL: conditional
		f("current.rpm", "s2"),            // seen by checksum: skipped
		f("fix-3.0-1.x86_64.rpm", "s3"),   // bypassed: skipped
		f("fix2-1.0-1.x86_64.rpm", "s4"),  // its bypass failed to start: taken
		f("app-2.0-1.x86_64.src.rpm", ""), // a source package
	}, newest, nil, ix, "", false)
	require.NoError(t, err)
	require.Equal(t, []string{
		"app-2.0-1.x86_64.src.rpm: a source package",
		"current.rpm: seen before as app-1.9-1.x86_64, not newer than the overlay's",
		"fix-3.0-1.x86_64.rpm: bypass bypass-site-x was started with it",
	}, p.Notes)
	require.Len(t, p.Fetch, 2)
	require.Equal(t, "fix2-1.0-1.x86_64.rpm", p.Fetch[0].File.File)
	require.Equal(t, "latest.rpm", p.Fetch[1].File.File)
	require.Equal(t, validators{LastModified: "Tue, 01 Dec 2026 10:00:00 GMT"}, p.Fetch[1].Cond)

	// Once the overlay lost app 2.0, what was seen is wanted again, unconditionally.
	p, err = planSource([]sourceFile{f("latest.rpm", ""), f("current.rpm", "s2")}, nil, nil, ix, "", false)
	require.NoError(t, err)
	require.Len(t, p.Fetch, 2)
	require.Zero(t, p.Fetch[0].Cond)
	require.Zero(t, p.Fetch[1].Cond)
}

func TestListingLinks(t *testing.T) {
	c := &http.Client{}
	f, err := newSourceFetcher(c, "https://vendor.example.com/dl/el9/", config.Speed{})
	require.NoError(t, err)
	links, err := f.listingLinks([]byte(`<html><body><h1>Index of /dl/el9</h1><pre>
<a href="?C=N;O=D">Name</a> <a href="../">Parent</a> <a href="old/">old/</a>
<a href="vendor-app-1.0-1.x86_64.rpm">vendor-app-1.0-1.x86_64.rpm</a>
<a href="/dl/el9/vendor-app-1.1-1.x86_64.rpm">abs path</a>
<a href="https://vendor.example.com/dl/el9/vendor-tool-2.0-1.x86_64.rpm">abs URL</a>
<a href="https://mirror.example.net/dl/el9/evil-1.0-1.x86_64.rpm">another host</a>
<a href="http://vendor.example.com/dl/el9/plain-1.0-1.x86_64.rpm">http</a>
<a href="old/vendor-app-0.9-1.x86_64.rpm">subdirectory</a>
<a href="vendor-app-1.0-1.x86_64.rpm.asc">signature</a>
<a href="vendor%20space-1.0-1.x86_64.rpm">escaped</a>
<a href="x.rpm?download=1">query</a>
<A HREF="UPPER-1.0-1.x86_64.rpm">upper</A>
</pre></body></html>`))
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"vendor-app-1.0-1.x86_64.rpm":   "https://vendor.example.com/dl/el9/vendor-app-1.0-1.x86_64.rpm",
		"vendor-app-1.1-1.x86_64.rpm":   "https://vendor.example.com/dl/el9/vendor-app-1.1-1.x86_64.rpm",
		"vendor-tool-2.0-1.x86_64.rpm":  "https://vendor.example.com/dl/el9/vendor-tool-2.0-1.x86_64.rpm",
		"vendor space-1.0-1.x86_64.rpm": "https://vendor.example.com/dl/el9/vendor%20space-1.0-1.x86_64.rpm",
		"UPPER-1.0-1.x86_64.rpm":        "https://vendor.example.com/dl/el9/UPPER-1.0-1.x86_64.rpm",
	}, links)
}
