package repo

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
)

// Two repos of a release can serve one NEVRA as different builds: a
// bypassed site build of hpc-base-tools-1.3-1 in the overlay, and the
// upstream's own 1.3-1 published later. rpm sees one package, dnf picks
// either, and a node may end up with the unsigned one without a word. A
// release records every such NEVRA when it is created
// (provenance/<release>/shadows.json), so the risk report, the candidate
// page and `osflow repo diff` read one finding; and `osflow
// repo files` gives overlays a lower dnf cost, so the overlay's build is
// the one installed.

// OverlayCost is the dnf cost `osflow repo files` gives an overlay repo;
// mirrors keep dnf's default, 1000. Of two packages with one NEVRA dnf
// installs the one from the repo of lower cost, so the overlay's build of
// a shadowed NEVRA. Not dnf's priority=: that hides every package of a
// name the overlay holds in the other repos, newer versions included, so
// a bypassed openssl-3.0.2 would keep the nodes from the upstream's later
// 3.0.3 for as long as the overlay holds it.
const OverlayCost = 500

// ShadowCopy is one repo's build of a shadowed NEVRA.
type ShadowCopy struct {
	Repo     string   `json:"repo"`
	Overlay  bool     `json:"overlay,omitempty"`
	Checksum Checksum `json:"checksum"`
	Size     int64    `json:"size"`
	Href     string   `json:"href"`
}

// Shadow is one NEVRA that repos of a release serve as different builds.
// Copies has one entry per repo serving it: the overlays' first, then by
// repo name.
type Shadow struct {
	NEVRA  string       `json:"nevra"`
	Copies []ShadowCopy `json:"copies"`
}

// Winner is the copy dnf installs through `osflow repo files`: the one
// overlay's, whose cost beats the mirrors'. False when no overlay,
// or more than one, serves the NEVRA: dnf may then install any copy.
func (sh Shadow) Winner() (ShadowCopy, bool) {
	if len(sh.Copies) > 1 && sh.Copies[0].Overlay && !sh.Copies[1].Overlay {
		return sh.Copies[0], true
	}
	return ShadowCopy{}, false
}

// String is the finding as reports print it:
// "hpc-base-tools-1.3-1.noarch: overlay site (sha256 ab12cd34ef56…) shadows baseos (sha256 cd34ab12ef56…)".
func (sh Shadow) String() string {
	copyName := func(c ShadowCopy) string {
		kind := ""
		if c.Overlay {
			kind = "overlay "
		}
		return fmt.Sprintf("%s%s (%s %.12s…)", kind, c.Repo, c.Checksum.Algo, c.Checksum.Hex)
	}
	names := make([]string, len(sh.Copies))
	for i, c := range sh.Copies {
		names[i] = copyName(c)
	}
	if _, ok := sh.Winner(); ok {
		return fmt.Sprintf("%s: %s shadows %s", sh.NEVRA, names[0], strings.Join(names[1:], ", "))
	}
	return fmt.Sprintf("%s: %s serve different builds; dnf may install either", sh.NEVRA, strings.Join(names, " and "))
}

// RepoManifest is one repo's manifest in a release.
type RepoManifest struct {
	Repo     string
	Overlay  bool
	Packages []Package
}

// FindShadows finds every NEVRA that two or more of the repos serve with
// different content (sameBuild: the checksum, or the size when the
// checksum types differ), sorted by NEVRA. A NEVRA listed twice in one
// manifest counts once, by its first entry, as diffs count it. Manifests
// are sorted by name.arch as written, so this is one merge over all of
// them: a release of a few 20,000-package repos takes milliseconds.
func FindShadows(repos []RepoManifest) []Shadow {
	repos = slices.Clone(repos)
	slices.SortFunc(repos, func(a, b RepoManifest) int {
		if a.Overlay != b.Overlay {
			if a.Overlay {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Repo, b.Repo)
	})
	heads := make([][]*Package, len(repos))
	for i, r := range repos {
		heads[i] = byNameArch(r.Packages)
	}
	var out []Shadow
	runs := make([][]*Package, len(repos))
	for {
		var head *Package
		for _, ps := range heads {
			if len(ps) > 0 && (head == nil || compareNameArch(ps[0], head) < 0) {
				head = ps[0]
			}
		}
		if head == nil {
			break
		}
		in := 0
		for i, ps := range heads {
			n := 0
			for n < len(ps) && compareNameArch(ps[n], head) == 0 {
				n++
			}
			runs[i], heads[i] = ps[:n], ps[n:]
			if n > 0 {
				in++
			}
		}
		if in > 1 {
			out = appendShadows(out, repos, runs)
		}
	}
	slices.SortFunc(out, func(a, b Shadow) int { return strings.Compare(a.NEVRA, b.NEVRA) })
	return out
}

// appendShadows adds the shadows among one name.arch's builds, runs[i]
// being those of repos[i]. Groups are a handful of builds at most, so
// pairwise matching is cheaper than hashing.
func appendShadows(out []Shadow, repos []RepoManifest, runs [][]*Package) []Shadow {
	if oneBuild(runs) {
		return out
	}
	type nevra struct {
		first  *Package
		copies []ShadowCopy
		differ bool
	}
	var found []nevra
	for i, run := range runs {
		for _, p := range builds(run) {
			c := ShadowCopy{Repo: repos[i].Repo, Overlay: repos[i].Overlay, Checksum: p.Checksum, Size: p.Size, Href: p.Href}
			j := slices.IndexFunc(found, func(n nevra) bool { return sameEVR(n.first, p) })
			if j < 0 {
				found = append(found, nevra{first: p, copies: []ShadowCopy{c}})
				continue
			}
			found[j].copies = append(found[j].copies, c)
			found[j].differ = found[j].differ || !sameBuild(*found[j].first, *p)
		}
	}
	for _, n := range found {
		if n.differ {
			out = append(out, Shadow{NEVRA: n.first.NEVRA(), Copies: n.copies})
		}
	}
	return out
}

// oneBuild reports whether runs hold one build, however many copies: most
// name.arch groups, which then cost no allocation.
func oneBuild(runs [][]*Package) bool {
	var first *Package
	for _, run := range runs {
		for _, p := range run {
			if first == nil {
				first = p
			} else if !sameEVR(first, p) || first.Checksum != p.Checksum && !sameBuild(*first, *p) {
				return false
			}
		}
	}
	return true
}

// shadowRecord is provenance/<release>/shadows.json.
type shadowRecord struct {
	Release string   `json:"release"`
	Shadows []Shadow `json:"shadows"`
}

func (s *Store) shadowsFile(release string) string {
	return filepath.Join(s.provenanceDir(release), "shadows.json")
}

// isOverlay reports whether repo is an overlay of this store: every
// overlay snapshot is taken from overlays/<repo>/, which exists from the
// first `osflow overlay add` or sync of it on.
func (s *Store) isOverlay(repo string) bool {
	fi, err := os.Stat(s.overlayDir(repo))
	return err == nil && fi.IsDir()
}

// findShadows reads the manifests of a release's snapshots, in parallel,
// and finds its shadows.
func (s *Store) findShadows(repos map[string]string) ([]Shadow, error) {
	names := slices.Sorted(maps.Keys(repos))
	ms := make([]RepoManifest, len(names))
	var g errgroup.Group
	for i, repo := range names {
		g.Go(func() error {
			pkgs, err := s.Manifest(repo, repos[repo])
			ms[i] = RepoManifest{Repo: repo, Overlay: s.isOverlay(repo), Packages: pkgs}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return FindShadows(ms), nil
}

// recordShadows finds and records a release's shadows. The record
// follows from the release's content, so writing it again, after a
// crash or by a concurrent reader, writes the same.
func (s *Store) recordShadows(release string, repos map[string]string) ([]Shadow, error) {
	shadows, err := s.findShadows(repos)
	if err != nil {
		return nil, fmt.Errorf("shadowed packages of release %s: %w", release, err)
	}
	if err := os.MkdirAll(s.provenanceDir(release), 0o755); err != nil {
		return nil, fmt.Errorf("shadowed packages of release %s: %w", release, err)
	}
	if err := s.writeJSON(s.shadowsFile(release), shadowRecord{Release: release, Shadows: shadows}); err != nil {
		return nil, fmt.Errorf("shadowed packages of release %s: %w", release, err)
	}
	return shadows, nil
}

// ReleaseShadows reads the NEVRAs the release's repos serve as different
// builds, as recorded when it was created; a release created before
// releases recorded them gets its record now.
func (s *Store) ReleaseShadows(release string) ([]Shadow, error) {
	if err := checkReleaseID(release); err != nil {
		return nil, err
	}
	var rec shadowRecord
	err := readJSON(s.shadowsFile(release), &rec)
	if err == nil {
		return rec.Shadows, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("shadowed packages of release %s: %w", release, err)
	}
	rel, err := s.Release(release)
	if err != nil {
		return nil, err
	}
	return s.recordShadows(release, rel.Repos)
}
