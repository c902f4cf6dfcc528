package repo

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// This file reads the advisories (errata) that upstream publishes in
// updateinfo.xml, which snapshots keep byte for byte, and picks those a
// release brings to a channel: the security part of a risk report.

// SnapshotAdvisories streams the advisories of a snapshot's updateinfo to
// fn, a tree's from every variant's, and reports whether the snapshot has
// updateinfo at all (many repos, EPEL's and overlays among them, have
// none).
func (s *Store) SnapshotAdvisories(repo, id string, fn func(rpmmd.Advisory) error) (bool, error) {
	found, err := s.readMetadata(repo, id, "updateinfo", func(r io.Reader) error {
		err := rpmmd.ParseUpdateinfo(r, fn)
		if errors.Is(err, rpmmd.ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrBadContent, err)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("advisories of snapshot %s/%s: %w", repo, id, err)
	}
	return found, nil
}

// readMetadata calls read with each metadata file of type typ
// ("updateinfo", "modules") of a snapshot, decompressed: the one its
// repodata/repomd.xml names, or for a distribution tree the one of each
// variant repository (whose repodata/ the tree's root lacks unless a
// variant sits there). found is false when the snapshot has none.
func (s *Store) readMetadata(repo, id, typ string, read func(io.Reader) error) (found bool, _ error) {
	snap, err := s.Snapshot(repo, id)
	if err != nil {
		return false, err
	}
	dirs := []string{"."}
	if snap.Tree != nil {
		dirs = dirs[:0]
		for _, v := range snap.Tree.Variants {
			dirs = append(dirs, v.Path)
		}
	}
	for _, dir := range dirs {
		where := path.Join(dir, "repodata")
		open, ok, err := openMetadata(filepath.Join(s.snapshotDir(repo, id), filepath.FromSlash(dir)), typ)
		if err == nil && ok {
			found = true
			err = read(open)
			open.Close()
		}
		if err != nil {
			return false, fmt.Errorf("%s in %s: %w", typ, where, err)
		}
	}
	return found, nil
}

// openMetadata opens, decompressed, the metadata file of type typ that
// dir/repodata/repomd.xml names, read within rpmmd's default limits;
// found is false when there is none.
func openMetadata(dir, typ string) (_ io.ReadCloser, found bool, _ error) {
	lim := rpmmd.DefaultLimits()
	f, err := os.Open(filepath.Join(dir, "repodata", "repomd.xml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	md, err := rpmmd.ParseRepomd(f, lim)
	f.Close()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrBadContent, err)
	}
	d, ok := md.Find(typ)
	if !ok {
		return nil, false, nil
	}
	// ParseRepomd checked the href: it stays inside the repository.
	raw, err := os.Open(filepath.Join(dir, filepath.FromSlash(d.Href)))
	if err != nil {
		return nil, false, err
	}
	open, err := rpmmd.Decompress(d.Href, rpmmd.LimitReader(raw, lim.MetadataBytes, d.Href), lim.OpenBytesFor(d.Type))
	if err != nil {
		raw.Close()
		return nil, false, fmt.Errorf("%w: %w", ErrBadContent, err)
	}
	return readCloser{open, func() error { open.Close(); return raw.Close() }}, true, nil
}

// readCloser closes with close.
type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// Applicable is an advisory that a release brings: production lacks the
// fix of one of its packages and the release has it.
type Applicable struct {
	rpmmd.Advisory
	Repos []string // where it was found, sorted
	// Fixes are the release's packages (NEVRA) that carry the fix: for
	// each package the advisory names and production lacks, the release's
	// oldest build of that name.arch at or above it (the named build
	// itself when the release has it). Sorted.
	Fixes []string
}

// ReleaseAdvisories returns the advisories that applying d (from
// production to a candidate, say) brings, read from the updateinfo of the
// candidate's snapshots of every repo that changed or was added, and
// judged against every package of both releases (see
// ApplicableAdvisories). Repos without updateinfo contribute nothing. A
// From that is not a release ID (a channel that serves nothing yet)
// stands for the empty release.
func (s *Store) ReleaseAdvisories(d ReleaseDiff) ([]Applicable, error) {
	fail := func(err error) ([]Applicable, error) {
		return nil, fmt.Errorf("advisories of release %s: %w", d.To, err)
	}
	to, err := s.Release(d.To)
	if err != nil {
		return fail(err)
	}
	from := Release{Repos: map[string]string{}}
	if CheckReleaseID(d.From) == nil {
		if from, err = s.Release(d.From); err != nil {
			return fail(err)
		}
	}
	prod, err := s.releaseBuilds(from)
	if err != nil {
		return fail(err)
	}
	cand, err := s.releaseBuilds(to)
	if err != nil {
		return fail(err)
	}
	var repos []string
	for repo, snap := range to.Repos {
		if from.Repos[repo] != snap {
			repos = append(repos, repo)
		}
	}
	slices.Sort(repos)
	m := newAdvisoryMatcher(prod, cand)
	for _, repo := range repos {
		if _, err := s.SnapshotAdvisories(repo, to.Repos[repo], func(a rpmmd.Advisory) error {
			m.add(repo, a)
			return nil
		}); err != nil {
			return fail(err)
		}
	}
	return m.sorted(), nil
}

// releaseBuilds indexes every package of a release's repos by name.arch.
func (s *Store) releaseBuilds(rel Release) (buildIndex, error) {
	idx := buildIndex{}
	for repo, snap := range rel.Repos {
		pkgs, err := s.Manifest(repo, snap)
		if err != nil {
			return nil, err
		}
		idx.add(pkgs)
	}
	return idx, nil
}

// ApplicableAdvisories picks, from the advisories of each repo (repo ->
// its updateinfo), those that moving from production's packages to the
// candidate's brings, merged by ID across repos. An advisory is brought
// when, for one package it names (by NEVRA, epoch-aware), the candidate
// has that build or a newer one of the name.arch and production has
// neither: a build added beside an older one (EL repos keep every build
// of a minor release) brings only the advisories newer than production's
// newest build, not every past advisory of the name. The order is
// security advisories first, by severity (Critical, Important, Moderate,
// Low, unrated), then bug fixes, enhancements and the rest; newest first
// within each, then by ID.
func ApplicableAdvisories(production, candidate []Package, byRepo map[string][]rpmmd.Advisory) []Applicable {
	prod, cand := buildIndex{}, buildIndex{}
	prod.add(production)
	cand.add(candidate)
	m := newAdvisoryMatcher(prod, cand)
	for _, repo := range slices.Sorted(maps.Keys(byRepo)) {
		for _, a := range byRepo[repo] {
			m.add(repo, a)
		}
	}
	return m.sorted()
}

type nameArch struct{ name, arch string }

// buildIndex holds the builds of each name.arch a release serves.
type buildIndex map[nameArch][]Package

func (idx buildIndex) add(pkgs []Package) {
	for _, p := range pkgs {
		k := nameArch{p.Name, p.Arch}
		idx[k] = append(idx[k], p)
	}
}

// fixedBy returns the oldest build of p's name.arch at or above p, and
// false when there is none: the build that carries p's fix.
func (idx buildIndex) fixedBy(p Package) (Package, bool) {
	var best Package
	found := false
	for _, b := range idx[nameArch{p.Name, p.Arch}] {
		if compareEVR(b, p) >= 0 && (!found || compareEVR(b, best) < 0) {
			best, found = b, true
		}
	}
	return best, found
}

type advisoryMatcher struct {
	production, candidate buildIndex
	byID                  map[string]*Applicable
}

func newAdvisoryMatcher(production, candidate buildIndex) *advisoryMatcher {
	return &advisoryMatcher{production: production, candidate: candidate, byID: map[string]*Applicable{}}
}

// add keeps a if the candidate has the fix of one of its packages and
// production does not.
func (m *advisoryMatcher) add(repo string, a rpmmd.Advisory) {
	var fixes []string
	for _, ap := range a.Packages {
		p := Package{Name: ap.Name, Epoch: ap.Epoch, Version: ap.Version, Release: ap.Release, Arch: ap.Arch}
		fix, ok := m.candidate.fixedBy(p)
		if !ok {
			continue
		}
		if _, had := m.production.fixedBy(p); had {
			continue
		}
		fixes = append(fixes, fix.NEVRA())
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

// PublishedAdvisories lists the advisories that the updateinfo of a repo
// d changes gained, but that ReleaseAdvisories does not count because
// From has their fix already (an advisory issued late, or re-issued, for
// a build already served). A metadata-only release may carry nothing
// else. Sorted by ID.
func (s *Store) PublishedAdvisories(d ReleaseDiff, brought []Applicable) ([]rpmmd.Advisory, error) {
	if CheckReleaseID(d.From) != nil || CheckReleaseID(d.To) != nil {
		return nil, nil
	}
	fail := func(err error) ([]rpmmd.Advisory, error) {
		return nil, fmt.Errorf("advisories published from %s to %s: %w", d.From, d.To, err)
	}
	from, err := s.Release(d.From)
	if err != nil {
		return fail(err)
	}
	to, err := s.Release(d.To)
	if err != nil {
		return fail(err)
	}
	skip := map[string]bool{}
	for _, a := range brought {
		skip[a.ID] = true
	}
	var out []rpmmd.Advisory
	for _, repo := range slices.Sorted(maps.Keys(d.Repos)) {
		if from.Repos[repo] == "" || to.Repos[repo] == "" {
			continue
		}
		if _, err := s.SnapshotAdvisories(repo, from.Repos[repo], func(a rpmmd.Advisory) error {
			skip[a.ID] = true
			return nil
		}); err != nil {
			return fail(err)
		}
		if _, err := s.SnapshotAdvisories(repo, to.Repos[repo], func(a rpmmd.Advisory) error {
			if !skip[a.ID] {
				skip[a.ID] = true
				out = append(out, a)
			}
			return nil
		}); err != nil {
			return fail(err)
		}
	}
	slices.SortFunc(out, func(a, b rpmmd.Advisory) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}
