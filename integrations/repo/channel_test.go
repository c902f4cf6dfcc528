package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	t.Run("after a rollback the one before is further back, never the release left", func(t *testing.T) {
		_, err := s.Switch(ctx, SwitchRequest{Channel: "production", Release: rels[1], Actor: "ops", Reason: "noop", Key: "noop-1"})
		require.NoError(t, err)
		_, prev, err := s.PreviousRelease("production")
		require.NoError(t, err)
		require.Equal(t, rels[0], prev)
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

func TestRollbackGoesBack(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		// steps: "switch R" or "rollback R", by index into the releases.
		steps []string
		// prev is the index "roll back one" resolves to; -1: none.
		prev int
	}{
		"after a failed promotion's rollback, back before it":    {[]string{"switch 0", "switch 1", "switch 2", "rollback 1"}, 0},
		"a failed promotion's rollback to the first has nothing": {[]string{"switch 0", "switch 1", "rollback 0"}, -1},
		"two rollbacks in a row walk back":                       {[]string{"switch 0", "switch 1", "switch 2", "switch 3", "rollback 2", "rollback 1"}, 0},
		"a rollback further back pops through":                   {[]string{"switch 0", "switch 1", "switch 2", "switch 3", "rollback 1"}, 0},
		"a switch after a rollback pushes":                       {[]string{"switch 0", "switch 1", "rollback 0", "switch 2"}, 0},
		"a plain switch back to the release left pops":           {[]string{"switch 0", "switch 1", "switch 2", "switch 1"}, 0},
		"a rollback to a release popped earlier is a move":       {[]string{"switch 0", "switch 1", "rollback 0", "rollback 1"}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			rels := releases(t, s, 4)
			for i, step := range tc.steps {
				op, idx, _ := strings.Cut(step, " ")
				req := SwitchRequest{Channel: "production", Release: rels[idx[0]-'0'], Actor: "ops", Reason: step, Key: fmt.Sprint("op-", i)}
				var err error
				if op == "rollback" {
					_, err = s.Rollback(ctx, req)
				} else {
					_, err = s.Switch(ctx, req)
				}
				require.NoError(t, err, step)
			}
			cur, prev, err := s.PreviousRelease("production")
			if tc.prev < 0 {
				require.ErrorIs(t, err, ErrInvalid)
				require.ErrorContains(t, err, "no predecessor")
				return
			}
			require.NoError(t, err)
			require.Equal(t, rels[tc.prev], prev, "current %s", cur)
		})
	}
}

func TestTornLastLineOfAChannelLog(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rels := releases(t, s, 3)
	_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[0], Actor: "ci", Reason: "first", Key: "k0"})
	require.NoError(t, err)
	_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "ci", Reason: "second", Key: "k1"})
	require.NoError(t, err)
	logPath := filepath.Join(s.Root(), "channels", "testing.log")
	tear := func() {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.WriteString(`{"time":"2026-12-06T23:00:00Z","channel":"testing","act`)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}

	tear()
	before, err := s.History("testing")
	require.NoError(t, err, "a torn last line is what a crash mid-append leaves")
	require.Len(t, before, 2)

	sw, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[2], Actor: "ci", Reason: "third", Key: "k2"})
	require.NoError(t, err, "a keyed switch")
	require.Equal(t, rels[1], sw.From)
	tear()
	_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: true, Release: rels[2], Actor: "alice", Reason: "gate", Key: "f1"})
	require.NoError(t, err, "a freeze")
	_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Actor: "alice", Reason: "done", Key: "f2"})
	require.NoError(t, err, "an unfreeze")
	tear()
	rb, err := s.Rollback(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "ops", Reason: "bad", Key: "r1"})
	require.NoError(t, err, "a rollback")
	require.Equal(t, rels[2], rb.From)

	log, err := s.History("testing")
	require.NoError(t, err)
	var outcomes []string
	for _, e := range log {
		outcomes = append(outcomes, e.Key+":"+e.Outcome)
	}
	require.Equal(t, []string{"k0:switched", "k1:switched", "k2:switched", "f1:freeze", "f2:unfreeze", "r1:switched"}, outcomes)

	// The torn lines are gone, every line parses; a bad line in the
	// middle of the log is damage, not a crash, and is named.
	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 2*6, "six entries, each after its intent")
	for _, l := range lines {
		require.True(t, json.Valid([]byte(l)), l)
	}
	lines = slices.Insert(lines, 2, `{"time":"2026-12-06T23:00:00Z","channel":"testing","act`)
	require.NoError(t, os.WriteFile(logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	_, err = s.History("testing")
	require.ErrorIs(t, err, ErrBadContent)
	require.ErrorContains(t, err, logPath+" line 3")
}

// An unkeyed switch has no retry to finish its record: a crash between
// its rename and its entry is recorded by the next writer of the log, and
// read as recorded by PreviousRelease meanwhile.
func TestInterruptedSwitchIsRecordedByTheNextWriter(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rels := releases(t, s, 2)
	_, err := s.Switch(ctx, SwitchRequest{Channel: "production", Release: rels[0], Actor: "ops", Reason: "first"})
	require.NoError(t, err)
	s.crash = func(p crashPoint) error {
		if p == atSwitchLink {
			return errCrash
		}
		return nil
	}
	_, err = s.Switch(ctx, SwitchRequest{Channel: "production", Release: rels[1], Actor: "bob", Reason: "by hand"})
	require.ErrorIs(t, err, errCrash)
	s.crash = nil
	log, err := s.History("production")
	require.NoError(t, err)
	require.Len(t, log, 1, "not recorded yet")
	cur, prev, err := s.PreviousRelease("production")
	require.NoError(t, err)
	require.Equal(t, []string{rels[1], rels[0]}, []string{cur, prev})

	_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "production", Frozen: true, Release: rels[1], Actor: "alice", Reason: "hold"})
	require.NoError(t, err)
	log, err = s.History("production")
	require.NoError(t, err)
	require.Len(t, log, 3)
	require.Equal(t, Switch{Time: log[1].Time, Channel: "production", Actor: "bob", Reason: "by hand", From: rels[0], To: rels[1], Outcome: OutcomeSwitched}, log[1])
	require.Equal(t, OutcomeFreeze, log[2].Outcome)
}

// Another operation on the channel between a crashed attempt and its
// retry: a rename that happened is recorded by that operation and the
// retry reports it; one that did not is made by the retry.
func TestRetryAfterAnotherOperation(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		at      crashPoint
		wantCur int // release the channel serves after the retry
	}{
		"crashed before its rename": {atSwitchIntent, 1},
		"crashed after its rename":  {atSwitchLink, 2},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			rels := releases(t, s, 3)
			_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[0], Actor: "ci", Reason: "first", Key: "k0"})
			require.NoError(t, err)
			s.crash = func(p crashPoint) error {
				if p == tc.at {
					return errCrash
				}
				return nil
			}
			req := SwitchRequest{Channel: "testing", Release: rels[1], Actor: "ci", Reason: "second", Key: "k1"}
			_, err = s.Switch(ctx, req)
			require.ErrorIs(t, err, errCrash)
			s.crash = nil

			// Meanwhile someone freezes the channel at what it serves and
			// lets go again.
			cur, err := s.Channel("testing")
			require.NoError(t, err)
			_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: true, Release: cur, Actor: "alice", Reason: "look", Key: "f1"})
			require.NoError(t, err)
			_, err = s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Actor: "alice", Reason: "done", Key: "f2"})
			require.NoError(t, err)
			if tc.at == atSwitchLink {
				// and moves it on.
				_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[2], Actor: "ops", Reason: "later", Key: "k2"})
				require.NoError(t, err)
			}

			sw, err := s.Switch(ctx, req)
			require.NoError(t, err)
			require.Equal(t, OutcomeSwitched, sw.Outcome)
			require.True(t, sw.Moved())
			require.Equal(t, rels[0], sw.From, "the true From")
			require.Equal(t, rels[1], sw.To)
			cur, err = s.Channel("testing")
			require.NoError(t, err)
			require.Equal(t, rels[tc.wantCur], cur)
			log, err := s.History("testing")
			require.NoError(t, err)
			var keys []string
			for _, e := range log {
				keys = append(keys, e.Key+":"+e.Outcome)
			}
			want := []string{"k0:switched", "f1:freeze", "f2:unfreeze", "k1:switched"}
			if tc.at == atSwitchLink {
				want = []string{"k0:switched", "k1:switched", "f1:freeze", "f2:unfreeze", "k2:switched"}
			}
			require.Equal(t, want, keys, "recorded once, where it happened")
		})
	}
}
