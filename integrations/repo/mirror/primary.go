package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// metadataItems lists the files repomd.xml names, refusing hrefs that leave
// the repo, hrefs named twice, and sizes missing or above the limit.
// (rpmmd.ParseRepomd refuses most of these already; the pool needs them all.)
func metadataItems(md rpmmd.Repomd, lim rpmmd.Limits, where string) ([]Item, error) {
	items := make([]Item, 0, len(md.Data))
	paths := map[string]bool{repomdPath: true, signaturePath: true, keyPath: true}
	for _, d := range md.Data {
		if err := rpmmd.CheckHref(d.Href); err != nil {
			return nil, badContent(where, err)
		}
		if paths[d.Href] {
			return nil, badContentf(where, "%w: href %q named twice", rpmmd.ErrMalformed, d.Href)
		}
		paths[d.Href] = true
		if d.Size <= 0 || d.Size > lim.MetadataBytes {
			return nil, badContentf(where, "%w: %s declares %d bytes, outside 1..%d", rpmmd.ErrMalformed, d.Href, d.Size, lim.MetadataBytes)
		}
		items = append(items, Item{Path: d.Href, Checksum: poolChecksum(d.Checksum), Size: d.Size})
	}
	return items, nil
}

// readPrimary streams the package list out of primary's pool object. Its
// compressed checksum was verified when it entered the pool; the open
// checksum and open size are verified here when repomd.xml declares them,
// and no more than the declared open size is ever decompressed. Each
// package's href must fit the tree so far (no path both a file and a
// directory, none a metadata file's). each is called with every package
// as soon as it has passed these checks; an error from it stops the read.
func (r *syncRun) readPrimary(ctx context.Context, d rpmmd.Data, tree *treePaths, each func(repo.Package) error) ([]repo.Package, error) {
	where := r.f.url(d.Href)
	file, err := os.Open(r.m.Store.PoolPath(poolChecksum(d.Checksum)))
	if err != nil {
		return nil, err
	}
	defer file.Close()
	pkgs, err := parsePrimary(ctx, file, d, r.src.URL, tree, r.lim, each)
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return pkgs, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, repo.ErrBadContent), errors.As(err, &pathErr):
		return nil, err // already classified, or the local disk failing
	}
	// The bytes passed their checksum, so anything else wrong with them
	// (bad compression, bad XML, a hostile href) is upstream's content.
	return nil, badContent(where, err)
}

func parsePrimary(ctx context.Context, r io.Reader, d rpmmd.Data, repoBase string, tree *treePaths, lim rpmmd.Limits,
	each func(repo.Package) error) ([]repo.Package, error) {
	open, err := openChecked(r, d, lim.OpenBytesFor(d.Type))
	if err != nil {
		return nil, err
	}
	defer open.Close()

	var pkgs []repo.Package
	type listed struct {
		sum   repo.Checksum
		nevra string
	}
	seen := make(map[string]listed)
	err = rpmmd.ParsePrimary(open, repoBase, func(p rpmmd.Package) error {
		if len(pkgs)%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		pkg, err := manifestEntry(p, lim)
		if err != nil {
			return err
		}
		switch prev, dup := seen[pkg.Href]; {
		case dup && prev.sum != pkg.Checksum:
			return fmt.Errorf("%w: %s listed twice with checksums %s and %s", rpmmd.ErrMalformed, pkg.Href, prev.sum, pkg.Checksum)
		case dup && prev.nevra != pkg.NEVRA():
			// One file cannot be two packages: one of the two entries
			// lies about what dnf would install.
			return fmt.Errorf("%w: %s listed twice, as %s and as %s", rpmmd.ErrMalformed, pkg.Href, prev.nevra, pkg.NEVRA())
		case dup:
			return nil // listed twice, identically: keep one
		}
		if err := tree.add(pkg.Href); err != nil {
			return err
		}
		seen[pkg.Href] = listed{pkg.Checksum, pkg.NEVRA()}
		pkgs = append(pkgs, pkg)
		return each(pkg)
	})
	if err != nil {
		return nil, err
	}
	// The parser may stop at </metadata>: what follows counts too.
	if err := open.verify(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// manifestEntry checks one package's entry and converts it to the store's form.
func manifestEntry(p rpmmd.Package, lim rpmmd.Limits) (repo.Package, error) {
	if err := rpmmd.CheckHref(p.Href); err != nil {
		return repo.Package{}, err
	}
	if p.Size <= 0 || p.Size > lim.PackageBytes {
		return repo.Package{}, fmt.Errorf("%w: %s declares %d bytes, outside 1..%d", rpmmd.ErrMalformed, p.Href, p.Size, lim.PackageBytes)
	}
	return repo.Package{
		Name: p.Name, Epoch: p.Epoch, Version: p.Version, Release: p.Release, Arch: p.Arch,
		Checksum: poolChecksum(p.Checksum), Size: p.Size, Href: p.Href,
	}, nil
}

// poolChecksum is c in the store's form, hex in lower case as the pool names objects.
func poolChecksum(c rpmmd.Checksum) repo.Checksum {
	return repo.Checksum{Algo: c.Algo, Hex: strings.ToLower(c.Hex)}
}
