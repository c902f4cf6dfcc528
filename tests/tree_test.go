package tests

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/starter"
	"github.com/osflow/osflow/workflows"
)

// e2eTree is a distribution tree as Pungi lays one out for a DVD: PXE and
// stage2 images, and two variants whose packages depend across them.
var e2eTree = upstream.TreeSpec{
	Images: map[string]string{
		"images/pxeboot/vmlinuz":    "osflow e2e kernel 1",
		"images/pxeboot/initrd.img": "osflow e2e initrd 1",
		"images/install.img":        "osflow e2e stage2 1",
		"images/efiboot.img":        "osflow e2e efiboot 1",
	},
	Variants: map[string][]upstream.Spec{
		"BaseOS":    {spec("hpc-base", "1.0")},
		"AppStream": {spec("hpc-apps", "2.0", "hpc-base")},
	},
}

// TestTreeProvisioning mirrors a distribution tree, switches production to
// it, and provisions from the channel as Anaconda and dnf do; a tree whose
// image fails its checksum, or whose .treeinfo leads out of the tree, moves
// no channel.
func TestTreeProvisioning(t *testing.T) {
	ctx := context.Background()
	treeDir := t.TempDir()
	_, err := upstream.BuildTree(ctx, e2eTree, treeDir)
	require.NoError(t, err)
	up := httptest.NewServer(http.FileServer(http.Dir(treeDir)))
	t.Cleanup(up.Close)
	s := newSite(t, "e2e-tree", nil, "  - name: dist\n    kind: tree\n    url: "+up.URL+"/\n")

	first := s.sync()
	require.Equal(t, workflows.PhaseDone, first.Phase)
	require.Equal(t, first.Release, s.channel("testing"))
	_, err = s.store.Switch(ctx, repo.SwitchRequest{Channel: "production", Release: first.Release, Actor: "e2e", Reason: "provision from the tree"})
	require.NoError(t, err)
	base := s.channels.URL + "/production/dist/"

	t.Run("an installer gets the tree byte for byte", func(t *testing.T) {
		fetched := anacondaFetch(t, base)
		var order []string
		for _, f := range fetched {
			order = append(order, f.path)
			want, err := os.ReadFile(filepath.Join(treeDir, filepath.FromSlash(f.path)))
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, f.body), "%s differs from upstream", f.path)
		}
		require.Equal(t, []string{
			".treeinfo", "images/install.img", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img",
			"AppStream/repodata/repomd.xml", "BaseOS/repodata/repomd.xml",
		}, order)
	})

	root := filepath.Join(s.dir, "node")
	t.Run("dnf installs from each variant through `repo files`", func(t *testing.T) {
		var file strings.Builder
		require.NoError(t, starter.WriteRepoFile(&file, s.cfg, s.store, "production", s.channels.URL+"/"))
		for _, v := range []string{"AppStream", "BaseOS"} {
			require.Contains(t, file.String(), "\n[osflow-production-dist-"+v+"]\nname=osflow production dist "+v+"\nbaseurl="+base+v+"/\n")
		}
		require.NotContains(t, file.String(), "baseurl="+base+"\n", "the tree root has no repodata/")
		out := s.dnf(root, "production", "install", "hpc-apps")
		require.Equal(t, "hpc-apps-2.0-1", installed(t, root, "hpc-apps"), "dnf: %s", out)
		require.Equal(t, "hpc-base-1.0-1", installed(t, root, "hpc-base"), "dnf: %s", out)
	})

	served := func() []byte {
		t.Helper()
		resp, err := http.Get(base + ".treeinfo")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return body
	}
	before := served()
	refused := func(t *testing.T, want ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		run, err := starter.StartSync(ctx, s.client, s.cfg, "e2e", "tree")
		require.NoError(t, err)
		_, err = starter.WaitSync(ctx, s.client, run, func(activities.SyncProgress) {})
		require.Error(t, err)
		for _, w := range append(want, "dist", "no channel was changed") {
			require.Contains(t, err.Error(), w)
		}
		for _, ch := range []string{"daily", "testing", "production"} {
			require.Equal(t, first.Release, s.channel(ch), ch)
		}
		require.Equal(t, before, served())
	}

	t.Run("a tampered image is refused", func(t *testing.T) {
		next := e2eTree
		next.BuildTimestamp = 1714000100
		next.Images = map[string]string{}
		for p, c := range e2eTree.Images {
			next.Images[p] = strings.Replace(c, " 1", " 2", 1)
		}
		for p, c := range next.Images {
			require.NoError(t, os.WriteFile(filepath.Join(treeDir, p), []byte(c), 0o644))
		}
		_, err := upstream.WriteTreeinfo(next, treeDir)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(treeDir, "images/install.img"), []byte("stage2 with a backdoor"), 0o644))
		refused(t, up.URL+"/images/install.img", "sha256 checksum mismatch")
	})

	t.Run("a path out of the tree is refused", func(t *testing.T) {
		ti, err := os.ReadFile(filepath.Join(treeDir, ".treeinfo"))
		require.NoError(t, err)
		escaped := strings.Replace(string(ti), "repository = AppStream\n", "repository = ../AppStream\n", 1)
		require.NotEqual(t, string(ti), escaped)
		require.NoError(t, os.WriteFile(filepath.Join(treeDir, ".treeinfo"), []byte(escaped), 0o644))
		refused(t, up.URL+"/.treeinfo", "leaves the repository")

		absolute := strings.Replace(string(ti), "kernel = images/pxeboot/vmlinuz", "kernel = /etc/shadow", 1)
		require.NoError(t, os.WriteFile(filepath.Join(treeDir, ".treeinfo"), []byte(absolute), 0o644))
		refused(t, up.URL+"/.treeinfo", "absolute")
	})
}

// fetchedFile is one file an installer fetched.
type fetchedFile struct {
	path string
	body []byte
}

// anacondaFetch fetches from the tree at base what a PXE-booted Anaconda
// (inst.repo=base) or virt-install --location fetches, in its order:
// .treeinfo; the stage2 image it names ([stage2] mainimage, else
// LiveOS/squashfs.img); the kernel and initrd of the tree's arch; then each
// variant's repodata/repomd.xml.
func anacondaFetch(t *testing.T, base string) []fetchedFile {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	var out []fetchedFile
	get := func(p string) []byte {
		resp, err := client.Get(base + p)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		out = append(out, fetchedFile{p, body})
		return body
	}
	ti, err := rpmmd.ParseTreeinfo(bytes.NewReader(get(".treeinfo")), rpmmd.Limits{})
	require.NoError(t, err)
	stage2 := ti.Stage2
	if stage2 == "" {
		stage2 = "LiveOS/squashfs.img"
	}
	get(stage2)
	get(ti.Images[ti.Arch]["kernel"])
	get(ti.Images[ti.Arch]["initrd"])
	for _, v := range ti.Variants {
		get(v.Repository + "/repodata/repomd.xml")
	}
	return out
}
