package starter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/repotest"
)

// auditFixture is a store with four releases, r[0] and r[1] candidates
// that testing served and whose gate passed, and the configuration
// pointing at it.
func auditFixture(t *testing.T) (st *repo.Store, r []string, cfgPath string) {
	t.Helper()
	st, r = repotest.Store(t, 4)
	dir := t.TempDir()
	p := writeConfig(t, dir, "")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), "store: "+filepath.Join(dir, "store"), "store: "+st.Root(), 1)), 0o644))
	for i, rel := range r[:2] {
		switchTo(t, st, "testing", rel, "daily-sync-20261201T0300/run/switch-testing-"+rel)
		require.NoError(t, st.RecordCandidate(rel, activities.Candidate{Release: rel, Rounds: i + 1, Gate: []string{"ok: smoke"}}))
	}
	return st, r, p
}

func switchTo(t *testing.T, st *repo.Store, channel, rel, key string) {
	t.Helper()
	_, err := st.Switch(context.Background(), repo.SwitchRequest{Channel: channel, Release: rel, Actor: "someone", Reason: "because", Key: key})
	require.NoError(t, err)
}

// promote switches production as promotion-<rel> does, with its record.
func promote(t *testing.T, st *repo.Store, rel string) string {
	t.Helper()
	key := "promotion-" + rel + "/run1/switch-production"
	require.NoError(t, st.RecordPromotion(context.Background(), rel, repo.PromotionRecord{Key: key, Promotion: "promotion-" + rel,
		Run: "run1", Channel: "production", Approver: "alice", Time: time.Now()}))
	switchTo(t, st, "production", rel, key)
	return key
}

// failedPromotion promotes r[0], then r[1], whose promotion fails and
// rolls production back to r[0].
func failedPromotion(t *testing.T, st *repo.Store, r []string) {
	t.Helper()
	promote(t, st, r[0])
	promote(t, st, r[1])
	rollBack(t, st, "production", r[0], "promotion-"+r[1]+"/run1/rollback-production")
}

func rollBack(t *testing.T, st *repo.Store, channel, to, key string) {
	t.Helper()
	_, err := st.Rollback(context.Background(), repo.SwitchRequest{Channel: channel, Release: to, Actor: "someone", Reason: "broken", Key: key})
	require.NoError(t, err)
}

func TestAuditNamesEachSwitchAndWarns(t *testing.T) {
	cfgKinds := func(entries []AuditEntry) []string {
		var out []string
		for _, e := range entries {
			mark := "ok"
			if e.Warn {
				mark = "WARN"
			}
			out = append(out, mark+" "+e.Kind)
		}
		return out
	}
	for name, tc := range map[string]struct {
		channel string
		steps   func(t *testing.T, st *repo.Store, r []string)
		want    []string
		exit    int
	}{
		"a failed promotion rolled back, then a manual rollback": {
			channel: "production",
			steps: func(t *testing.T, st *repo.Store, r []string) {
				failedPromotion(t, st, r)
				// Roll back one more by hand: r[0] is the first production
				// release, so there is nothing before it.
				_, _, err := st.PreviousRelease("production")
				require.ErrorContains(t, err, "no predecessor")
				rollBack(t, st, "production", r[1], "rollback-production-20261206T120000Z/run/rollback-production")
			},
			want: []string{"ok promotion", "ok promotion", "ok rollback after a failed promotion", "WARN manual rollback"},
			exit: 1,
		},
		"promotions and their rollback": {
			channel: "production",
			steps:   func(t *testing.T, st *repo.Store, r []string) { failedPromotion(t, st, r) },
			want:    []string{"ok promotion", "ok promotion", "ok rollback after a failed promotion"},
		},
		"a manual switch, then a promotion": {
			channel: "production",
			steps: func(t *testing.T, st *repo.Store, r []string) {
				switchTo(t, st, "production", r[2], "")
				promote(t, st, r[1])
			},
			want: []string{"WARN manual switch", "ok promotion"},
		},
		"an untested release promoted, a daily sync and a bypass with no record": {
			channel: "production",
			steps: func(t *testing.T, st *repo.Store, r []string) {
				promote(t, st, r[0])
				promote(t, st, r[2])
				switchTo(t, st, "production", r[3], "daily-sync-manual-sync/run/switch-production")
				_, err := st.Switch(context.Background(), repo.SwitchRequest{Channel: "production", Release: r[1], Actor: "carol",
					Reason: "bypass bypass-site-x: fix", Key: "bypass-site-x/run/apply/production"})
				require.NoError(t, err)
			},
			want: []string{"ok promotion", "WARN promotion", "WARN daily sync", "WARN bypass"},
			exit: 1,
		},
		"testing: daily syncs are its process, manual switches are not": {
			channel: "testing",
			steps: func(t *testing.T, st *repo.Store, r []string) {
				switchTo(t, st, "testing", r[3], "daily-sync-20261202T0300/run/switch-testing")
				switchTo(t, st, "testing", r[2], "")
				rollBack(t, st, "testing", r[3], "rollback-testing-20261206T120000Z/run/rollback-testing")
				switchTo(t, st, "testing", r[0], "daily-sync-20261203T0300/run/switch-testing")
			},
			want: []string{"ok daily sync", "ok daily sync", "ok daily sync", "WARN manual switch", "WARN manual rollback", "ok daily sync"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			st, r, cfgPath := auditFixture(t)
			tc.steps(t, st, r)
			cfg, err := config.Load(cfgPath)
			require.NoError(t, err)
			entries, err := Audit(st, cfg, tc.channel)
			require.NoError(t, err)
			require.Equal(t, tc.want, cfgKinds(entries))
			out, stderr, code := run(t, "--config", cfgPath, "audit", tc.channel)
			require.Equal(t, tc.exit, code, "%s%s", out, stderr)
			require.Equal(t, strings.Count(strings.Join(tc.want, "\n"), "WARN"), strings.Count(out, "WARN "), out)
		})
	}
}

// A crash between a switch's rename and its log entry leaves the channel
// on a release its log does not name: the audit says so and fails until
// the switch is recorded.
func TestAuditFlagsAReleaseNoSwitchRecorded(t *testing.T) {
	st, r, cfgPath := auditFixture(t)
	promote(t, st, r[0])
	// What a crashed switch leaves: the link moved, no entry.
	link := filepath.Join(st.Root(), "channels", "production")
	require.NoError(t, os.Remove(link))
	require.NoError(t, os.Symlink("../releases/"+r[2], link))

	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	entries, err := Audit(st, cfg, "production")
	require.NoError(t, err)
	require.Len(t, entries, 2)
	last := entries[1]
	require.Equal(t, SwitchUnrecorded, last.Kind)
	require.True(t, last.Warn)
	require.Equal(t, r[0], last.Switch.From)
	require.Equal(t, r[2], last.Switch.To)
	out, stderr, code := run(t, "--config", cfgPath, "audit", "production")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "no completed switch in its log names it")
	require.Contains(t, stderr, "production serves "+r[2])
}
