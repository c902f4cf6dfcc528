package mirror

import (
	"bytes"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
	up "github.com/osflow/osflow/integrations/repo/upstream"
)

// testTree is a tree with PXE and stage2 images and two variants.
var testTree = up.TreeSpec{
	Images: map[string]string{
		"images/pxeboot/vmlinuz":    "kernel image",
		"images/pxeboot/initrd.img": "initrd image",
		"images/install.img":        "stage2 image",
		"images/efiboot.img":        "efi boot image",
	},
	Variants: map[string][]up.Spec{
		"BaseOS":    {{Name: "bash-lite", Version: "5.1"}},
		"AppStream": {{Name: "nodejs-lite", Version: "18.2"}, {Name: "perl-lite", Version: "5.32"}},
	},
}

// newTreeUpstream builds testTree and serves it.
func newTreeUpstream(t *testing.T) *upstream {
	u := serveDir(t, t.TempDir())
	_, err := up.BuildTree(t.Context(), testTree, u.Dir)
	require.NoError(t, err)
	return u
}

func TestSyncTree(t *testing.T) {
	u := newTreeUpstream(t)
	m, st := newTestMirror(t)
	src := source(u)
	src.Kind = KindTree
	res, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.True(t, res.Changed)

	// The snapshot is the tree as upstream lays it out, file for file.
	require.Equal(t, treeOf(t, u.Dir), treeOf(t, snapshotDir(st, res.Snapshot)))
	snap := res.Snapshot
	require.Equal(t, 3, snap.Packages)
	require.Empty(t, snap.Repomd)
	require.NotNil(t, snap.Tree)
	require.Equal(t, sha256Hex(u.read(".treeinfo")), snap.Tree.Treeinfo)
	require.Equal(t, []repo.TreeVariant{
		{UID: "AppStream", Name: "AppStream", Path: "AppStream", Repomd: sha256Hex(u.read("AppStream/repodata/repomd.xml"))},
		{UID: "BaseOS", Name: "BaseOS", Path: "BaseOS", Repomd: sha256Hex(u.read("BaseOS/repodata/repomd.xml"))},
	}, snap.Tree.Variants)
	pkgs, err := st.Manifest(testRepo, snap.ID)
	require.NoError(t, err)
	require.Len(t, pkgs, 3)
	require.Equal(t, "BaseOS/Packages/bash-lite-5.1-1.noarch.rpm", pkgs[0].Href)

	// Unchanged upstream: the same snapshot, nothing downloaded.
	u.requests()
	again, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.False(t, again.Changed)
	require.Equal(t, snap.ID, again.Snapshot.ID)
	require.ElementsMatch(t, []string{"/.treeinfo", "/AppStream/repodata/repomd.xml", "/BaseOS/repodata/repomd.xml"}, u.requests())

	// kind auto finds the tree; a plain repository stays one.
	src.Kind = KindAuto
	auto, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.Equal(t, snap.ID, auto.Snapshot.ID)
	plain := newUpstream(t, "alpha-1.0")
	plain.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/.treeinfo" {
			http.Error(w, "AccessDenied", http.StatusForbidden) // as S3 answers for a missing key
			return true
		}
		return false
	})
	psrc := source(plain)
	psrc.Repo, psrc.Kind = "plain", KindAuto
	pres, err := m.Sync(t.Context(), psrc, nil)
	require.NoError(t, err)
	require.Nil(t, pres.Snapshot.Tree)
	require.Equal(t, 1, pres.Snapshot.Packages)
}

// A tree that fails verification is refused with an error naming the
// repo, the file and its URL, and leaves no snapshot.
func TestSyncTreeRefuses(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(u *upstream)
		limit   int64 // on one file, if not the default
		want    []string
	}{{
		name: "tampered image",
		breakIt: func(u *upstream) {
			u.write("images/install.img", []byte("a stage2 image with a backdoor"))
		},
		want: []string{"mirror baseos:", "/images/install.img", "sha256 checksum mismatch"},
	}, {
		name: "variant repository escaping the tree",
		breakIt: func(u *upstream) {
			editTreeinfo(u, "repository = AppStream\n", "repository = ../AppStream\n")
		},
		want: []string{"mirror baseos:", "/.treeinfo", "[variant-AppStream] repository: path ../AppStream: leaves the repository"},
	}, {
		name: "absolute image path",
		breakIt: func(u *upstream) {
			editTreeinfo(u, "kernel = images/pxeboot/vmlinuz", "kernel = /etc/passwd")
		},
		want: []string{"mirror baseos:", "/.treeinfo", "kernel: path /etc/passwd: absolute"},
	}, {
		name: "variant repomd.xml not the one .treeinfo checksums",
		breakIt: func(u *upstream) {
			u.write("BaseOS/repodata/repomd.xml", append(u.read("BaseOS/repodata/repomd.xml"), '\n'))
		},
		want: []string{"mirror baseos:", "/BaseOS/repodata/repomd.xml", ".treeinfo says"},
	}, {
		name: "image past the limit on one file",
		breakIt: func(u *upstream) {
			u.write("images/efiboot.img", bytes.Repeat([]byte{0}, 1<<20+1))
			_, err := up.WriteTreeinfo(testTree, u.Dir)
			require.NoError(t, err)
		},
		limit: 1 << 20,
		want:  []string{"mirror baseos:", "/images/efiboot.img", "size is 1048577 bytes, more than the limit of 1048576 on one file"},
	}, {
		name:    "no .treeinfo",
		breakIt: func(u *upstream) { require.NoError(t, os.Remove(u.path(".treeinfo"))) },
		want:    []string{"mirror baseos:", "/.treeinfo", "not found: the repo is configured as a distribution tree"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newTreeUpstream(t)
			tc.breakIt(u)
			m, st := newTestMirror(t)
			if tc.limit > 0 {
				m.Limits.PackageBytes = tc.limit
			}
			src := source(u)
			src.Kind = KindTree
			_, err := m.Sync(t.Context(), src, nil)
			require.ErrorIs(t, err, repo.ErrBadContent)
			require.False(t, IsRetryable(err))
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.Contains(t, err.Error(), u.srv.URL)
			requireNoSnapshot(t, st)
			_, err = os.Stat(filepath.Join(st.Root(), "snapshots"))
			if err == nil {
				entries, _ := os.ReadDir(filepath.Join(st.Root(), "snapshots", testRepo))
				require.Empty(t, entries)
			}
		})
	}
}

func editTreeinfo(u *upstream, old, new string) {
	ti := string(u.read(".treeinfo"))
	require.Contains(u.t, ti, old)
	u.write(".treeinfo", []byte(strings.Replace(ti, old, new, 1)))
}

// TestSyncTreeKeys: a tree's variants serve repodata/repomd.xml.key as a
// repository's snapshot does (upstream's own when no key is configured),
// and a tree snapshot from before a key was configured does not stand for
// one that serves it.
func TestSyncTreeKeys(t *testing.T) {
	u := newTreeUpstream(t)
	upstreamKey, err := armoredKeyring(newSigner(t).Keyring)
	require.NoError(t, err)
	baseKey := path.Join("BaseOS", keyPath)
	u.write(baseKey, upstreamKey)
	m, st := newTestMirror(t)
	src := source(u)
	src.Kind = KindTree
	res, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.Equal(t, string(upstreamKey), treeOf(t, snapshotDir(st, res.Snapshot))[baseKey], "upstream's key, byte for byte")

	site := newSigner(t)
	src.PublishKey = site.Keyring
	keyed, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.True(t, keyed.Changed, "the keyless snapshot does not stand for one that serves the configured key")
	require.NotEqual(t, res.Snapshot.ID, keyed.Snapshot.ID)
	served := treeOf(t, snapshotDir(st, keyed.Snapshot))
	want, err := armoredKeyring(site.Keyring)
	require.NoError(t, err)
	require.Equal(t, string(want), served[baseKey])
	require.Equal(t, string(want), served[path.Join("AppStream", keyPath)])
}
