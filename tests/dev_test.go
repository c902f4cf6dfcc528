package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// devConfig is the embedded dev configuration with ports of its own, so
// the test runs beside anything else on the machine.
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
	p := filepath.Join(dir, "dev.yaml")
	require.NoError(t, os.WriteFile(p, []byte(grpc+r.Replace(string(examples.DevConfig))), 0o644))
	return p
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
// embedded configuration builds the upstream, completes a first DailySync
// and a test round; Ctrl-C stops everything; a second start resumes.
func TestDevRunsAndResumes(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "osflow")
	build := exec.Command("go", "build", "-o", bin, "../cmd/osflow")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cfg := devConfig(t, dir)

	out1, stop := startDev(t, bin, dir, cfg)
	st := waitStatus(t, bin, dir, cfg, out1, "a first sync and test round", func(st starter.Status) bool {
		return st.Cycle != nil && st.Cycle.Rounds >= 1 && st.Cycle.Phase != "testing"
	})
	var testing string
	for _, c := range st.Channels {
		if c.Channel == "testing" {
			testing = c.Release
		}
	}
	require.NotEmpty(t, testing)
	require.Len(t, st.Recent, 1)
	require.Equal(t, "done", st.Recent[0].Phase)
	require.NotNil(t, st.NextSync, "the daily schedule exists")
	require.Empty(t, st.Cycle.LastError)
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

// waitStatus polls `osflow status --json` until cond holds.
func waitStatus(t *testing.T, bin, dir, cfg string, out *syncBuffer, what string, cond func(starter.Status) bool) starter.Status {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, err := devStatus(t, bin, dir, cfg)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("osflow dev never reached %s; last status %+v (%v)\nosflow dev output:\n%s", what, st, err, out.String())
		}
		// Each poll runs a separate process that takes a while; there is no
		// event to wait on across processes.
		time.Sleep(500 * time.Millisecond)
	}
}
