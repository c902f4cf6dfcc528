package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// Paths of the repo index inside a repo tree.
const (
	repomdPath    = "repodata/repomd.xml"
	signaturePath = repomdPath + ".asc"
)

// index is a fetched and verified repomd.xml.
type index struct {
	Raw       []byte // repomd.xml byte for byte
	SHA256    string
	Signature []byte // repomd.xml.asc; nil when not fetched or absent
	Repomd    rpmmd.Repomd
}

// Files are the index's own entries of the snapshot tree.
func (ix index) Files() []repo.File {
	files := []repo.File{{Path: repomdPath, Checksum: sha256Of(ix.Raw), Size: int64(len(ix.Raw))}}
	if ix.Signature != nil {
		files = append(files, repo.File{Path: signaturePath, Checksum: sha256Of(ix.Signature), Size: int64(len(ix.Signature))})
	}
	return files
}

// fetchIndex fetches repomd.xml and, when src has a keyring, its detached
// signature, and verifies it. A missing signature is accepted unless
// src.RequireSignature. A snapshot that exists already does not skip the
// check: a key is configured, so every sync proves the chain starts signed.
func fetchIndex(ctx context.Context, f *fetcher, src Source, lim rpmmd.Limits) (index, error) {
	raw, err := fetchSmall(ctx, f, repomdPath, lim.RepomdBytes)
	if err != nil {
		return index{}, err
	}
	ix := index{Raw: raw, SHA256: sha256Of(raw).Hex}
	if src.Keyring != nil {
		sig, err := fetchSmall(ctx, f, signaturePath, lim.RepomdBytes)
		switch {
		case isNotFound(err) && src.RequireSignature:
			return index{}, badContentf(f.url(signaturePath), "%w: missing, and the repo requires a signature", rpmmd.ErrSignature)
		case isNotFound(err):
			// unsigned upstream, accepted by configuration
		case err != nil:
			return index{}, err
		default:
			if err := rpmmd.VerifySignature(src.Keyring, bytes.NewReader(raw), bytes.NewReader(sig)); err != nil {
				return index{}, badContent(f.url(repomdPath), err)
			}
			ix.Signature = sig
		}
	}
	if ix.Repomd, err = rpmmd.ParseRepomd(bytes.NewReader(raw), lim); err != nil {
		return index{}, badContent(f.url(repomdPath), err)
	}
	return ix, nil
}

// fetchSmall reads a whole file of at most max bytes into memory.
func fetchSmall(ctx context.Context, f *fetcher, href string, max int64) ([]byte, error) {
	body, _, err := f.open(ctx, href)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(rpmmd.LimitReader(body, max, href))
	if err != nil {
		return nil, readError(ctx, f.url(href), err)
	}
	return data, nil
}

func sha256Of(data []byte) repo.Checksum {
	sum := sha256.Sum256(data)
	return repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])}
}
