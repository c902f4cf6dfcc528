package repo

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// This file reads the advisories (errata) that upstream publishes in
// updateinfo.xml, which snapshots keep byte for byte, and picks those a
// release brings to a channel: the security part of a risk report.

// SnapshotAdvisories streams the advisories of a snapshot's updateinfo to
// fn, and reports whether the snapshot has updateinfo at all (many repos,
// EPEL's and overlays among them, have none). The file is found through
// the snapshot's repodata/repomd.xml and read within rpmmd's default limits.
func (s *Store) SnapshotAdvisories(repo, id string, fn func(rpmmd.Advisory) error) (bool, error) {
	if _, err := s.Snapshot(repo, id); err != nil {
		return false, err
	}
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("advisories of snapshot %s/%s: %w", repo, id, err)
	}
	dir := s.snapshotDir(repo, id)
	lim := rpmmd.DefaultLimits()
	f, err := os.Open(filepath.Join(dir, "repodata", "repomd.xml"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return fail(err)
	}
	md, err := rpmmd.ParseRepomd(f, lim)
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrBadContent, err))
	}
	d, ok := md.Find("updateinfo")
	if !ok {
		return false, nil
	}
	// ParseRepomd checked the href: it stays inside the snapshot.
	raw, err := os.Open(filepath.Join(dir, filepath.FromSlash(d.Href)))
	if err != nil {
		return fail(err)
	}
	defer raw.Close()
	open, err := rpmmd.Decompress(d.Href, rpmmd.LimitReader(raw, lim.MetadataBytes, d.Href), lim.OpenBytesFor(d.Type))
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrBadContent, err))
	}
	defer open.Close()
	if err := rpmmd.ParseUpdateinfo(open, fn); err != nil {
		if errors.Is(err, rpmmd.ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrBadContent, err)
		}
		return fail(err)
	}
	return true, nil
}

// Applicable is an advisory that a release brings: one of its package
// builds is newer than what the other side of the diff has, and no newer
// than what the release has.
type Applicable struct {
	rpmmd.Advisory
	Repos []string // where it was found, sorted
	// Fixes are the release's packages (NEVRA) that carry the fix.
	Fixes []string
}

// ReleaseAdvisories returns the advisories that applying d (from
// production to a candidate, say) brings, read from the updateinfo of the
// candidate's snapshots of every repo that changed or was added. Repos
// without updateinfo contribute nothing. The order is ApplicableAdvisories'.
func (s *Store) ReleaseAdvisories(d ReleaseDiff) ([]Applicable, error) {
	to, err := s.Release(d.To)
	if err != nil {
		return nil, fmt.Errorf("advisories of release %s: %w", d.To, err)
	}
	diffs := map[string]SnapshotDiff{}
	for repo, sd := range d.Repos {
		diffs[repo] = sd
	}
	for _, repo := range d.AddedRepos {
		pkgs, err := s.Manifest(repo, to.Repos[repo])
		if err != nil {
			return nil, fmt.Errorf("advisories of release %s: %w", d.To, err)
		}
		diffs[repo] = SnapshotDiff{Added: pkgs}
	}
	m := newAdvisoryMatcher()
	for _, repo := range slices.Sorted(maps.Keys(diffs)) {
		idx := indexChanges(diffs[repo])
		if len(idx) == 0 {
			continue
		}
		if _, err := s.SnapshotAdvisories(repo, to.Repos[repo], func(a rpmmd.Advisory) error {
			m.add(repo, a, idx)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("advisories of release %s: %w", d.To, err)
		}
	}
	return m.sorted(), nil
}

// ApplicableAdvisories picks, from the advisories of each repo (repo ->
// its updateinfo), those that d brings, merged by ID across repos:
// security advisories first, by severity (Critical, Important, Moderate,
// Low, unrated), then bug fixes, enhancements and the rest; newest first
// within each, then by ID.
func ApplicableAdvisories(d ReleaseDiff, byRepo map[string][]rpmmd.Advisory) []Applicable {
	m := newAdvisoryMatcher()
	for _, repo := range slices.Sorted(maps.Keys(byRepo)) {
		idx := indexChanges(d.Repos[repo])
		for _, a := range byRepo[repo] {
			m.add(repo, a, idx)
		}
	}
	return m.sorted()
}

// span is the range of builds of one name.arch that a diff brings: newer
// than from (nil: any), up to and including to.
type span struct {
	from *Package
	to   Package
}

type nameArch struct{ name, arch string }

// indexChanges lists what a snapshot diff brings, by name.arch: upgrades
// and additions. Downgrades and rebuilds bring no fix.
func indexChanges(d SnapshotDiff) map[nameArch][]span {
	idx := map[nameArch][]span{}
	for _, c := range d.Upgraded {
		idx[nameArch{c.Name, c.Arch}] = append(idx[nameArch{c.Name, c.Arch}], span{from: &c.From, to: c.To})
	}
	for _, p := range d.Added {
		idx[nameArch{p.Name, p.Arch}] = append(idx[nameArch{p.Name, p.Arch}], span{to: p})
	}
	return idx
}

type advisoryMatcher struct {
	byID map[string]*Applicable
}

func newAdvisoryMatcher() *advisoryMatcher { return &advisoryMatcher{byID: map[string]*Applicable{}} }

// add keeps a if one of its packages falls in a span of idx.
func (m *advisoryMatcher) add(repo string, a rpmmd.Advisory, idx map[nameArch][]span) {
	var fixes []string
	for _, ap := range a.Packages {
		p := Package{Name: ap.Name, Epoch: ap.Epoch, Version: ap.Version, Release: ap.Release, Arch: ap.Arch}
		for _, sp := range idx[nameArch{ap.Name, ap.Arch}] {
			if (sp.from == nil || compareEVR(p, *sp.from) > 0) && compareEVR(p, sp.to) <= 0 {
				fixes = append(fixes, sp.to.NEVRA())
			}
		}
	}
	if len(fixes) == 0 {
		return
	}
	got, ok := m.byID[a.ID]
	if !ok {
		got = &Applicable{Advisory: a}
		m.byID[a.ID] = got
	}
	if !slices.Contains(got.Repos, repo) {
		got.Repos = append(got.Repos, repo)
		slices.Sort(got.Repos)
	}
	for _, f := range fixes {
		if !slices.Contains(got.Fixes, f) {
			got.Fixes = append(got.Fixes, f)
		}
	}
	slices.Sort(got.Fixes)
}

var (
	typeRank     = map[string]int{"security": 0, "bugfix": 1, "enhancement": 2, "newpackage": 3}
	severityRank = map[string]int{"Critical": 0, "Important": 1, "Moderate": 2, "Low": 3}
)

func rank(m map[string]int, k string) int {
	if r, ok := m[k]; ok {
		return r
	}
	return len(m)
}

func (m *advisoryMatcher) sorted() []Applicable {
	out := make([]Applicable, 0, len(m.byID))
	for _, a := range m.byID {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b Applicable) int {
		c := cmp.Compare(rank(typeRank, a.Type), rank(typeRank, b.Type))
		if c == 0 && a.Type == "security" {
			c = cmp.Compare(rank(severityRank, a.Severity), rank(severityRank, b.Severity))
		}
		return cmp.Or(c, b.Issued.Compare(a.Issued), cmp.Compare(a.ID, b.ID))
	})
	return out
}
