package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"

	"go.uber.org/zap"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// Kinds of upstream a Source may be.
const (
	KindRPMMD = "rpm-md" // a repository: repodata/ at the URL (the default)
	KindTree  = "tree"   // a distribution tree: .treeinfo at the URL
	// KindAuto is a tree when the URL has a .treeinfo, else a repository.
	KindAuto = "auto"
)

// StageImages fetches the images a tree's .treeinfo names.
const StageImages = "images"

// A distribution tree is mirrored as one snapshot: .treeinfo, every file
// it names (kernel, initrd, stage2, boot images), each checked against its
// [checksums] entry, and every variant repository below it, each mirrored
// and verified as a repository of its own would be, at the path upstream
// gives it. Clients (Anaconda's inst.repo=, virt-install --location, PXE)
// then find the tree under the channel exactly as upstream lays it out,
// and a channel switch moves the images and the variants at once.

// treeVariant is one variant repository of a tree being synced.
type treeVariant struct {
	repo.TreeVariant
	run *syncRun // the sync of its repository, at its URL
	ix  index
}

// fetchTreeinfo fetches the source's .treeinfo. found is false when the
// source has none and may be a plain repository (KindAuto).
func (r *syncRun) fetchTreeinfo(ctx context.Context) (raw []byte, found bool, err error) {
	raw, err = r.fetchSmall(ctx, rpmmd.TreeinfoPath, r.lim.RepomdBytes)
	switch {
	case err == nil:
		return raw, true, nil
	case r.src.Kind == KindAuto && (isNotFound(err) || isRefused(err)):
		// Object stores behind some mirrors answer 403 for a missing
		// file; a tree behind one would fail on repomd.xml next anyway.
		return nil, false, nil
	case isNotFound(err):
		return nil, false, badContentf(r.f.url(rpmmd.TreeinfoPath), "not found: the repo is configured as a distribution tree (kind: %s), which has a .treeinfo at its root", KindTree)
	}
	return nil, false, err
}

// isRefused reports whether err is an HTTP 401 or 403.
func isRefused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden)
}

// syncTree mirrors the tree whose .treeinfo is raw.
func (r *syncRun) syncTree(ctx context.Context, raw []byte) (Result, error) {
	where := r.f.url(rpmmd.TreeinfoPath)
	ti, err := rpmmd.ParseTreeinfo(bytes.NewReader(raw), r.lim)
	if err != nil {
		return Result{}, badContent(where, err)
	}
	// 1. the variants' indexes, each verified as its repository's would be
	variants, err := r.treeVariants(ctx, ti)
	for _, v := range variants {
		defer v.run.f.Close()
	}
	if err != nil {
		return Result{}, err
	}
	rec := &repo.Tree{Treeinfo: sha256Of(raw).Hex, Release: ti.Release, Arch: ti.Arch, Newest: ti.BuildTimestamp}
	for _, v := range variants {
		rec.Variants = append(rec.Variants, v.TreeVariant)
		rec.Newest = max(rec.Newest, v.ix.newest())
	}
	if err := r.checkFreshAt(where, "", rec.Newest); err != nil {
		return Result{}, err
	}
	id := treeSnapshotID(rec, variants)
	if res, found, err := r.unchanged(id, "", rec.Newest); err != nil || found {
		return res, err
	}

	// 2. the images, each against its checksum in .treeinfo
	tree := newTreePaths(rpmmd.TreeinfoPath)
	images, err := treeImages(ti, variants, tree, where)
	if err != nil {
		return Result{}, err
	}
	res := Result{Changed: true}
	if res.Reused, err = r.fetchStage(ctx, StageImages, images); err != nil {
		return Result{}, err
	}
	files := []repo.File{{Path: rpmmd.TreeinfoPath, Checksum: sha256Of(raw), Size: int64(len(raw))}}
	for _, it := range images {
		size, ok := r.m.Store.PoolSize(it.Checksum)
		if !ok {
			return Result{}, fmt.Errorf("%s: %w", r.f.url(it.Path), repo.ErrNotFound)
		}
		files = append(files, repo.File{Path: it.Path, Checksum: it.Checksum, Size: size})
	}

	// 3. each variant's metadata and packages, below its path
	var pkgs []repo.Package
	for _, v := range variants {
		vfiles, vpkgs, reused, err := v.run.variantFiles(ctx, v.ix)
		res.Reused += reused
		if err != nil {
			return Result{}, err
		}
		for _, f := range vfiles {
			f.Path = path.Join(v.Path, f.Path)
			if err := tree.add(f.Path); err != nil {
				return Result{}, badContent(where, err)
			}
			files = append(files, f)
		}
		for _, p := range vpkgs {
			p.Href = path.Join(v.Path, p.Href)
			pkgs = append(pkgs, p)
		}
	}

	// 4. the snapshot
	r.prog.stage(StageCommit, 0, 0)
	if err := r.m.addToPool(files[0].Checksum, raw); err != nil {
		return Result{}, err
	}
	if res.Snapshot, err = r.commitFiles(repo.Snapshot{ID: id, Tree: rec}, files, pkgs); err != nil {
		return Result{}, err
	}
	if err := r.acceptAt("", rec.Newest, id); err != nil {
		return Result{}, err
	}
	r.prog.stage(StageDone, 0, 0)
	res.Counts = r.prog.counts()
	r.log.Info("tree snapshot committed", zap.String("snapshot", id), zap.Int("variants", len(variants)),
		zap.Int("images", len(images)), zap.Int("downloaded", res.Downloaded), zap.Int64("bytes", res.DownloadedBytes),
		zap.Int("reused", res.Reused))
	return res, nil
}

// treeVariants fetches and verifies the index of every variant repository
// of ti, once per path. A repomd.xml that .treeinfo checksums must match.
// The variants returned so far are returned with an error, to be closed.
func (r *syncRun) treeVariants(ctx context.Context, ti rpmmd.Treeinfo) ([]treeVariant, error) {
	var out []treeVariant
	seen := map[string]bool{}
	for _, tv := range ti.Variants {
		if seen[tv.Repository] {
			continue
		}
		seen[tv.Repository] = true
		sub, err := r.variantRun(tv.Repository)
		if err != nil {
			return out, err
		}
		out = append(out, treeVariant{TreeVariant: repo.TreeVariant{UID: tv.UID, Name: tv.Name, Path: tv.Repository}, run: sub})
		v := &out[len(out)-1]
		r.prog.stage(StageRepomd, 1, 0)
		if v.ix, err = sub.fetchIndex(ctx); err != nil {
			return out, fmt.Errorf("variant %s: %w", tv.UID, err)
		}
		if want, ok := ti.Checksums[path.Join(tv.Repository, repomdPath)]; ok && want.Hex != v.ix.SHA256 {
			return out, badContentf(sub.f.url(repomdPath), "sha256 is %s, .treeinfo says %s", v.ix.SHA256, want.Hex)
		}
		v.Repomd = v.ix.SHA256
	}
	return out, nil
}

// variantRun is a sync of the repository at dir below the tree: it shares
// the tree's store, progress, retry budget and transport, and reads from
// its own URL, so hrefs and errors are the variant's.
func (r *syncRun) variantRun(dir string) (*syncRun, error) {
	u, err := url.Parse(r.src.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: repo URL %q: %w", repo.ErrInvalid, redactURL(r.src.URL), err)
	}
	u.Path = path.Join("/", u.Path, dir) + "/"
	u.RawPath = ""
	sub := *r
	sub.src.URL = u.String()
	if sub.f, err = newFetcher(r.f.client, sub.src.URL); err != nil {
		return nil, err
	}
	sub.f.speed, sub.f.redirectHosts = r.f.speed, r.f.redirectHosts
	sub.log = r.log.With(zap.String("variant", dir))
	sub.f.log = sub.log
	return &sub, nil
}

// treeImages are the files .treeinfo names, except the variants'
// repomd.xml, which treeVariants verified. Their sizes are unknown.
func treeImages(ti rpmmd.Treeinfo, variants []treeVariant, tree *treePaths, where string) ([]Item, error) {
	indexes := map[string]bool{}
	for _, v := range variants {
		indexes[path.Join(v.Path, repomdPath)] = true
	}
	var items []Item
	for _, p := range ti.Files() {
		if indexes[p] {
			continue
		}
		if err := tree.add(p); err != nil {
			return nil, badContent(where, err)
		}
		items = append(items, Item{Path: p, Checksum: poolChecksum(ti.Checksums[p]), Size: unknownSize})
	}
	return items, nil
}

// variantFiles fetches the metadata and packages of a variant whose index
// is ix, and returns its files and packages, with paths relative to the
// variant.
func (r *syncRun) variantFiles(ctx context.Context, ix index) ([]repo.File, []repo.Package, int, error) {
	where := r.f.url(repomdPath)
	meta, err := metadataItems(ix.Repomd, r.lim, where)
	if err != nil {
		return nil, nil, 0, err
	}
	primary, ok := ix.Repomd.Find("primary")
	if !ok {
		return nil, nil, 0, badContentf(where, "%w: no primary metadata", rpmmd.ErrMalformed)
	}
	if err := r.fetchKey(ctx, &ix); err != nil {
		return nil, nil, 0, err
	}
	pkgs, reused, err := r.fetchFiles(ctx, ix, meta, primary)
	if err != nil {
		return nil, nil, reused, err
	}
	if err := r.storeIndex(ix); err != nil {
		return nil, nil, reused, err
	}
	return snapshotFiles(ix, meta, pkgs), pkgs, reused, nil
}

// treeSnapshotID derives a tree snapshot's ID from its .treeinfo and its
// variants' repomd.xml: an unchanged tree maps onto the snapshot it has.
// A configured key counts, as in index.snapshotID, so that a tree
// snapshot from before the key was configured does not stand for one that
// serves it; without one the ID is what it always was.
func treeSnapshotID(t *repo.Tree, variants []treeVariant) string {
	h := sha256.New()
	fmt.Fprintf(h, "tree %s\n", t.Treeinfo)
	for _, v := range t.Variants {
		fmt.Fprintf(h, "%s %s\n", v.Path, v.Repomd)
	}
	for _, v := range variants {
		if v.ix.ownKey {
			fmt.Fprintf(h, "key %s\n", sha256Of(v.ix.Key).Hex)
			break // one source, one key for every variant
		}
	}
	return repo.SnapshotID(hex.EncodeToString(h.Sum(nil)))
}
