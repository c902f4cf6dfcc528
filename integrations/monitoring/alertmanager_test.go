package monitoring

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/integrations/failure"
	"github.com/osflow/osflow/internal/testtool"
)

// startAlertmanager runs Debian's prometheus-alertmanager on a free
// loopback port, with its storage in a temp dir and clustering off, and
// returns its base URL. webConfig, when set, is its web.config.file.
func startAlertmanager(t *testing.T, webConfig string) string {
	t.Helper()
	testtool.Need(t, "prometheus-alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o644))
	args := []string{
		"--config.file=" + cfg,
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0",
		"--cluster.listen-address=", // no gossip port, no peers
	}
	if webConfig != "" {
		wc := filepath.Join(dir, "web.yml")
		require.NoError(t, os.WriteFile(wc, []byte(webConfig), 0o644))
		args = append(args, "--web.config.file="+wc)
	}
	cmd := exec.Command("prometheus-alertmanager", args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// It logs the port it got: `msg="Listening on" address=127.0.0.1:PORT`.
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a + "/"
	case <-time.After(30 * time.Second):
		t.Fatal("alertmanager did not say where it listens within 30s")
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
	}, 30*time.Second, 50*time.Millisecond)
	return base
}

func mustMatchers(t *testing.T, ss ...string) []config.Matcher {
	var ms []config.Matcher
	for _, s := range ss {
		m, err := config.ParseMatcher(s)
		require.NoError(t, err)
		ms = append(ms, m)
	}
	return ms
}

// listSilences reads the silences straight from the API, as an operator's
// amtool would.
func listSilences(t *testing.T, base string) []amSilence {
	resp, err := http.Get(base + "api/v2/silences")
	require.NoError(t, err)
	defer resp.Body.Close()
	var ss []amSilence
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ss))
	return ss
}

func TestAlertmanagerSilenceAndExpire(t *testing.T) {
	base := startAlertmanager(t, "")
	am, err := NewAlertmanager(config.Alertmanager{URL: base, Matchers: mustMatchers(t, `cluster="production"`, `alertname=~"Node.*|Slurm.*"`)})
	require.NoError(t, err)
	ctx := context.Background()
	now := time.Now()
	w := Window{Start: now.Add(-time.Minute), End: now.Add(2 * time.Hour)}

	ids, err := am.Silence(ctx, "promotion-r1/silence", w, "outage of release r1\napproved by alice")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.Regexp(t, `^alertmanager:[0-9a-f-]{36}$`, ids[0])

	ss := listSilences(t, base)
	require.Len(t, ss, 1)
	s := ss[0]
	require.Equal(t, "active", s.Status.State)
	require.Equal(t, "osflow", s.CreatedBy)
	require.Equal(t, "outage of release r1 approved by alice [osflow:promotion-r1/silence]", s.Comment)
	require.ElementsMatch(t, []amMatcher{
		{Name: "cluster", Value: "production", IsEqual: true},
		{Name: "alertname", Value: "Node.*|Slurm.*", IsRegex: true, IsEqual: true},
	}, s.Matchers)
	require.WithinDuration(t, w.End, s.EndsAt, time.Second)

	// A retry (another worker, after a crash) finds it: no second silence.
	again, err := am.Silence(ctx, "promotion-r1/silence", w, "outage of release r1")
	require.NoError(t, err)
	require.Equal(t, ids, again)
	require.Len(t, listSilences(t, base), 1)

	// Another key is another silence, and is left alone by Expire.
	other, err := am.Silence(ctx, "promotion-r2/silence", w, "other")
	require.NoError(t, err)
	require.NotEqual(t, ids, other)

	require.NoError(t, am.Expire(ctx, "promotion-r1/silence"))
	require.NoError(t, am.Expire(ctx, "promotion-r1/silence"), "expire is idempotent")
	states := map[string]string{}
	for _, s := range listSilences(t, base) {
		states["alertmanager:"+s.ID] = s.Status.State
	}
	require.Equal(t, map[string]string{ids[0]: "expired", other[0]: "active"}, states)

	// The key names one silencing: it is not made again after expiry.
	after, err := am.Silence(ctx, "promotion-r1/silence", w, "outage of release r1")
	require.NoError(t, err)
	require.Equal(t, ids, after)
	require.Len(t, listSilences(t, base), 2)

	require.NoError(t, am.Expire(ctx, "never-silenced"), "expiring nothing is not an error")
}

func TestAlertmanagerPendingWindow(t *testing.T) {
	base := startAlertmanager(t, "")
	am, err := NewAlertmanager(config.Alertmanager{URL: base, Matchers: mustMatchers(t, `cluster="production"`)})
	require.NoError(t, err)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	_, err = am.Silence(context.Background(), "k", Window{Start: start, End: start.Add(4 * time.Hour)}, "tomorrow")
	require.NoError(t, err)
	ss := listSilences(t, base)
	require.Equal(t, "pending", ss[0].Status.State)
	require.True(t, ss[0].StartsAt.Equal(start), "%s", ss[0].StartsAt)
	require.NoError(t, am.Expire(context.Background(), "k"))
	require.Equal(t, "expired", listSilences(t, base)[0].Status.State)
}

func TestAlertmanagerErrors(t *testing.T) {
	base := startAlertmanager(t, "basic_auth_users:\n  osflow: $2a$04$9KKdzu.Bc9TyjmEbP8.GSuWz4uTDUY470l.l23REkMhiQoL08r2bu\n")
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
