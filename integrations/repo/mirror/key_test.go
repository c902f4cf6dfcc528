package mirror

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// TestSyncKeepsRepomdKey: a snapshot serves the key clients import next
// to repomd.xml: upstream's repodata/repomd.xml.key (OBS, OpenHPC) byte
// for byte when no key is configured, the configured key when one is.
// Fetching upstream's costs nothing on an unchanged upstream.
func TestSyncKeepsRepomdKey(t *testing.T) {
	obs := newSigner(t)
	upstreamKey, err := armoredKeyring(obs.Keyring)
	require.NoError(t, err)

	t.Run("upstream's, byte for byte", func(t *testing.T) {
		u := newUpstream(t, "alpha-1.0")
		obs.sign(u)
		u.write(keyPath, append([]byte("# OBS project key\n"), upstreamKey...))
		m, st := newTestMirror(t)
		res, err := m.Sync(t.Context(), source(u), nil)
		require.NoError(t, err)
		require.Equal(t, treeOf(t, u.Dir)[keyPath], treeOf(t, snapshotDir(st, res.Snapshot))[keyPath])
		require.Equal(t, repo.SnapshotID(sha256Hex(u.read(repomdPath))), res.Snapshot.ID)

		u.requests()
		again, err := m.Sync(t.Context(), source(u), nil)
		require.NoError(t, err)
		require.Equal(t, res.Snapshot.ID, again.Snapshot.ID)
		require.Equal(t, []string{"/" + repomdPath}, u.requests(), "an unchanged upstream costs one request")
	})

	t.Run("none upstream", func(t *testing.T) {
		u := newUpstream(t, "alpha-1.0")
		m, st := newTestMirror(t)
		res, err := m.Sync(t.Context(), source(u), nil)
		require.NoError(t, err)
		require.NotContains(t, treeOf(t, snapshotDir(st, res.Snapshot)), keyPath)
	})

	t.Run("the configured key wins", func(t *testing.T) {
		site := newSigner(t)
		u := newUpstream(t, "alpha-1.0")
		site.sign(u)
		u.write(keyPath, upstreamKey) // another key: not what osflow verified with
		m, st := newTestMirror(t)
		src := source(u)
		src.Keyring, src.RequireSignature = site.Keyring, true
		res, err := m.Sync(t.Context(), src, nil)
		require.NoError(t, err)
		tree := treeOf(t, snapshotDir(st, res.Snapshot))
		served, err := rpmmd.ReadKeyring(bytes.NewReader([]byte(tree[keyPath])))
		require.NoError(t, err)
		require.NoError(t, rpmmd.VerifySignature(served, bytes.NewReader([]byte(tree[repomdPath])), bytes.NewReader([]byte(tree[signaturePath]))),
			"the served key verifies the served signature")
		require.NotEqual(t, repo.SnapshotID(sha256Hex(u.read(repomdPath))), res.Snapshot.ID,
			"a snapshot from before the key was configured does not stand for one that serves it")
	})
}
