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
	first, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[0], Actor: "alice", Reason: "first sync"})
	require.NoError(t, err)
	require.Equal(t, Switch{Time: first.Time, Channel: "testing", Actor: "alice", Reason: "first sync", To: rels[0], Outcome: OutcomeSwitched}, first)
	require.False(t, first.Time.Before(before))
	require.Equal(t, time.UTC, first.Time.Location())
	require.False(t, exists(filepath.Join(s.Root(), "channels", "testing.prev")), "no .prev before a second release")

	second, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "bob", Reason: "tests passed"})
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

	// Switching to the current release changes nothing and, unkeyed, logs nothing.
	same, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "carol", Reason: "again"})
	require.NoError(t, err)
	require.Equal(t, OutcomeUnchanged, same.Outcome)
	require.Equal(t, rels[1], same.To)
	require.False(t, same.Moved())

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
			_, err := s.Switch(ctx, SwitchRequest{Channel: tc.channel, Release: tc.release, Actor: tc.actor, Reason: tc.reason})
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
		_, err := s.Switch(ctx, SwitchRequest{Channel: "production", Release: rel, Actor: "ops", Reason: "promote"})
		require.NoError(t, err)
	}
	rollback := func(to, reason, key string) (Switch, error) {
		return s.Rollback(ctx, SwitchRequest{Channel: "production", Release: to, Actor: "ops", Reason: reason, Key: key})
	}

	t.Run("previous release resolves once, to an absolute target", func(t *testing.T) {
		cur, prev, err := s.PreviousRelease("production")
		require.NoError(t, err)
		require.Equal(t, rels[2], cur)
		require.Equal(t, rels[1], prev)
		sw, err := rollback(prev, "broken ldap", "rb-1")
		require.NoError(t, err)
		require.Equal(t, rels[2], sw.From)
		require.Equal(t, rels[1], sw.To)
		require.Equal(t, "broken ldap", sw.Reason)
	})
	t.Run("a retried rollback returns its recorded outcome and stays", func(t *testing.T) {
		sw, err := rollback(rels[1], "broken ldap", "rb-1")
		require.NoError(t, err)
		require.Equal(t, rels[2], sw.From, "the first attempt's entry, not a new one")
		require.Equal(t, rels[1], sw.To)
		cur, err := s.Channel("production")
		require.NoError(t, err)
		require.Equal(t, rels[1], cur)
	})
	t.Run("previous skips entries that moved nothing", func(t *testing.T) {
		_, err := s.Switch(ctx, SwitchRequest{Channel: "production", Release: rels[1], Actor: "ops", Reason: "noop", Key: "noop-1"})
		require.NoError(t, err)
		_, prev, err := s.PreviousRelease("production")
		require.NoError(t, err)
		require.Equal(t, rels[2], prev)
	})
	t.Run("explicit target from the log", func(t *testing.T) {
		sw, err := rollback(rels[0], "back to the start", "rb-2")
		require.NoError(t, err)
		require.Equal(t, rels[0], sw.To)
		cur, err := s.Channel("production")
		require.NoError(t, err)
		require.Equal(t, rels[0], cur)
	})
	t.Run("a key reused for another target is refused", func(t *testing.T) {
		_, err := rollback(rels[2], "other", "rb-2")
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, "already switched it to "+rels[0])
	})
	t.Run("a release the channel never served is refused", func(t *testing.T) {
		_, err := rollback(rels[3], "try", "")
		require.ErrorIs(t, err, ErrInvalid)
		for _, allowed := range rels[:3] {
			require.ErrorContains(t, err, allowed)
		}
	})
	t.Run("a target and a reason are required", func(t *testing.T) {
		_, err := rollback(rels[1], "", "")
		require.ErrorIs(t, err, ErrInvalid)
		_, err = rollback("", "why", "")
		require.ErrorIs(t, err, ErrInvalid)
	})
	t.Run("a channel without history has nothing to roll back to", func(t *testing.T) {
		_, _, err := s.PreviousRelease("testing")
		require.ErrorIs(t, err, ErrInvalid)
	})
	log, err := s.History("production")
	require.NoError(t, err)
	require.Len(t, log, 6, "3 switches, 2 rollbacks and the keyed no-op")
}

func TestKeyedSwitchRetryReturnsTheRecordedOutcome(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rels := releases(t, s, 3)
	req := SwitchRequest{Channel: "testing", Release: rels[0], Actor: "dailysync", Reason: "daily", Key: "run-1/switch-testing"}
	first, err := s.Switch(ctx, req)
	require.NoError(t, err)
	require.Equal(t, OutcomeSwitched, first.Outcome)

	// Another operation moves the channel on; the retry of the first must
	// neither move it back nor report "unchanged".
	_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "ops", Reason: "later", Key: "run-2"})
	require.NoError(t, err)
	retry, err := s.Switch(ctx, req)
	require.NoError(t, err)
	require.Equal(t, normTimes([]Switch{first})[0], retry)
	cur, err := s.Channel("testing")
	require.NoError(t, err)
	require.Equal(t, rels[1], cur)

	// A frozen outcome is recorded too: after the unfreeze, the retry still
	// says frozen and moves nothing.
	_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: true, Release: rels[1], Actor: "alice", Reason: "gate"})
	require.NoError(t, err)
	frozenReq := SwitchRequest{Channel: "testing", Release: rels[2], Actor: "dailysync", Reason: "daily", Key: "run-3/switch-testing"}
	fz, err := s.Switch(ctx, frozenReq)
	require.ErrorIs(t, err, ErrFrozen)
	require.Equal(t, OutcomeFrozen, fz.Outcome)
	require.Equal(t, rels[2], fz.Requested)
	require.Equal(t, rels[1], fz.To)
	_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: false, Actor: "alice", Reason: "done"})
	require.NoError(t, err)
	fz2, err := s.Switch(ctx, frozenReq)
	require.ErrorIs(t, err, ErrFrozen)
	require.Equal(t, fz.Key, fz2.Key)
	cur, err = s.Channel("testing")
	require.NoError(t, err)
	require.Equal(t, rels[1], cur)
}

func TestSwitchHonoursContextWhileLocked(t *testing.T) {
	s := newStore(t)
	rel := releases(t, s, 1)[0]
	unlock, err := s.lock(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rel, Actor: "a", Reason: "r"})
	require.ErrorIs(t, err, context.Canceled)
	unlock()
	_, err = s.Switch(context.Background(), SwitchRequest{Channel: "testing", Release: rel, Actor: "a", Reason: "r"})
	require.NoError(t, err)
}
