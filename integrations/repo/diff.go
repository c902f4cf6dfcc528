package repo

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// Change is one package whose version or build moved between two snapshots.
type Change struct {
	Name, Arch string
	From, To   Package
}

// SnapshotDiff is what changes for a client moving from one snapshot of a
// repo to another. Every package of either side is accounted for exactly
// once: unchanged, or in one of these lists.
type SnapshotDiff struct {
	Added, Removed                []Package
	Upgraded, Downgraded, Rebuilt []Change
}

// Empty reports whether the two sides hold the same packages.
func (d SnapshotDiff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Upgraded)+len(d.Downgraded)+len(d.Rebuilt) == 0
}

// ReleaseDiff compares two releases repo by repo. Repos lists every repo
// whose snapshot differs: present in both, or on one side only, which
// AddedRepos or RemovedRepos also name (all its packages added or
// removed), so that totals over Repos count every package.
type ReleaseDiff struct {
	From, To     string
	Repos        map[string]SnapshotDiff
	AddedRepos   []string
	RemovedRepos []string
}

func epochOf(p Package) string {
	if p.Epoch == "" {
		return "0"
	}
	return p.Epoch
}

func compareEVR(a, b Package) int {
	return rpmmd.CompareEVR(epochOf(a), a.Version, a.Release, epochOf(b), b.Version, b.Release)
}

// sameEVR reports whether two packages are the same build of a name.arch;
// an empty epoch is epoch 0.
func sameEVR(a, b *Package) bool {
	return a.Version == b.Version && a.Release == b.Release && epochOf(*a) == epochOf(*b)
}

// comparePackages orders by name, arch and EVR. cmp.Or is not used: it
// would evaluate the costly EVR comparison for every pair.
func comparePackages(a, b Package) int {
	if c := compareNameArch(&a, &b); c != 0 {
		return c
	}
	if c := compareEVR(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.Checksum.Hex, b.Checksum.Hex)
}

func compareChanges(a, b Change) int { return comparePackages(a.To, b.To) }

// sameBuild reports whether two packages of one NEVRA hold the same bytes.
// When a repo changes checksum type the digests cannot be compared, and
// flagging every package as rebuilt would bury the real changes, so the
// size decides.
func sameBuild(a, b Package) bool {
	if !strings.EqualFold(a.Checksum.Algo, b.Checksum.Algo) {
		return a.Size == b.Size
	}
	return strings.EqualFold(a.Checksum.Hex, b.Checksum.Hex)
}

func compareNameArch(a, b *Package) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Arch, b.Arch))
}

// byNameArch returns pointers to pkgs sorted by name.arch, leaving pkgs
// as it is; sorting pointers moves 8 bytes per swap instead of a Package.
// Manifests are written sorted, so the sort is usually skipped.
func byNameArch(pkgs []Package) []*Package {
	ps := make([]*Package, len(pkgs))
	for i := range pkgs {
		ps[i] = &pkgs[i]
	}
	if !slices.IsSortedFunc(ps, compareNameArch) {
		slices.SortFunc(ps, compareNameArch)
	}
	return ps
}

// DiffManifests compares two manifests by name.arch. A build (EVR) present
// on both sides is unchanged, or rebuilt if its checksum differs. Of the
// builds left on each side, the newest of a pairs with the newest of b as an
// upgrade or downgrade, and the rest are removed or added: a repo carrying
// several kernels is normal, and this keeps every package accounted for.
func DiffManifests(a, b []Package) SnapshotDiff {
	sa, sb := byNameArch(a), byNameArch(b)
	var d SnapshotDiff
	// Merge the two sorted lists one name.arch group at a time.
	for len(sa) > 0 || len(sb) > 0 {
		var head *Package
		switch {
		case len(sa) == 0:
			head = sb[0]
		case len(sb) == 0:
			head = sa[0]
		case compareNameArch(sa[0], sb[0]) <= 0:
			head = sa[0]
		default:
			head = sb[0]
		}
		run := func(ps []*Package) int {
			n := 0
			for n < len(ps) && compareNameArch(ps[n], head) == 0 {
				n++
			}
			return n
		}
		na, nb := run(sa), run(sb)
		d.add(sa[:na], sb[:nb])
		sa, sb = sa[na:], sb[nb:]
	}
	slices.SortFunc(d.Added, comparePackages)
	slices.SortFunc(d.Removed, comparePackages)
	for _, cs := range [][]Change{d.Upgraded, d.Downgraded, d.Rebuilt} {
		slices.SortFunc(cs, compareChanges)
	}
	return d
}

// builds drops repeated builds from one name.arch group: a manifest may
// list one NEVRA twice, and the first entry speaks for it.
func builds(group []*Package) []*Package {
	if len(group) < 2 {
		return group
	}
	var out []*Package
	for _, p := range group {
		if !slices.ContainsFunc(out, func(q *Package) bool { return sameEVR(p, q) }) {
			out = append(out, p)
		}
	}
	return out
}

// add records the changes of one name.arch, given its builds on each side.
// Groups are small (a handful of kernels at most), so pairwise matching
// is cheaper than hashing.
func (d *SnapshotDiff) add(a, b []*Package) {
	a, b = builds(a), builds(b)
	var onlyA, onlyB []*Package
	for _, pa := range a {
		i := slices.IndexFunc(b, func(pb *Package) bool { return sameEVR(pa, pb) })
		switch {
		case i < 0:
			onlyA = append(onlyA, pa)
		case !sameBuild(*pa, *b[i]):
			d.Rebuilt = append(d.Rebuilt, Change{Name: pa.Name, Arch: pa.Arch, From: *pa, To: *b[i]})
		}
	}
	for _, pb := range b {
		if !slices.ContainsFunc(a, func(pa *Package) bool { return sameEVR(pa, pb) }) {
			onlyB = append(onlyB, pb)
		}
	}
	if len(onlyA) > 0 && len(onlyB) > 0 {
		newest := func(ps []*Package) int {
			i := 0
			for j := range ps {
				if compareEVR(*ps[j], *ps[i]) > 0 {
					i = j
				}
			}
			return i
		}
		ia, ib := newest(onlyA), newest(onlyB)
		ch := Change{Name: onlyA[ia].Name, Arch: onlyA[ia].Arch, From: *onlyA[ia], To: *onlyB[ib]}
		switch c := compareEVR(ch.To, ch.From); {
		case c > 0:
			d.Upgraded = append(d.Upgraded, ch)
		case c < 0:
			d.Downgraded = append(d.Downgraded, ch)
		case !sameBuild(ch.From, ch.To):
			// Spelled differently ("1.0" and "1.00") but equal to rpm.
			d.Rebuilt = append(d.Rebuilt, ch)
		}
		onlyA = slices.Delete(onlyA, ia, ia+1)
		onlyB = slices.Delete(onlyB, ib, ib+1)
	}
	for _, p := range onlyA {
		d.Removed = append(d.Removed, *p)
	}
	for _, p := range onlyB {
		d.Added = append(d.Added, *p)
	}
}

// DiffSnapshots compares two snapshots of one repo.
func (s *Store) DiffSnapshots(repo, a, b string) (SnapshotDiff, error) {
	var ma, mb []Package
	var g errgroup.Group
	g.Go(func() (err error) { ma, err = s.Manifest(repo, a); return err })
	g.Go(func() (err error) { mb, err = s.Manifest(repo, b); return err })
	if err := g.Wait(); err != nil {
		return SnapshotDiff{}, fmt.Errorf("diff snapshots %s/%s and %s/%s: %w", repo, a, repo, b, err)
	}
	return DiffManifests(ma, mb), nil
}

// resolveRelease reads the release named by ref, which is a release ID or
// a channel name standing for the release it points at.
func (s *Store) resolveRelease(ref string) (Release, error) {
	if CheckChannelName(ref) == nil {
		id, err := s.Channel(ref)
		if err != nil {
			return Release{}, err
		}
		if id == "" {
			// A channel that never served anything serves nothing: the
			// first promotion to production adds every package.
			return Release{ID: "(" + ref + ": nothing)", Repos: map[string]string{}}, nil
		}
		ref = id
	}
	return s.Release(ref)
}

// DiffReleases compares two releases; a and b may also be channel names,
// standing for the release each channel points at now. A channel that
// never served anything stands for the empty release: every package of
// the other side is added (or removed).
func (s *Store) DiffReleases(a, b string) (ReleaseDiff, error) {
	fail := func(err error) (ReleaseDiff, error) {
		return ReleaseDiff{}, fmt.Errorf("diff releases %s and %s: %w", a, b, err)
	}
	ra, err := s.resolveRelease(a)
	if err != nil {
		return fail(err)
	}
	rb, err := s.resolveRelease(b)
	if err != nil {
		return fail(err)
	}
	d := ReleaseDiff{From: ra.ID, To: rb.ID, Repos: map[string]SnapshotDiff{}}
	var changed []string
	for repo, snap := range ra.Repos {
		switch other, ok := rb.Repos[repo]; {
		case !ok:
			d.RemovedRepos = append(d.RemovedRepos, repo)
		case other != snap:
			changed = append(changed, repo)
		}
	}
	for repo := range rb.Repos {
		if _, ok := ra.Repos[repo]; !ok {
			d.AddedRepos = append(d.AddedRepos, repo)
		}
	}
	slices.Sort(d.AddedRepos)
	slices.Sort(d.RemovedRepos)
	changed = append(append(changed, d.AddedRepos...), d.RemovedRepos...)
	diffs := make([]SnapshotDiff, len(changed))
	var g errgroup.Group
	for i, repo := range changed {
		g.Go(func() (err error) {
			diffs[i], err = s.diffRepo(repo, ra.Repos[repo], rb.Repos[repo])
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	for i, repo := range changed {
		d.Repos[repo] = diffs[i]
	}
	return d, nil
}

// diffRepo compares two snapshots of a repo; an empty ID stands for a
// release without the repo.
func (s *Store) diffRepo(repo, a, b string) (SnapshotDiff, error) {
	if a != "" && b != "" {
		return s.DiffSnapshots(repo, a, b)
	}
	var pa, pb []Package
	var err error
	if a != "" {
		pa, err = s.Manifest(repo, a)
	} else {
		pb, err = s.Manifest(repo, b)
	}
	if err != nil {
		return SnapshotDiff{}, err
	}
	return DiffManifests(pa, pb), nil
}
