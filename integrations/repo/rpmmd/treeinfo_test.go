package rpmmd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goodTreeinfo is a two-variant tree as Pungi writes one for a DVD.
const goodTreeinfo = `[checksums]
images/install.img = sha256:1111111111111111111111111111111111111111111111111111111111111111
images/pxeboot/initrd.img = sha256:2222222222222222222222222222222222222222222222222222222222222222
images/pxeboot/vmlinuz = sha256:3333333333333333333333333333333333333333333333333333333333333333
images/efiboot.img = sha256:4444444444444444444444444444444444444444444444444444444444444444

[general]
; WARNING.0 = This section provides compatibility with pre-productmd treeinfos.
arch = x86_64
family = Rocky Linux
name = Rocky Linux 9.4
packagedir = BaseOS/Packages
platforms = x86_64,xen
repository = BaseOS
timestamp = 1714000000
variant = BaseOS
variants = AppStream,BaseOS
version = 9.4

[header]
type = productmd.treeinfo
version = 1.2

[images-x86_64]
efiboot.img = images/efiboot.img
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[images-xen]
initrd = images/pxeboot/initrd.img
kernel = images/pxeboot/vmlinuz

[release]
name = Rocky Linux
short = Rocky
version = 9.4

[stage2]
mainimage = images/install.img

[tree]
arch = x86_64
build_timestamp = 1714000000.5
platforms = x86_64,xen
variants = AppStream,BaseOS

[variant-AppStream]
id = AppStream
name = AppStream
packages = AppStream/Packages
repository = AppStream
type = variant
uid = AppStream

[variant-BaseOS]
id = BaseOS
name = BaseOS
packages = BaseOS/Packages
repository = BaseOS
type = variant
uid = BaseOS
`

func TestParseTreeinfo(t *testing.T) {
	ti, err := ParseTreeinfo(strings.NewReader(goodTreeinfo), Limits{})
	require.NoError(t, err)
	require.Equal(t, "1.2", ti.Version)
	require.Equal(t, "Rocky Linux 9.4", ti.Release)
	require.Equal(t, "x86_64", ti.Arch)
	require.Equal(t, int64(1714000000), ti.BuildTimestamp)
	require.Equal(t, "images/install.img", ti.Stage2)
	require.Equal(t, "images/pxeboot/vmlinuz", ti.Images["x86_64"]["kernel"])
	require.Equal(t, []string{"images/efiboot.img", "images/install.img", "images/pxeboot/initrd.img", "images/pxeboot/vmlinuz"}, ti.Files())
	require.Equal(t, Checksum{Algo: "sha256", Hex: strings.Repeat("3", 64)}, ti.Checksums["images/pxeboot/vmlinuz"])
	require.Equal(t, []TreeVariant{
		{UID: "AppStream", ID: "AppStream", Name: "AppStream", Type: "variant", Repository: "AppStream", Packages: "AppStream/Packages"},
		{UID: "BaseOS", ID: "BaseOS", Name: "BaseOS", Type: "variant", Repository: "BaseOS", Packages: "BaseOS/Packages"},
	}, ti.Variants)
}

func TestParseTreeinfoRefuses(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"variant repository escaping the tree", "repository = AppStream\n", "repository = ../../AppStream\n", "[variant-AppStream] repository: path ../../AppStream: leaves the repository"},
		{"absolute image path", "kernel = images/pxeboot/vmlinuz\n\n[images-xen]", "kernel = /boot/vmlinuz\n\n[images-xen]", "[images-x86_64] kernel: path /boot/vmlinuz: absolute"},
		{"checksummed path escaping", "images/efiboot.img = sha256", "../efiboot.img = sha256", "[checksums] ../efiboot.img"},
		{"image without checksum", "images/efiboot.img = sha256:4444444444444444444444444444444444444444444444444444444444444444\n", "", "images/efiboot.img is named as an image but has no entry in [checksums]"},
		{"weak checksum", "sha256:4444444444444444444444444444444444444444444444444444444444444444", "md5:44444444444444444444444444444444", "is not sha256:<hex>"},
		{"short checksum", "sha256:4444444444444444444444444444444444444444444444444444444444444444", "sha256:4444", "4444 is not a sha256 in hex"},
		{"duplicate key", "uid = BaseOS\n", "uid = BaseOS\nuid = BaseOS\n", "line 62: key uid twice in its section"},
		{"duplicate section", "[stage2]", "[stage2]\nmainimage = images/install.img\n\n[stage2]", "section [stage2] again"},
		{"unknown section", "[stage2]", "[kickstart]\nx = y\n\n[stage2]", "unknown section [kickstart]"},
		{"newer major version", "version = 1.2", "version = 2.0", "[header] version 2.0: only productmd treeinfo 1.x is understood"},
		{"missing header", "[header]\ntype = productmd.treeinfo\nversion = 1.2\n", "", "section [header] is missing"},
		{"listed variant without section", "variants = AppStream,BaseOS\n\n[variant-AppStream]", "variants = AppStream,BaseOS,CRB\n\n[variant-AppStream]", "variant CRB is listed but has no section [variant-CRB]"},
		{"variant section not listed", "[tree]\narch = x86_64\nbuild_timestamp = 1714000000.5\nplatforms = x86_64,xen\nvariants = AppStream,BaseOS", "[tree]\narch = x86_64\nbuild_timestamp = 1714000000.5\nplatforms = x86_64,xen\nvariants = BaseOS", "[variant-AppStream] is not listed"},
		{"images of an unknown platform", "[images-xen]", "[images-ppc64le]", "platform ppc64le is not among [tree] platforms"},
		{"continuation line", "name = BaseOS\n", "name = BaseOS\n  more\n", "continuation lines are not part of the format"},
		{"key before any section", "[checksums]\n", "stray = 1\n[checksums]\n", "key stray before any section"},
		{"bad timestamp", "build_timestamp = 1714000000.5", "build_timestamp = yesterday", "build_timestamp yesterday is not a unix time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, goodTreeinfo, tc.old)
			in := strings.Replace(goodTreeinfo, tc.old, tc.new, 1)
			_, err := ParseTreeinfo(strings.NewReader(in), Limits{})
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestParseTreeinfoSizeBound(t *testing.T) {
	_, err := ParseTreeinfo(strings.NewReader(goodTreeinfo), Limits{RepomdBytes: 100})
	require.ErrorIs(t, err, ErrMalformed)
}
