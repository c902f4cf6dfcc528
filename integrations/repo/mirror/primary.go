package mirror

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
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
	rc, err := rpmmd.Decompress(d.Href, r, lim.OpenBytes)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var open io.Reader = rc
	if d.OpenSize > 0 {
		// A bomb is refused at the first byte past what repomd.xml,
		// whose checksum chain is verified, declares.
		open = rpmmd.LimitReader(rc, d.OpenSize, "decompressed "+path.Base(d.Href)+" (its declared open-size)")
	}
	var h hashCounter
	if d.OpenChecksum != nil {
		if h.Hash, err = rpmmd.NewHash(d.OpenChecksum.Algo); err != nil {
			return nil, err
		}
		open = io.TeeReader(open, &h)
	}

	var pkgs []repo.Package
	seen := make(map[string]repo.Checksum)
	err = rpmmd.ParsePrimary(open, repoBase, func(p rpmmd.Package) error {
		if len(pkgs)%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		pkg, err := manifestEntry(p, lim)
		if err != nil {
			return err
		}
		switch prev, dup := seen[pkg.Href]; {
		case dup && prev != pkg.Checksum:
			return fmt.Errorf("%w: %s listed twice with checksums %s and %s", rpmmd.ErrMalformed, pkg.Href, prev, pkg.Checksum)
		case dup:
			return nil // listed twice, identically: keep one
		}
		if err := tree.add(pkg.Href); err != nil {
			return err
		}
		seen[pkg.Href] = pkg.Checksum
		pkgs = append(pkgs, pkg)
		return each(pkg)
	})
	if err != nil {
		return nil, err
	}
	if h.Hash == nil {
		return pkgs, nil
	}
	// The parser may stop at </metadata>: hash whatever follows too.
	if _, err := io.Copy(io.Discard, open); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(d.OpenChecksum.Hex) {
		return nil, fmt.Errorf("open %s checksum mismatch: got %s, repomd.xml says %s", d.OpenChecksum.Algo, got, d.OpenChecksum.Hex)
	}
	if d.OpenSize > 0 && h.n != d.OpenSize {
		return nil, fmt.Errorf("open size is %d bytes, repomd.xml says %d", h.n, d.OpenSize)
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

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	hash.Hash
	n int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.Hash.Write(p)
}
