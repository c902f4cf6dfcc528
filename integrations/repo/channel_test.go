package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// releases makes n releases of repo "base", oldest first, one day apart.
func releases(t *testing.T, s *Store, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		day := t0.Add(time.Duration(i) * 24 * time.Hour)
		snap := simpleSnapshot(t, s, "base", string(rune('a'+i)), day)
		ids[i] = release(t, s, day, map[string]string{"base": snap.ID}).ID
	}
	return ids
}

func TestSwitchAuditsAndKeepsPrev(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rels := releases(t, s, 2)

	cur, err := s.Channel("testing")
	require.NoError(t, err)
	require.Empty(t, cur, "a channel never switched points nowhere")

	before := time.Now().UTC()
	first, err := s.Switch(ctx, "testing", rels[0], "alice", "first sync")
	require.NoError(t, err)
	require.Equal(t, Switch{Time: first.Time, Channel: "testing", Actor: "alice", Reason: "first sync", To: rels[0]}, first)
	require.False(t, first.Time.Before(before))
	require.Equal(t, time.UTC, first.Time.Location())
	require.False(t, exists(filepath.Join(s.Root(), "channels", "testing.prev")), "no .prev before a second release")

	second, err := s.Switch(ctx, "testing", rels[1], "bob", "tests passed")
	require.NoError(t, err)
	require.Equal(t, rels[0], second.From)

	target, err := os.Readlink(filepath.Join(s.Root(), "channels", "testing"))
	require.NoError(t, err)
	require.Equal(t, "../releases/"+rels[1], target)
	target, err = os.Readlink(filepath.Join(s.Root(), "channels", "testing.prev"))
	require.NoError(t, err)
	require.Equal(t, "../releases/"+rels[0], target)
	_, err = os.Stat(filepath.Join(s.Root(), "channels", "testing", "base", "repodata", "repomd.xml"))
	require.NoError(t, err, "channel → release → snapshot resolves")

	// Switching to the current release changes nothing and logs nothing.
	same, err := s.Switch(ctx, "testing", rels[1], "carol", "again")
	require.NoError(t, err)
	require.Equal(t, second, same)

	log, err := s.History("testing")
	require.NoError(t, err)
	require.Equal(t, []Switch{first, second}, normTimes(log))
	chans, err := s.Channels()
	require.NoError(t, err)
	require.Equal(t, map[string]string{"testing": rels[1]}, chans)
	require.Empty(t, tmpEntries(t, s))
}

// normTimes drops the monotonic clock reading that JSON does not carry, so
// logged entries compare equal to the ones Switch returned.
func normTimes(log []Switch) []Switch {
	for i := range log {
		log[i].Time = log[i].Time.Round(0)
	}
	return log
}

func TestSwitchRefuses(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rel := releases(t, s, 1)[0]
	for name, tc := range map[string]struct {
		channel, release, actor, reason string
		err                             error
	}{
		"unknown release":  {"testing", "20990101-0000000000", "a", "r", ErrNotFound},
		"bad release name": {"testing", "../../etc", "a", "r", ErrInvalid},
		"no actor":         {"testing", rel, "", "r", ErrInvalid},
		"no reason":        {"testing", rel, "a", " ", ErrInvalid},
		"upper-case":       {"Testing", rel, "a", "r", ErrInvalid},
		"dot":              {"testing.prev", rel, "a", "r", ErrInvalid},
		"leading digit":    {"1testing", rel, "a", "r", ErrInvalid},
		"slash":            {"a/b", rel, "a", "r", ErrInvalid},
		"empty channel":    {"", rel, "a", "r", ErrInvalid},
		"dotdot":           {"..", rel, "a", "r", ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Switch(ctx, tc.channel, tc.release, tc.actor, tc.reason)
			require.ErrorIs(t, err, tc.err)
		})
	}
	chans, err := s.Channels()
	require.NoError(t, err)
	require.Empty(t, chans)
}

func TestNameValidation(t *testing.T) {
	for _, tc := range []struct {
		name          string
		channel, repo bool
	}{
		{"testing", true, true},
		{"prod_2-b", true, true},
		{"baseos", true, true},
		{"epel9.x86_64", false, true},
		{"9base", false, true},
		{"Base", false, false},
		{"", false, false},
		{".hidden", false, false},
		{"-x", false, false},
		{"a/b", false, false},
		{"a b", false, false},
	} {
		require.Equal(t, tc.channel, CheckChannelName(tc.name) == nil, "channel %q", tc.name)
		require.Equal(t, tc.repo, CheckRepoName(tc.name) == nil, "repo %q", tc.name)
		if !tc.repo {
			require.ErrorIs(t, CheckRepoName(tc.name), ErrInvalid)
		}
	}
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rels := releases(t, s, 4)
	for _, rel := range rels[:3] {
		_, err := s.Switch(ctx, "production", rel, "ops", "promote")
		require.NoError(t, err)
	}

	t.Run("default is the release before the current one", func(t *testing.T) {
		sw, err := s.Rollback(ctx, "production", "", "ops", "broken ldap")
		require.NoError(t, err)
		require.Equal(t, rels[2], sw.From)
		require.Equal(t, rels[1], sw.To)
		require.Equal(t, "broken ldap", sw.Reason)
	})
	t.Run("rolling back again undoes the rollback", func(t *testing.T) {
		sw, err := s.Rollback(ctx, "production", "", "ops", "ldap fixed")
		require.NoError(t, err)
		require.Equal(t, rels[2], sw.To)
	})
	t.Run("explicit target from the log", func(t *testing.T) {
		sw, err := s.Rollback(ctx, "production", rels[0], "ops", "back to the start")
		require.NoError(t, err)
		require.Equal(t, rels[0], sw.To)
		cur, err := s.Channel("production")
		require.NoError(t, err)
		require.Equal(t, rels[0], cur)
	})
	t.Run("a release the channel never served is refused", func(t *testing.T) {
		_, err := s.Rollback(ctx, "production", rels[3], "ops", "try")
		require.ErrorIs(t, err, ErrInvalid)
		for _, allowed := range rels[:3] {
			require.ErrorContains(t, err, allowed)
		}
	})
	t.Run("reason is required", func(t *testing.T) {
		_, err := s.Rollback(ctx, "production", "", "ops", "")
		require.ErrorIs(t, err, ErrInvalid)
	})
	t.Run("a channel without history has nothing to roll back to", func(t *testing.T) {
		_, err := s.Rollback(ctx, "testing", "", "ops", "why")
		require.ErrorIs(t, err, ErrInvalid)
	})
	log, err := s.History("production")
	require.NoError(t, err)
	require.Len(t, log, 6)
}

func TestSwitchHonoursContextWhileLocked(t *testing.T) {
	s := newStore(t)
	rel := releases(t, s, 1)[0]
	unlock, err := s.lock(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Switch(ctx, "testing", rel, "a", "r")
	require.ErrorIs(t, err, context.Canceled)
	unlock()
	_, err = s.Switch(context.Background(), "testing", rel, "a", "r")
	require.NoError(t, err)
}
