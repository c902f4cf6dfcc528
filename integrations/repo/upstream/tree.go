package upstream

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// TreeSpec describes a small distribution tree as Pungi lays one out: boot
// images and variant repositories below one .treeinfo.
type TreeSpec struct {
	Arch    string // default "x86_64"
	Release string // default "Testix", version "9.4"
	// BuildTimestamp is [tree] build_timestamp; default 1714000000.
	BuildTimestamp int64
	// Images maps a path below the tree to its content. The [images-<arch>]
	// section names images/pxeboot/vmlinuz as kernel and
	// images/pxeboot/initrd.img as initrd, [stage2] mainimage is
	// images/install.img; each must be here to be named. Every image is
	// in [checksums].
	Images map[string]string
	// Variants maps a variant UID to its packages; its repository is the
	// directory of that name, with Packages/ and repodata/.
	Variants map[string][]Spec
}

// BuildTree writes the tree of spec into dir: the images, each variant's
// packages built with rpmbuild and indexed by createrepo_c, and a
// .treeinfo in productmd's format with the images' sha256 and each
// variant's repomd.xml's. It returns the .treeinfo it wrote.
func BuildTree(ctx context.Context, spec TreeSpec, dir string) (string, error) {
	for p, content := range spec.Images {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(p)), []byte(content)); err != nil {
			return "", err
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(spec.Variants)) {
		vdir := filepath.Join(dir, uid)
		if _, err := BuildSpecs(ctx, spec.Variants[uid], vdir); err != nil {
			return "", fmt.Errorf("upstream: tree variant %s: %w", uid, err)
		}
		if err := Createrepo(ctx, vdir); err != nil {
			return "", fmt.Errorf("upstream: tree variant %s: %w", uid, err)
		}
	}
	ti, err := spec.treeinfo(dir)
	if err != nil {
		return "", err
	}
	return ti, writeFile(filepath.Join(dir, ".treeinfo"), []byte(ti))
}

// WriteTreeinfo rewrites dir/.treeinfo for spec, with checksums of the
// files as they are now in dir: after an image or a variant changed.
func WriteTreeinfo(spec TreeSpec, dir string) (string, error) {
	ti, err := spec.treeinfo(dir)
	if err != nil {
		return "", err
	}
	return ti, writeFile(filepath.Join(dir, ".treeinfo"), []byte(ti))
}

// treeinfo is the .treeinfo of spec, built in dir, sections and keys sorted
// as productmd writes them.
func (spec TreeSpec) treeinfo(dir string) (string, error) {
	arch := cmp.Or(spec.Arch, "x86_64")
	release := cmp.Or(spec.Release, "Testix")
	ts := spec.BuildTimestamp
	if ts == 0 {
		ts = 1714000000
	}
	uids := slices.Sorted(maps.Keys(spec.Variants))
	sums := map[string]string{}
	for p := range spec.Images {
		sums[p] = ""
	}
	for _, uid := range uids {
		sums[uid+"/repodata/repomd.xml"] = ""
	}
	for p := range sums {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return "", fmt.Errorf("upstream: tree checksum: %w", err)
		}
		sum := sha256.Sum256(data)
		sums[p] = hex.EncodeToString(sum[:])
	}
	var b strings.Builder
	section := func(name string, kv ...string) {
		fmt.Fprintf(&b, "[%s]\n", name)
		for i := 0; i+1 < len(kv); i += 2 {
			fmt.Fprintf(&b, "%s = %s\n", kv[i], kv[i+1])
		}
		b.WriteString("\n")
	}
	var checksums []string
	for _, p := range slices.Sorted(maps.Keys(sums)) {
		checksums = append(checksums, p, "sha256:"+sums[p])
	}
	section("checksums", checksums...)
	section("header", "type", "productmd.treeinfo", "version", "1.2")
	var images []string
	for _, img := range []struct{ name, path string }{{"initrd", "images/pxeboot/initrd.img"}, {"kernel", "images/pxeboot/vmlinuz"}} {
		if _, ok := spec.Images[img.path]; ok {
			images = append(images, img.name, img.path)
		}
	}
	section("images-"+arch, images...)
	section("release", "name", release, "short", release, "version", "9.4")
	if _, ok := spec.Images["images/install.img"]; ok {
		section("stage2", "mainimage", "images/install.img")
	}
	section("tree", "arch", arch, "build_timestamp", fmt.Sprint(ts), "platforms", arch, "variants", strings.Join(uids, ","))
	for _, uid := range uids {
		section("variant-"+uid, "id", uid, "name", uid, "packages", uid+"/Packages", "repository", uid, "type", "variant", "uid", uid)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
