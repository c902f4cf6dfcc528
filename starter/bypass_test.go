package starter

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/workflows"
)

// TestBypassOutcome: a failed bypass's CLI says which channels it did
// switch, read from the channels' logs on the store host, and not "no
// channel was changed" when one was.
func TestBypassOutcome(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(writeConfig(t, dir, ""))
	require.NoError(t, err)
	const id = "bypass-site-20261206-230000"
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, st *repo.Store, rels []string)
		status workflows.BypassStatus
		want   string
	}{
		{name: "not the store host", status: workflows.BypassStatus{Switches: []activities.ChannelSwitch{{Channel: "testing", From: "a", To: "b", Changed: true}}},
			want: "the bypass switched testing (a -> b)"},
		{name: "not the store host, nothing reported", want: "no channel was changed unless a step above says so"},
		{name: "switched testing only", setup: func(t *testing.T, st *repo.Store, rels []string) {
			for _, sw := range []repo.SwitchRequest{
				{Channel: "testing", Release: rels[0], Actor: "e2e", Reason: "setup"},
				{Channel: "testing", Release: rels[1], Actor: "cli/bob", Reason: "bypass", Key: id + "/run/apply/testing"},
				{Channel: "production", Release: rels[0], Actor: "e2e", Reason: "setup", Key: "bypass-site-other/run/apply/production"},
			} {
				_, err := st.Switch(t.Context(), sw)
				require.NoError(t, err)
			}
		}, want: "the bypass did switch testing (REL0 -> REL1) (channel logs)"},
		{name: "switched nothing", setup: func(t *testing.T, st *repo.Store, rels []string) {
			_, err := st.Switch(t.Context(), repo.SwitchRequest{Channel: "production", Release: rels[0], Actor: "e2e", Reason: "setup"})
			require.NoError(t, err)
		}, want: "no channel was switched (channel logs)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			c.Store = filepath.Join(t.TempDir(), "store")
			want := tc.want
			if tc.setup != nil {
				st, err := repo.Open(c.Store)
				require.NoError(t, err)
				var rels []string
				for i, tag := range []string{"a", "b"} {
					rel, _, err := st.CreateRelease(time.Date(2026, 12, 1+i, 0, 0, 0, 0, time.UTC), map[string]string{"site": snapshotOf(t, st, tag)})
					require.NoError(t, err)
					rels = append(rels, rel.ID)
				}
				tc.setup(t, st, rels)
				want = strings.NewReplacer("REL0", rels[0], "REL1", rels[1]).Replace(want)
			}
			require.Contains(t, bypassOutcome(&c, id, tc.status), want)
			if tc.setup == nil {
				require.NoDirExists(t, c.Store, "the CLI makes no store where there is none")
			}
		})
	}
}

// snapshotOf commits a one-file snapshot of the overlay "site" tagged tag.
func snapshotOf(t *testing.T, st *repo.Store, tag string) string {
	t.Helper()
	content := "repomd " + tag
	f, err := os.CreateTemp(st.TempDir(), "dl-*")
	require.NoError(t, err)
	_, err = f.WriteString(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	sum := sha256.Sum256([]byte(content))
	c := repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])}
	require.NoError(t, st.PoolAdd(c, f.Name()))
	snap, err := st.CommitSnapshot(repo.Snapshot{Repo: "site", Source: "test", Repomd: c.Hex},
		[]repo.File{{Path: "repodata/repomd.xml", Checksum: c, Size: int64(len(content))}}, nil)
	require.NoError(t, err)
	return snap.ID
}
