package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A bypass is carried by its packages. The store keeps, per overlay, every
// package a bypass put on the channels (overlays/<repo>.bypass: NEVRA and
// pool checksum), and every switch carries them: a release whose snapshot
// of that overlay has neither such a package nor a newer build of its
// name and arch is switched to as a release derived from it, whose
// snapshot of the overlay is the release's own plus the missing packages
// (hardlinks into the pool, metadata by createrepo_c). So no switch (a
// daily sync that started before the bypass, a promotion of a candidate
// made before it, a rollback) takes the fix away again, and nothing else
// of the overlay comes with it: what waits in the overlay reaches a
// channel through its own snapshot, that is a daily sync, and production
// through a gated promotion. Two bypasses, or a bypass and a daily sync,
// serialise on the store's lock: the later switch carries both.

// Derivation records that a release is another one with bypassed packages
// carried into it: provenance/<release>/derived.json.
type Derivation struct {
	Base    string            `json:"base"`
	Carried map[string]string `json:"carried"` // overlay -> derived snapshot
	// Packages are the NEVRAs added to each overlay's snapshot of Base.
	Packages map[string][]string `json:"packages,omitempty"`
	Time     time.Time           `json:"time"`
}

// overlayBypass is the content of overlays/<repo>.bypass.
type overlayBypass struct {
	// Snapshot is the whole snapshot a bypass carried before bypasses
	// carried packages: a store written then keeps carrying all of it.
	Snapshot string    `json:"snapshot,omitempty"`
	Bypass   string    `json:"bypass"`
	Time     time.Time `json:"time"`
	Packages []Package `json:"packages,omitempty"`
}

func (s *Store) bypassPointer(repo string) string { return s.path("overlays", repo+".bypass") }

func (s *Store) lastBypass(repo string) (*overlayBypass, error) {
	var b overlayBypass
	err := readJSON(s.bypassPointer(repo), &b)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// carriedPackages lists the packages every switch carries into an
// overlay; none if it was never bypassed.
func (s *Store) carriedPackages(repo string) ([]Package, error) {
	b, err := s.lastBypass(repo)
	if err != nil || b == nil {
		return nil, err
	}
	pkgs := b.Packages
	if b.Snapshot != "" {
		old, err := s.Manifest(repo, b.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("the bypass of %s: %w", repo, err)
		}
		pkgs = append(old, pkgs...)
	}
	return pkgs, nil
}

// carryPackagesLocked adds pkgs to what every switch carries into repo.
// Idempotent: a package already carried is not added twice. The caller
// holds the lock.
func (s *Store) carryPackagesLocked(repo, bypass string, pkgs []Package) error {
	b, err := s.lastBypass(repo)
	if err != nil {
		return err
	}
	if b == nil {
		b = &overlayBypass{}
	}
	if err := s.holdPoolObjects(repo, pkgs); err != nil {
		return err
	}
	n := len(b.Packages)
	for _, p := range pkgs {
		if !slices.ContainsFunc(b.Packages, func(q Package) bool { return samePackage(p, q) }) {
			b.Packages = append(b.Packages, p)
		}
	}
	if len(b.Packages) == n {
		return nil
	}
	b.Bypass, b.Time = bypass, time.Now().UTC()
	return s.writeJSON(s.bypassPointer(repo), b)
}

// holdPoolObjects hardlinks each package's pool object into
// overlays/.<repo>.carried/: GC deletes an object no other file links,
// and a carried package must outlive every snapshot that held it, or a
// later switch could not carry it.
func (s *Store) holdPoolObjects(repo string, pkgs []Package) error {
	dir := s.path("overlays", "."+repo+".carried")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range pkgs {
		n, err := normChecksum(p.Checksum)
		if err != nil {
			return fmt.Errorf("%s: %w", p.NEVRA(), err)
		}
		err = os.Link(s.poolPath(n), filepath.Join(dir, n.Algo+"-"+n.Hex))
		if errors.Is(err, os.ErrNotExist) {
			return missingObject(File{Path: p.Href, Checksum: p.Checksum, Size: p.Size})
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return syncDir(dir)
}

func samePackage(a, b Package) bool { return a.NEVRA() == b.NEVRA() && a.Checksum == b.Checksum }

// carryBypassesLocked returns the release to switch to instead of id:
// id itself, or the release derived from it that carries every bypassed
// package id's overlays lack. The caller holds the lock.
func (s *Store) carryBypassesLocked(id string) (string, error) {
	// No caller context: switchLocked holds the lock for bounded work,
	// and one createrepo_c over an overlay is a fraction of a second.
	return s.deriveLocked(context.Background(), id, nil)
}

// deriveLocked returns the release derived from id that carries every
// bypassed package (a newer build of the same name and arch counts as
// carried) and every package of named, by exact NEVRA: a bypass's own
// packages go on even as a downgrade. id itself when nothing is missing.
func (s *Store) deriveLocked(ctx context.Context, id string, named map[string][]Package) (string, error) {
	rel, err := s.Release(id)
	if err != nil {
		return "", err
	}
	repos := maps.Clone(rel.Repos)
	d := Derivation{Base: id, Carried: map[string]string{}, Packages: map[string][]string{}}
	for _, repo := range slices.Sorted(maps.Keys(rel.Repos)) {
		carry, err := s.carriedPackages(repo)
		if err != nil {
			return "", err
		}
		if len(carry) == 0 && len(named[repo]) == 0 {
			continue
		}
		have, err := s.Manifest(repo, rel.Repos[repo])
		if err != nil {
			return "", err
		}
		missing := missingPackages(have, named[repo], carry)
		if len(missing) == 0 {
			continue
		}
		snap, err := s.deriveOverlay(ctx, repo, rel.Repos[repo], have, missing)
		if err != nil {
			return "", err
		}
		repos[repo], d.Carried[repo] = snap.ID, snap.ID
		for _, p := range missing {
			d.Packages[repo] = append(d.Packages[repo], p.NEVRA())
		}
	}
	if len(d.Carried) == 0 {
		return id, nil
	}
	derived, _, err := s.createReleaseLocked(time.Now(), repos, rel.Stale)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.provenanceDir(derived.ID), 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(s.provenanceDir(derived.ID), "derived.json")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		d.Time = time.Now().UTC()
		if err := s.writeJSON(p, d); err != nil {
			return "", err
		}
	}
	return derived.ID, nil
}

// missingPackages is what a snapshot holding have lacks: each of named
// without its exact NEVRA there, and each of carried without it or a
// newer build of its name and arch. Sorted by NEVRA, each once.
func missingPackages(have, named, carried []Package) []Package {
	var out []Package
	add := func(p Package) {
		if !slices.ContainsFunc(out, func(q Package) bool { return q.NEVRA() == p.NEVRA() }) {
			out = append(out, p)
		}
	}
	for _, p := range named {
		if !slices.ContainsFunc(have, func(h Package) bool { return h.NEVRA() == p.NEVRA() }) {
			add(p)
		}
	}
	for _, p := range carried {
		if !slices.ContainsFunc(have, func(h Package) bool {
			return h.Name == p.Name && h.Arch == p.Arch && compareEVR(h, p) >= 0
		}) {
			add(p)
		}
	}
	slices.SortFunc(out, func(a, b Package) int { return strings.Compare(a.NEVRA(), b.NEVRA()) })
	return out
}

// deriveOverlay commits the snapshot of an overlay that holds the
// packages of its snapshot base (have, its manifest; none when base is
// "") and add, which replace any of the same file name: hardlinks to
// their pool objects, with metadata made by createrepo_c. The same
// packages make the same repomd.xml (createrepo_c's timestamps are the
// revision, the newest package file's time), so the same snapshot.
func (s *Store) deriveOverlay(ctx context.Context, repo, base string, have, add []Package) (Snapshot, error) {
	fail := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("carry %d packages into %s/%s: %w", len(add), repo, base, err)
	}
	pkgs := slices.DeleteFunc(slices.Clone(have), func(h Package) bool {
		return slices.ContainsFunc(add, func(a Package) bool { return a.Href == h.Href })
	})
	pkgs = append(pkgs, add...)
	slices.SortFunc(pkgs, func(a, b Package) int { return strings.Compare(a.Href, b.Href) })

	dir, done, err := s.stagingDir(deriveKey(repo, base, add))
	if err != nil {
		return fail(err)
	}
	defer done()
	var newest int64
	files := make([]File, 0, len(pkgs)+8)
	for _, p := range pkgs {
		f := File{Path: p.Href, Checksum: p.Checksum, Size: p.Size}
		if err := checkTreePath(p.Href); err != nil {
			return fail(err)
		}
		n, err := normChecksum(p.Checksum)
		if err != nil {
			return fail(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p.Href))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fail(err)
		}
		if err := os.Link(s.poolPath(n), dst); errors.Is(err, os.ErrNotExist) {
			return fail(missingObject(f))
		} else if err != nil {
			return fail(err)
		}
		if fi, err := os.Stat(dst); err == nil {
			newest = max(newest, fi.ModTime().Unix())
		}
		files = append(files, f)
	}
	if err := createrepo(ctx, dir, strconv.FormatInt(newest, 10), "--no-database"); err != nil {
		return fail(err)
	}
	meta, repomd, err := s.poolRepodata(dir)
	if err != nil {
		return fail(err)
	}
	var nevras []string
	for _, p := range add {
		nevras = append(nevras, p.NEVRA())
	}
	source := "derived: " + strings.Join(nevras, ", ")
	if base != "" {
		source = "derived from " + base + " with " + strings.Join(nevras, ", ")
	}
	snap, err := s.CommitSnapshot(Snapshot{Repo: repo, Source: source, Repomd: repomd}, append(files, meta...), pkgs)
	if err != nil {
		return fail(err)
	}
	return snap, nil
}

// deriveKey names a derivation's staging directory by what it builds, so
// that a retry's staging sweeps what a dead attempt left.
func deriveKey(repo, base string, add []Package) string {
	h := sha256.New()
	for _, p := range add {
		fmt.Fprintf(h, "%s %s\n", p.Href, p.Checksum)
	}
	return "derive-" + repo + "-" + base + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// poolRepodata moves the files of dir/repodata into the pool and returns
// them, with the sha256 of repomd.xml.
func (s *Store) poolRepodata(dir string) (files []File, repomd string, err error) {
	entries, err := os.ReadDir(filepath.Join(dir, "repodata"))
	if err != nil {
		return nil, "", err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, "repodata", e.Name())
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, "", err
		}
		fi, err := e.Info()
		if err != nil {
			return nil, "", err
		}
		c := Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])}
		if err := s.PoolAdd(c, p); err != nil {
			return nil, "", err
		}
		files = append(files, File{Path: path.Join("repodata", e.Name()), Checksum: c, Size: fi.Size()})
		if e.Name() == "repomd.xml" {
			repomd = c.Hex
		}
	}
	if repomd == "" {
		return nil, "", fmt.Errorf("createrepo_c wrote no repomd.xml in %s: %w", dir, ErrBadContent)
	}
	return files, repomd, nil
}

// ReleaseChain lists id and then each release it was derived from, back
// to the release a test cycle tested (the last one).
func (s *Store) ReleaseChain(id string) ([]string, error) {
	var chain []string
	err := s.walkDerivations(id, func(r string) error { chain = append(chain, r); return nil })
	return chain, err
}

// InChain reports whether release is id or one of the releases id was
// derived from: a chain of bypasses on top of release stands on it.
func (s *Store) InChain(id, release string) (bool, error) {
	chain, err := s.ReleaseChain(id)
	return slices.Contains(chain, release), err
}

// CandidateInChain reads into v the candidate of the first release in
// id's chain that became one (id itself, else the nearest release it was
// derived from) and returns that release: the tested release a chain of
// bypasses stands on. When none did, found is false and release is the
// chain's base.
func (s *Store) CandidateInChain(id string, v any) (release string, found bool, err error) {
	chain, err := s.ReleaseChain(id)
	if err != nil {
		return "", false, err
	}
	for _, r := range chain {
		switch err := s.Candidate(r, v); {
		case err == nil:
			return r, true, nil
		case !errors.Is(err, ErrNotFound):
			return "", false, err
		}
	}
	return chain[len(chain)-1], false, nil
}

// ReleaseBase follows a release's derivations back to the release they
// were made from. A release never derived is its own base. A release
// derived from a derived one has its base further back than the release
// it was made from: ask InChain whether a release is in its chain.
func (s *Store) ReleaseBase(id string) (string, error) {
	chain, err := s.ReleaseChain(id)
	if err != nil {
		return "", err
	}
	return chain[len(chain)-1], nil
}

// walkDerivations calls fn for id and then each release it was derived
// from, back to the base.
func (s *Store) walkDerivations(id string, fn func(release string) error) error {
	for range 100 {
		if err := fn(id); err != nil {
			return err
		}
		var d Derivation
		err := readJSON(filepath.Join(s.provenanceDir(id), "derived.json"), &d)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("base of release %s: %w", id, err)
		}
		id = d.Base
	}
	return fmt.Errorf("base of release %s: derivations loop: %w", id, ErrBadContent)
}
