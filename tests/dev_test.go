package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/deploy/examples"
	"github.com/osflow/osflow/starter"
)

func freePort(t *testing.T) int {
	t.Helper()
	port, err := pickPort()
	require.NoError(t, err)
	return port
}

// devConfig writes the embedded dev configuration, with ports of its own
// so the test runs beside anything else on the machine, as dir/dev.yaml.
// It returns the name without a directory: osflow dev, run in dir, then
// resolves the relative paths against its working directory, exactly as
// for the embedded configuration under `make run`.
func devConfig(t *testing.T, dir string) string {
	t.Helper()
	up := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r := strings.NewReplacer(
		"127.0.0.1:9464", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"127.0.0.1:8080", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"127.0.0.1:8091", up,
		"  gitDir: .osflow/git", fmt.Sprintf("  gitDir: .osflow/git\n  uiPort: %d\n  temporalCLI: %s", freePort(t), mustAbs(t, "../bin/temporal")),
	)
	grpc := fmt.Sprintf("temporal:\n  address: 127.0.0.1:%d\n", freePort(t))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dev.yaml"), []byte(grpc+r.Replace(string(examples.DevConfig))), 0o644))
	return "dev.yaml"
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	require.NoError(t, err)
	return abs
}

// syncBuffer is written by the child's output copier and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startDev runs the real osflow binary's `dev` in dir and returns its
// output and a stop function that sends Ctrl-C (SIGINT) and waits for a
// clean exit.
func startDev(t *testing.T, bin, dir, cfg string) (out *syncBuffer, stop func() string) {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--config", cfg)
	cmd.Dir = dir
	out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	// A test that fails before it stops osflow dev must not leave it, and
	// the Temporal server it started, running.
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
			}
		}
	})
	return out, func() string {
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "osflow dev did not exit cleanly: %s", out.String())
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("osflow dev did not stop within a minute of Ctrl-C:\n%s", out.String())
		}
		return out.String()
	}
}

func devStatus(t *testing.T, bin, dir, cfg string) (starter.Status, error) {
	cmd := exec.Command(bin, "--config", cfg, "--json", "status")
	cmd.Dir = dir
	out, err := cmd.Output()
	var st starter.Status
	if jerr := json.Unmarshal(out, &st); jerr != nil {
		return st, fmt.Errorf("status: %v %v: %s", err, jerr, out)
	}
	return st, err
}

// TestDevRunsAndResumes is `make run` in miniature: osflow dev on its
// embedded configuration (relative paths) builds the upstream, completes a
// first DailySync, a test round, the rehearsal and the candidate, whose
// promotion waits; the README's quick-start commands work as written;
// Ctrl-C stops everything; a second start resumes.
func TestDevRunsAndResumes(t *testing.T) {
	dir := t.TempDir()
	bin, err := osflowBinary()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.Symlink(bin, filepath.Join(dir, "bin", "osflow")))
	cfg := devConfig(t, dir)

	out1, stop := startDev(t, bin, dir, cfg)
	st := waitStatus(t, bin, dir, cfg, out1, "a candidate and its promotion", func(st starter.Status) bool {
		return st.Cycle != nil && st.Cycle.Promoted != ""
	})
	var testing string
	for _, c := range st.Channels {
		if c.Channel == "testing" {
			testing = c.Release
		}
	}
	require.NotEmpty(t, testing)
	require.Equal(t, testing, st.Cycle.Promoted, "the candidate is what testing serves")
	require.Len(t, st.Recent, 1)
	require.Equal(t, "done", st.Recent[0].Phase)
	require.NotNil(t, st.NextSync, "the daily schedule exists")
	require.Empty(t, st.Cycle.LastError, "the candidate was assembled with the embedded, relative paths")
	page, err := exec.Command("git", "--git-dir", filepath.Join(dir, ".osflow/git/wiki.git"), "show", "master:Release-"+testing+".md").CombinedOutput()
	require.NoError(t, err, "%s", page)
	require.Contains(t, string(page), "drain-nodes")

	quick := runQuickStart(t, dir, cfg)
	require.Contains(t, quick, "hpc-base-tools-", "rpm -q in the quick start's install root: %s", quick)
	require.Contains(t, quick, "production serves "+testing, "the approval followed the outage to its end: %s", quick)
	require.Contains(t, quick, "approved by admin", "audit production: %s", quick)
	st, err = devStatus(t, bin, dir, cfg)
	require.NoError(t, err)
	for _, c := range st.Channels {
		if c.Channel == "production" {
			require.Equal(t, testing, c.Release, "production serves exactly the tested release")
		}
	}

	log := stop()
	require.Contains(t, log, "first DailySync done")

	st, err = devStatus(t, bin, dir, cfg)
	require.NoError(t, err)
	require.NotEmpty(t, st.Temporal, "after Ctrl-C the Temporal dev server is gone too")

	out2, stop := startDev(t, bin, dir, cfg)
	defer stop()
	st = waitStatus(t, bin, dir, cfg, out2, "the second start", func(st starter.Status) bool { return st.Cycle != nil })
	require.Len(t, st.Recent, 1, "no second DailySync: the state was resumed")
	for _, c := range st.Channels {
		if c.Channel == "testing" {
			require.Equal(t, testing, c.Release)
		}
	}
}

// runQuickStart runs the README's quick-start block as written, with bash
// in dir (where bin/osflow is), and returns its output.
func runQuickStart(t *testing.T, dir, cfg string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(readme), "<!-- quickstart:begin -->")
	require.True(t, ok, "README.md has no quick-start block")
	block, _, ok = strings.Cut(block, "<!-- quickstart:end -->")
	require.True(t, ok)
	_, block, ok = strings.Cut(block, "```sh\n")
	require.True(t, ok)
	block, _, _ = strings.Cut(block, "```")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OSFLOW_CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's quick start failed:\n%s\n%s", block, out)
	return string(out)
}

// waitStatus polls `osflow status --json` until cond holds.
func waitStatus(t *testing.T, bin, dir, cfg string, out *syncBuffer, what string, cond func(starter.Status) bool) starter.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st, err := devStatus(t, bin, dir, cfg)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			js, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("osflow dev never reached %s; last status %s (%v)\nosflow dev output:\n%s", what, js, err, out.String())
		}
		// Each poll runs a separate process that takes a while; there is no
		// event to wait on across processes.
		time.Sleep(500 * time.Millisecond)
	}
}
