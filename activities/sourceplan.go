package activities

import (
	"fmt"
	"slices"
	"strings"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// This file decides, without touching the network or the disk, which of
// the files a source offers a check downloads, and says why it leaves
// each other one: a vendor listing of a thousand files costs a thousand
// names read and a few downloads, not a thousand downloads.

// nevra is a package's identity as rpm orders it.
type nevra struct{ Name, Epoch, Version, Release, Arch string }

// parseNEVRA reads name-[epoch:]version-release.arch, as rpm's %{NEVRA}
// and the overlay's file names write it.
func parseNEVRA(s string) (nevra, bool) {
	var n nevra
	rest, arch, ok := cutLast(s, ".")
	if !ok {
		return n, false
	}
	rest, rel, ok := cutLast(rest, "-")
	if !ok {
		return n, false
	}
	name, ver, ok := cutLast(rest, "-")
	if !ok {
		return n, false
	}
	n = nevra{Name: name, Epoch: "0", Version: ver, Release: rel, Arch: arch}
	if e, v, ok := strings.Cut(ver, ":"); ok {
		n.Epoch, n.Version = e, v
	}
	for _, f := range []string{n.Name, n.Epoch, n.Version, n.Release, n.Arch} {
		if f == "" || strings.ContainsAny(f, "/ :") {
			return nevra{}, false
		}
	}
	return n, true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i <= 0 || i == len(s)-len(sep) {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// parseFileName reads a vendor's file name as name-version-release.arch.rpm.
// Only a version that starts with a digit counts: "vendor-app-latest.rpm"
// is no NEVRA, and such a file is downloaded to learn what it is.
func parseFileName(file string) (nevra, bool) {
	base, ok := strings.CutSuffix(file, ".rpm")
	if !ok {
		return nevra{}, false
	}
	n, ok := parseNEVRA(base)
	if !ok || n.Version[0] < '0' || n.Version[0] > '9' || strings.Contains(file, ":") {
		return nevra{}, false
	}
	n.Epoch = "" // unknown: file names leave it out
	return n, true
}

// String writes name-[epoch:]version-release.arch, the epoch only when it
// is not 0.
func (n nevra) String() string {
	evr := n.Version + "-" + n.Release
	if n.Epoch != "" && n.Epoch != "0" {
		evr = n.Epoch + ":" + evr
	}
	return n.Name + "-" + evr + "." + n.Arch
}

// compare orders two packages of the same name by epoch, version and
// release, with rpm's rules.
// A package read from a file name, whose epoch is unknown, is taken to
// have o's: vendors keep a package's epoch, and the real one is checked
// with rpm once the file is downloaded.
func (n nevra) compare(o nevra) int {
	if n.Epoch == "" {
		n.Epoch = o.Epoch
	}
	return rpmmd.CompareEVR(n.Epoch, n.Version, n.Release, o.Epoch, o.Version, o.Release)
}

// overlayNewest is the newest package of each name in an overlay.
func overlayNewest(rpms []repo.RPMInfo) map[string]nevra {
	newest := map[string]nevra{}
	for _, r := range rpms {
		n := nevra{Name: r.Name, Epoch: r.Epoch, Version: r.Version, Release: r.Release, Arch: r.Arch}
		if o, ok := newest[n.Name]; !ok || n.compare(o) > 0 {
			newest[n.Name] = n
		}
	}
	return newest
}

// sourceFile is one file a source offers.
type sourceFile struct {
	URL  string
	File string // its name
	// Pkg is what the file name or the repo's metadata says the file is;
	// Known is false when neither says.
	Pkg   nevra
	Known bool
	// SHA256 is known before the download when a checksum file or
	// primary.xml gives it.
	SHA256 string
	// Checksum and Size are what primary.xml says; zero otherwise.
	Checksum rpmmd.Checksum
	Size     int64
}

// journalIndex is what an overlay's source journal says of files.
type journalIndex struct {
	bySHA map[string]repo.SourceEntry // the last seen, bypass, bypass-failed or retry entry per sha256
	byURL map[string]repo.SourceEntry // the last seen entry per file URL
}

func indexJournal(log []repo.SourceEntry) journalIndex {
	ix := journalIndex{bySHA: map[string]repo.SourceEntry{}, byURL: map[string]repo.SourceEntry{}}
	for _, e := range log {
		switch e.Action {
		case repo.SourceSeen:
			ix.bySHA[e.SHA256] = e
			ix.byURL[e.URL] = e
		case repo.SourceBypass, repo.SourceBypassFailed, SourceRetry:
			ix.bySHA[e.SHA256] = e
		}
	}
	return ix
}

// epoch is the epoch rpm read from f when a check saw it before (by its
// checksum, or by its URL when its name still says the same version), or
// "" if none did.
func (ix journalIndex) epoch(f sourceFile) string {
	e, ok := ix.bySHA[f.SHA256]
	if !ok || f.SHA256 == "" {
		e, ok = ix.byURL[f.URL]
	}
	if !ok {
		return ""
	}
	n, ok := parseNEVRA(e.NEVRA)
	if !ok || n.Name != f.Pkg.Name || n.Version != f.Pkg.Version || n.Release != f.Pkg.Release || n.Arch != f.Pkg.Arch {
		return ""
	}
	return n.Epoch
}

// bypassed names the bypass started with a file, if one was.
func (ix journalIndex) bypassed(sha string) (string, bool) {
	e, ok := ix.bySHA[sha]
	if ok && e.Action == repo.SourceBypass {
		return e.Bypass, true
	}
	return "", false
}

// maxSourceNotes bounds the reasons a check reports, and
// maxSourceDownloads the files one check downloads: both travel through
// workflow history. What is left is taken by the next check.
const (
	maxSourceNotes     = 20
	maxSourceDownloads = 16
)

// sourceStep is one download a check makes.
type sourceStep struct {
	File sourceFile
	// Cond makes the request conditional: the journal saw the file with
	// these validators as Seen, which is still no newer than the overlay.
	Cond validators
	Seen string
}

// sourcePlan is what a check downloads, and how many files it leaves and
// why (the first maxSourceNotes reasons).
type sourcePlan struct {
	Fetch   []sourceStep
	Skipped int
	Notes   []string
	// More counts the downloads left to the next check by the bound.
	More int
}

func (p *sourcePlan) skip(format string, args ...any) {
	p.Skipped++
	if len(p.Notes) < maxSourceNotes {
		p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
	}
}

// planSource decides what a check of a source downloads. files are what
// the source offers; newest the overlay's newest package of each name;
// sums the checksum file (nil without one); whole is set for a source
// that is one file, which the checksum file must list.
func planSource(files []sourceFile, newest map[string]nevra, sums map[string]string, ix journalIndex, checksumURL string, whole bool) (sourcePlan, error) {
	var p sourcePlan
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b sourceFile) int { return strings.Compare(a.URL, b.URL) })

	// The newest offered of each name and arch, by what the names say.
	best := map[[2]string]sourceFile{}
	var cands []sourceFile
	for _, f := range files {
		switch {
		case strings.HasSuffix(f.File, ".src.rpm") || f.Known && (f.Pkg.Arch == "src" || f.Pkg.Arch == "nosrc"):
			p.skip("%s: a source package", f.File)
			continue
		case sums != nil:
			sum, ok := sums[f.File]
			if !ok && whole {
				return p, fmt.Errorf("%w: %s does not list %s: it cannot be verified", repo.ErrBadContent, checksumURL, f.File)
			}
			if !ok {
				p.skip("%s: not listed in %s (yet?)", f.File, checksumURL)
				continue
			}
			if f.SHA256 != "" && f.SHA256 != sum {
				return p, fmt.Errorf("%w: %s: %s says sha256 %s, the repo's metadata %s", repo.ErrBadContent, f.URL, checksumURL, sum, f.SHA256)
			}
			f.SHA256 = sum
		}
		if !f.Known {
			cands = append(cands, f)
			continue
		}
		if f.Pkg.Epoch == "" {
			f.Pkg.Epoch = ix.epoch(f)
		}
		if o, ok := newest[f.Pkg.Name]; ok && f.Pkg.compare(o) <= 0 {
			p.skip("%s: not newer than %s in the overlay", f.File, o)
			continue
		}
		k := [2]string{f.Pkg.Name, f.Pkg.Arch}
		if b, ok := best[k]; ok {
			if f.Pkg.compare(b.Pkg) <= 0 {
				p.skip("%s: %s is newer", f.File, b.File)
				continue
			}
			p.skip("%s: %s is newer", b.File, f.File)
		}
		best[k] = f
	}
	for _, b := range best {
		cands = append(cands, b)
	}
	slices.SortFunc(cands, func(a, b sourceFile) int { return strings.Compare(a.URL, b.URL) })

	for _, f := range cands {
		step := sourceStep{File: f}
		if f.SHA256 != "" {
			if id, ok := ix.bypassed(f.SHA256); ok {
				p.skip("%s: bypass %s was started with it", f.File, id)
				continue
			}
			if e, ok := ix.bySHA[f.SHA256]; ok && e.Action == repo.SourceSeen && notNewer(e.NEVRA, newest) {
				p.skip("%s: seen before as %s, not newer than the overlay's", f.File, e.NEVRA)
				continue
			}
		}
		if e, ok := ix.byURL[f.URL]; ok && (e.ETag != "" || e.LastModified != "") && notNewer(e.NEVRA, newest) {
			step.Cond, step.Seen = validators{ETag: e.ETag, LastModified: e.LastModified}, e.NEVRA
		}
		if len(p.Fetch) == maxSourceDownloads {
			p.More++
			continue
		}
		p.Fetch = append(p.Fetch, step)
	}
	if p.More > 0 {
		// First, where the bound on notes cannot drop it.
		more := fmt.Sprintf("%d more files to download are left to the next check", p.More)
		p.Notes = append([]string{more}, p.Notes[:min(len(p.Notes), maxSourceNotes-1)]...)
	}
	return p, nil
}

// notNewer reports whether a package the journal recorded is still no
// newer than the overlay's newest of its name.
func notNewer(recorded string, newest map[string]nevra) bool {
	n, ok := parseNEVRA(recorded)
	if !ok {
		return false
	}
	o, ok := newest[n.Name]
	return ok && n.compare(o) <= 0
}
