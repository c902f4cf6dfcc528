// Package amtest runs Debian's prometheus-alertmanager for tests, the unit
// tests of package monitoring and the end-to-end tests of a promotion
// alike.
package amtest

import (
	"bufio"
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

	"github.com/osflow/osflow/internal/testtool"
)

// Start runs prometheus-alertmanager on a free loopback port, with its
// storage in a temp dir and clustering off, until the test ends, and
// returns its base URL ("http://127.0.0.1:PORT/"). webConfig, when set, is
// its web.config.file (basic_auth_users, TLS).
func Start(t testing.TB, webConfig string) string {
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
	// Its log, kept for a failed test: what it could not open or bind.
	logPath := filepath.Join(dir, "alertmanager.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	copied := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-copied
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("alertmanager log:\n%s", b)
		}
	})

	// It logs the port it got: `msg="Listening on" address=127.0.0.1:PORT`.
	addr := make(chan string, 1)
	go func() {
		defer close(copied)
		re := regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(io.TeeReader(stderr, logFile))
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(logFile, stderr)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a + "/"
	case <-copied:
		t.Fatal("alertmanager exited before it listened")
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

// Matcher and Silence are the API's matcher and gettableSilence.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	Status    struct {
		State string `json:"state"` // active, pending, expired
	} `json:"status"`
}

// Silences reads every silence of the Alertmanager at base (without
// credentials), as an operator's amtool would.
func Silences(t testing.TB, base string) []Silence {
	t.Helper()
	resp, err := http.Get(base + "api/v2/silences")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var ss []Silence
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ss))
	return ss
}
