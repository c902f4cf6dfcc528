package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/integrations/tickets"
	"github.com/osflow/osflow/worker"
	"github.com/osflow/osflow/workflows"
)

// TestOneBrokenRepoBlocksNoOther: of three repos, one cannot sync (its
// upstream down; then sha1 only): the other two reach testing with their
// updates, and the broken one keeps its last good snapshot, marked stale
// in the release with one ticket per outage, closed when it recovers.
// A hostile repo listing another repo's package under more names than the
// link limit breaks no commit. A required repo that fails blocks all.
func TestOneBrokenRepoBlocksNoOther(t *testing.T) {
	s := newBareSite(t, "e2e-isolation", map[string][]upstream.Spec{
		"baseos":    {spec("hpc-base", "1.0")},
		"appstream": {spec("hpc-apps", "1.0")},
		"epel":      {spec("hpc-extra", "1.0")},
	}, "testing:\n  gate:\n    cleanRounds: 99\n")
	s.cfg.Sync.LinkLimit = 10 // the attack below, at a test's scale
	s.startWorker(worker.Options{Main: true, Repo: true})
	tracker := &tickets.FileTracker{Dir: s.cfg.Tickets.Dir}
	ctx := context.Background()

	first := s.sync()
	require.Equal(t, workflows.PhaseDone, first.Phase)
	require.Empty(t, first.Stale)

	// staleOn checks that testing serves release st.Release, in which name
	// is stale with snapshot from good, and that its outage has a ticket.
	staleOn := func(t *testing.T, st workflows.DailySyncStatus, name, good string) string {
		t.Helper()
		require.Contains(t, []string{workflows.PhaseDone, workflows.PhaseNoChange}, st.Phase, st.Error)
		require.Equal(t, st.Release, s.channel("testing"), "the others move on to testing")
		rel, err := s.store.Release(st.Release)
		require.NoError(t, err)
		prev, err := s.store.Release(good)
		require.NoError(t, err)
		require.Equal(t, prev.Repos[name], rel.Repos[name], "%s keeps its last good snapshot", name)
		require.Contains(t, rel.Stale, name)
		require.Len(t, st.Stale, 1)
		require.Equal(t, name, st.Stale[0].Repo)
		tk, err := tracker.FindOpen(ctx, "stale-repo/"+name)
		require.NoError(t, err)
		require.NotNil(t, tk, "a ticket for the outage of %s", name)
		require.Equal(t, tk.ID, st.Tickets[name])
		return tk.ID
	}

	t.Run("upstream down", func(t *testing.T) {
		down := filepath.Join(s.upstream, "appstream")
		require.NoError(t, os.Rename(down, down+".off"))
		s.publish("baseos", spec("hpc-base", "1.1"))
		st, _ := s.syncRecorded("dailysync-v3-stale")
		ticket := staleOn(t, st, "appstream", first.Release)
		require.Contains(t, st.Stale[0].Cause, "repomd.xml")
		rel, err := s.store.Release(st.Release)
		require.NoError(t, err)
		require.NotEqual(t, first.Release, st.Release)
		require.NotEqual(t, s.snapshotOf(first.Release, "baseos"), rel.Repos["baseos"], "baseos moved on")

		again := s.sync()
		require.Equal(t, st.Release, again.Release, "the same outage, the same release")
		require.Equal(t, ticket, staleOn(t, again, "appstream", first.Release), "one ticket per outage, not per day")
		require.Equal(t, st.Stale[0].Since, again.Stale[0].Since)

		require.NoError(t, os.Rename(down+".off", down))
		back := s.sync()
		require.Empty(t, back.Stale)
		tk, err := tracker.FindOpen(ctx, "stale-repo/appstream")
		require.NoError(t, err)
		require.Nil(t, tk, "the recovery closes the ticket")
	})

	t.Run("sha1 only", func(t *testing.T) {
		good := s.channel("testing")
		require.NoError(t, upstream.Createrepo(ctx, filepath.Join(s.upstream, "epel"), "--checksum", "sha1", "--repomd-checksum", "sha1"))
		s.publish("appstream", spec("hpc-apps", "1.1"))
		st := s.sync()
		staleOn(t, st, "epel", good)
		require.Contains(t, st.Stale[0].Cause, "sha1")
		rel, err := s.store.Release(st.Release)
		require.NoError(t, err)
		require.NotEqual(t, s.snapshotOf(good, "appstream"), rel.Repos["appstream"], "appstream moved on")
		require.NoError(t, upstream.Createrepo(ctx, filepath.Join(s.upstream, "epel")))
	})

	t.Run("link-limit attack", func(t *testing.T) {
		// epel lists baseos's package under 35 names (the limit is 10).
		rpms, err := filepath.Glob(filepath.Join(s.upstream, "baseos", "Packages", "hpc-base-1.1-*.rpm"))
		require.NoError(t, err)
		require.Len(t, rpms, 1)
		data, err := os.ReadFile(rpms[0])
		require.NoError(t, err)
		for i := range 35 {
			dir := filepath.Join(s.upstream, "epel", "Packages", "dup"+strconv.Itoa(i%5))
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "x"+strconv.Itoa(i)+".rpm"), data, 0o644))
		}
		require.NoError(t, upstream.Createrepo(ctx, filepath.Join(s.upstream, "epel")))
		hostile := s.sync()
		require.Equal(t, workflows.PhaseDone, hostile.Phase, hostile.Error)
		require.Empty(t, hostile.Stale)

		s.publish("baseos", spec("hpc-base", "1.1"), spec("hpc-tools", "1.0"))
		st := s.sync()
		require.Equal(t, workflows.PhaseDone, st.Phase, st.Error)
		require.Empty(t, st.Stale, "baseos commits beside the hostile repo")
		require.Equal(t, st.Release, s.channel("testing"))
		sum := sha256.Sum256(data)
		obj := s.store.PoolPath(repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])})
		fi, err := os.Stat(obj)
		require.NoError(t, err)
		require.LessOrEqual(t, fi.Sys().(*syscall.Stat_t).Nlink, uint64(1+10+4), "the hostile snapshot adds at most the limit")
	})

	t.Run("a required repo blocks the release", func(t *testing.T) {
		good := s.channel("testing")
		for i := range s.cfg.Repos {
			s.cfg.Repos[i].Required = s.cfg.Repos[i].Name == "epel"
		}
		require.NoError(t, upstream.Createrepo(ctx, filepath.Join(s.upstream, "epel"), "--checksum", "sha1", "--repomd-checksum", "sha1"))
		_, _, err := s.trySync("required")
		require.ErrorContains(t, err, "required repo epel failed")
		require.ErrorContains(t, err, "no channel was changed")
		require.Equal(t, good, s.channel("testing"))
	})
}

// snapshotOf is the snapshot of repo name in release rel.
func (s *site) snapshotOf(rel, name string) string {
	s.t.Helper()
	r, err := s.store.Release(rel)
	require.NoError(s.t, err)
	return r.Repos[name]
}
