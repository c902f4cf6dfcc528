package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// errCrash is what the crash hook fails an attempt with.
var errCrash = errors.New("crash point reached")

// crashCase is one store operation with a fixed input, run on a store
// that setup prepared the same way every time.
type crashCase struct {
	setup func(t *testing.T, s *Store, rels []string)
	// op runs the operation; its result is compared, times aside,
	// between a run without failure and the retry after one.
	op func(s *Store, rels []string) (any, error)
}

// TestCrashPoints fails the first attempt of every store operation at each
// crash point it passes, once returning an error and once as a process
// death (the store as it was on disk at that moment, no deferred cleanup),
// and retries with the same input. The end must be that of a run without
// failure: channels, .prev, freezes, logs and releases alike (times
// aside), the operation recorded once, its result the same, and nothing
// left in tmp/.
func TestCrashPoints(t *testing.T) {
	ctx := context.Background()
	switchTo := func(ch string, rel int, key string, through bool) func(*Store, []string) (any, error) {
		return func(s *Store, rels []string) (any, error) {
			return s.Switch(ctx, SwitchRequest{Channel: ch, Release: rels[rel], Actor: "ops", Reason: "crash test", Key: key, ThroughFreeze: through})
		}
	}
	switches := func(ch string, idx ...int) func(*testing.T, *Store, []string) {
		return func(t *testing.T, s *Store, rels []string) {
			for i, r := range idx {
				_, err := s.Switch(ctx, SwitchRequest{Channel: ch, Release: rels[r], Actor: "setup", Reason: "setup", Key: fmt.Sprint("setup-", i)})
				require.NoError(t, err)
			}
		}
	}
	freezeAt := func(ch string, rel int) func(*testing.T, *Store, []string) {
		return func(t *testing.T, s *Store, rels []string) {
			switches(ch, rel)(t, s, rels)
			_, err := s.SetFreeze(ctx, FreezeRequest{Channel: ch, Frozen: true, Release: rels[rel], Actor: "alice", Reason: "gate", Key: "setup-freeze"})
			require.NoError(t, err)
		}
	}
	cases := map[string]crashCase{
		"switch":                {switches("testing", 0, 1), switchTo("testing", 2, "op", false)},
		"first switch":          {func(*testing.T, *Store, []string) {}, switchTo("production", 0, "op", false)},
		"switch through freeze": {freezeAt("testing", 0), switchTo("testing", 1, "op", true)},
		"rollback": {switches("production", 0, 1, 2), func(s *Store, rels []string) (any, error) {
			return s.Rollback(ctx, SwitchRequest{Channel: "production", Release: rels[1], Actor: "ops", Reason: "outage failed", Key: "op"})
		}},
		"freeze": {switches("testing", 0), func(s *Store, rels []string) (any, error) {
			return s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Frozen: true, Release: rels[0], Actor: "alice", Reason: "gate", Key: "op"})
		}},
		"unfreeze": {freezeAt("testing", 0), func(s *Store, _ []string) (any, error) {
			return s.SetFreeze(ctx, FreezeRequest{Channel: "testing", Actor: "alice", Reason: "done", Key: "op"})
		}},
		// The store part of PublishRelease: the release, then daily and
		// testing switched to it.
		"publish": {switches("testing", 0), func(s *Store, rels []string) (any, error) {
			rel, _, err := s.CreateRelease(t0.Add(30*24*time.Hour), map[string]string{"base": freshSnapshot(s)})
			if err != nil {
				return nil, err
			}
			out := []any{rel}
			for _, ch := range []string{"daily", "testing"} {
				sw, err := s.Switch(ctx, SwitchRequest{Channel: ch, Release: rel.ID, Actor: "dailysync", Reason: "daily", Key: "op/switch-" + ch})
				if err != nil {
					return out, err
				}
				out = append(out, sw)
			}
			return out, nil
		}},
		// An emergency bypass's crash points, its switches included, are
		// TestApplyBypassCrashPoints' (it needs real RPMs to derive the
		// overlays).
	}
	covered := map[crashPoint]bool{}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want, wantState, trace := runCrashCase(t, tc, "", 0, "")
			require.NotEmpty(t, trace)
			for i, point := range trace {
				covered[point] = true
				for _, mode := range []string{"error", "death"} {
					t.Run(fmt.Sprintf("%d-%s/%s", i, point, mode), func(t *testing.T) {
						got, gotState, _ := runCrashCase(t, tc, point, countIn(trace[:i+1], point), mode)
						require.Equal(t, want, got, "the retry reports what a run without failure reports")
						require.Equal(t, wantState, gotState)
					})
				}
			}
		})
	}
	for _, op := range []string{"switch", "freeze", "release"} {
		for _, p := range crashPoints(op) {
			require.True(t, covered[p], "no case passes crash point %s", p)
		}
	}
}

func countIn(trace []crashPoint, p crashPoint) int {
	n := 0
	for _, q := range trace {
		if q == p {
			n++
		}
	}
	return n
}

// freshSnapshot is the snapshot crashReleases makes and puts in no
// release.
func freshSnapshot(s *Store) string {
	b, err := os.ReadFile(s.path("fresh-snapshot"))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// runCrashCase prepares a store, runs the case's operation failing at the
// nth pass of point (none if point is ""), retries it if it failed, and
// returns the result, the store's state and the crash points passed.
func runCrashCase(t *testing.T, tc crashCase, point crashPoint, nth int, mode string) (any, map[string]string, []crashPoint) {
	t.Helper()
	s := newStore(t)
	rels := crashReleases(t, s)
	tc.setup(t, s, rels)
	var trace []crashPoint
	dead := ""
	s.crash = func(p crashPoint) error {
		trace = append(trace, p)
		if p != point || countIn(trace, p) != nth {
			return nil
		}
		if mode == "death" {
			// The disk as a process killed here leaves it: nothing after
			// this moment runs, deferred cleanup included.
			dead = filepath.Join(t.TempDir(), "dead")
			out, err := exec.Command("cp", "-a", s.Root(), dead).CombinedOutput()
			require.NoError(t, err, "%s", out)
		}
		return errCrash
	}
	res, err := tc.op(s, rels)
	if point == "" {
		require.NoError(t, err)
		return normalize(t, res), storeState(t, s), trace
	}
	require.ErrorIs(t, err, errCrash)
	if mode == "death" {
		var oerr error
		s, oerr = Open(dead)
		require.NoError(t, oerr)
	}
	s.crash = nil
	res, err = tc.op(s, rels)
	require.NoError(t, err, "the retry")
	require.Empty(t, tmpEntries(t, s), "nothing staged is left behind")
	return normalize(t, res), storeState(t, s), trace
}

// crashReleases makes three releases, and a snapshot in none that it
// names in the file fresh-snapshot (see freshSnapshot).
func crashReleases(t *testing.T, s *Store) []string {
	t.Helper()
	ids := releases(t, s, 3)
	fresh := simpleSnapshot(t, s, "base", "fresh", t0.Add(29*24*time.Hour))
	require.NoError(t, os.WriteFile(s.path("fresh-snapshot"), []byte(fresh.ID), 0o644))
	return ids
}

// normalize makes a result comparable across runs: JSON without times.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal([]byte(undated(string(b))), &out))
	return dropTimes(out)
}

// releaseDate is the date part of a release ID: a derived release is
// dated by time.Now, so two runs on either side of midnight differ in it.
var releaseDate = regexp.MustCompile(`\b\d{8}-([0-9a-f]{10})\b`)

func undated(s string) string { return releaseDate.ReplaceAllString(s, "DATE-$1") }

func dropTimes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "time")
		delete(v, "Time")
		delete(v, "createdAt") // a derived release is made at time.Now
		for k, e := range v {
			v[k] = dropTimes(e)
		}
	case []any:
		for i, e := range v {
			v[i] = dropTimes(e)
		}
	}
	return v
}

// storeState is everything an operation may change, times aside:
// channels/ (links, logs line by line, freezes), releases/ and tmp/.
func storeState(t *testing.T, s *Store) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, dir := range []string{"channels", "releases", "tmp"} {
		entries, err := os.ReadDir(s.path(dir))
		require.NoError(t, err)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			full := s.path(p)
			switch {
			case e.Type() == os.ModeSymlink:
				target, err := os.Readlink(full)
				require.NoError(t, err)
				state[p] = "-> " + target
			case e.IsDir():
				sub, err := os.ReadDir(full)
				require.NoError(t, err)
				var names []string
				for _, f := range sub {
					target, _ := os.Readlink(filepath.Join(full, f.Name()))
					names = append(names, f.Name()+" -> "+target)
				}
				state[p] = strings.Join(names, ", ")
			default:
				b, err := os.ReadFile(full)
				require.NoError(t, err)
				lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
				if strings.HasSuffix(p, ".json") {
					lines = []string{string(b)} // a release record
				}
				for i, l := range lines {
					var v any
					require.NoError(t, json.Unmarshal([]byte(l), &v), "%s: %s", p, l)
					n, err := json.Marshal(dropTimes(v))
					require.NoError(t, err)
					lines[i] = string(n)
				}
				state[p] = strings.Join(lines, "\n")
			}
		}
	}
	undatedState := map[string]string{}
	for k, v := range state {
		undatedState[undated(k)] = undated(v)
	}
	return undatedState
}
