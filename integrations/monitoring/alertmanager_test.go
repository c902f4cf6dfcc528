package monitoring

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
	"github.com/osflow/osflow/integrations/monitoring/amtest"
)

func mustMatchers(t *testing.T, ss ...string) []config.Matcher {
	var ms []config.Matcher
	for _, s := range ss {
		m, err := config.ParseMatcher(s)
		require.NoError(t, err)
		ms = append(ms, m)
	}
	return ms
}

func TestAlertmanagerSilenceAndExpire(t *testing.T) {
	base := amtest.Start(t, "")
	am, err := NewAlertmanager(config.Alertmanager{URL: base, Matchers: mustMatchers(t, `cluster="production"`, `alertname=~"Node.*|Slurm.*"`)})
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	w := Window{Start: now.Add(-time.Minute), End: now.Add(2 * time.Hour)}

	ids, err := am.Silence(ctx, "promotion-r1/silence", w, "outage of release r1\napproved by alice")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.Regexp(t, `^alertmanager:[0-9a-f-]{36}$`, ids[0])

	ss := amtest.Silences(t, base)
	require.Len(t, ss, 1)
	s := ss[0]
	require.Equal(t, "active", s.Status.State)
	require.Equal(t, "osflow", s.CreatedBy)
	require.Equal(t, "outage of release r1 approved by alice [osflow:promotion-r1/silence]", s.Comment)
	require.ElementsMatch(t, []amtest.Matcher{
		{Name: "cluster", Value: "production", IsEqual: true},
		{Name: "alertname", Value: "Node.*|Slurm.*", IsRegex: true, IsEqual: true},
	}, s.Matchers)
	require.WithinDuration(t, w.End, s.EndsAt, time.Second)

	// A retry (another worker, after a crash) finds it: no second silence.
	again, err := am.Silence(ctx, "promotion-r1/silence", w, "outage of release r1")
	require.NoError(t, err)
	require.Equal(t, ids, again)
	require.Len(t, amtest.Silences(t, base), 1)

	// Another key is another silence, and is left alone by Expire.
	other, err := am.Silence(ctx, "promotion-r2/silence", w, "other")
	require.NoError(t, err)
	require.NotEqual(t, ids, other)

	ended, err := am.Expire(ctx, "promotion-r1/silence")
	require.NoError(t, err)
	require.Equal(t, Expired{Ended: ids}, ended)
	ended, err = am.Expire(ctx, "promotion-r1/silence")
	require.NoError(t, err, "expire is idempotent")
	require.Equal(t, Expired{Ended: ids}, ended, "a retry still reports it ended")
	require.Equal(t, "1 of 1 silences ended", ended.Summary(ids))
	states := map[string]string{}
	for _, s := range amtest.Silences(t, base) {
		states["alertmanager:"+s.ID] = s.Status.State
	}
	require.Equal(t, map[string]string{ids[0]: "expired", other[0]: "active"}, states)

	// The key names one silencing: it is not made again after expiry.
	after, err := am.Silence(ctx, "promotion-r1/silence", w, "outage of release r1")
	require.NoError(t, err)
	require.Equal(t, ids, after)
	require.Len(t, amtest.Silences(t, base), 2)

	none, err := am.Expire(ctx, "never-silenced")
	require.NoError(t, err, "expiring nothing is not an error")
	require.Equal(t, Expired{}, none)
}

func TestAlertmanagerPendingWindow(t *testing.T) {
	base := amtest.Start(t, "")
	am, err := NewAlertmanager(config.Alertmanager{URL: base, Matchers: mustMatchers(t, `cluster="production"`)})
	require.NoError(t, err)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	_, err = am.Silence(context.Background(), "k", Window{Start: start, End: start.Add(4 * time.Hour)}, "tomorrow")
	require.NoError(t, err)
	ss := amtest.Silences(t, base)
	require.Equal(t, "pending", ss[0].Status.State)
	require.True(t, ss[0].StartsAt.Equal(start), "%s", ss[0].StartsAt)
	ended, err := am.Expire(context.Background(), "k")
	require.NoError(t, err)
	require.Equal(t, []string{"alertmanager:" + ss[0].ID}, ended.Ended)
	require.Equal(t, "expired", amtest.Silences(t, base)[0].Status.State)
}

func TestAlertmanagerErrors(t *testing.T) {
	base := amtest.Start(t, "basic_auth_users:\n  osflow: $2a$04$9KKdzu.Bc9TyjmEbP8.GSuWz4uTDUY470l.l23REkMhiQoL08r2bu\n")
	ctx := context.Background()
	w := Window{Start: time.Now(), End: time.Now().Add(time.Hour)}
	cfg := func(edit func(*config.Alertmanager)) *Alertmanager {
		c := config.Alertmanager{URL: base, Matchers: mustMatchers(t, `cluster="production"`), User: "osflow", PasswordEnv: "TEST_AM_PASSWORD"}
		edit(&c)
		am, err := NewAlertmanager(c)
		require.NoError(t, err)
		return am
	}
	t.Setenv("TEST_AM_PASSWORD", "am-test-password")

	t.Run("right password", func(t *testing.T) {
		ids, err := cfg(func(*config.Alertmanager) {}).Silence(ctx, "auth-ok", w, "x")
		require.NoError(t, err)
		require.Len(t, ids, 1)
	})
	tests := []struct {
		name  string
		edit  func(*config.Alertmanager)
		w     Window
		key   string
		class error // nil: retryable
		want  string
	}{
		{"wrong password", func(c *config.Alertmanager) { c.PasswordEnv = "TEST_AM_WRONG" }, w, "k", failure.ErrAuth, "401 Unauthorized"},
		{"no password", func(c *config.Alertmanager) { c.PasswordEnv = "TEST_AM_UNSET" }, w, "k", failure.ErrAuth, "no password for osflow in $TEST_AM_UNSET"},
		{"not an alertmanager", func(c *config.Alertmanager) { c.URL = base + "nothing/here/" }, w, "k", failure.ErrNotFound, "v2 API"},
		{"window in the past", func(*config.Alertmanager) {}, Window{Start: time.Now().Add(-2 * time.Hour), End: time.Now().Add(-time.Hour)}, "k", failure.ErrInvalid, "in the past"},
		{"window backwards", func(*config.Alertmanager) {}, Window{Start: time.Now().Add(2 * time.Hour), End: time.Now().Add(time.Hour)}, "k", failure.ErrInvalid, "before it starts"},
		{"bad key", func(*config.Alertmanager) {}, w, "two words", failure.ErrInvalid, "operation key"},
		{"matcher refused by alertmanager", func(c *config.Alertmanager) { c.Matchers = []config.Matcher{{Name: "cluster", Value: "", Equal: true}} }, w, "k", failure.ErrInvalid, "400 Bad Request"},
		{"unreachable", func(c *config.Alertmanager) { c.URL = "http://127.0.0.1:1/" }, w, "k", nil, "connection refused"},
	}
	t.Setenv("TEST_AM_WRONG", "guess")
	t.Setenv("TEST_AM_UNSET", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cfg(tt.edit).Silence(ctx, tt.key, tt.w, "x")
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "am-test-password")
			if tt.class != nil {
				require.ErrorIs(t, err, tt.class)
				require.False(t, failure.IsRetryable(err))
			} else {
				require.True(t, failure.IsRetryable(err), "%v", err)
			}
		})
	}
}
