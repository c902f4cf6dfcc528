package ci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testTarget is a channel for suites that do not fetch from it.
var testTarget = Target{Channel: "testing", Release: "r-20260101", BaseURL: "http://repo.example/testing/", Repos: []string{"baseos", "overlay"}}

// shell is a Command running script with sh; $1 is arg.
func shell(script string, arg ...string) Command {
	return Command{SuiteName: "smoke", Argv: append([]string{"sh", "-c", script, "sh"}, arg...)}
}

const (
	passingJUnit = `cat > "$OSFLOW_JUNIT" <<'X'
<testsuite><testcase classname="smoke" name="boot"/><testcase name="login"/></testsuite>
X
`
	failingJUnit = `cat > "$OSFLOW_JUNIT" <<'X'
<testsuite><testcase name="boot"/><testcase name="mount"><failure message="/home not mounted"/></testcase></testsuite>
X
`
)

func TestCommandResults(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		wantCases  []Case
		wantFailed int
	}{
		{"passes", passingJUnit, []Case{
			{Suite: "smoke", Name: "smoke.boot", Status: Passed},
			{Suite: "smoke", Name: "login", Status: Passed},
		}, 0},
		{"test failures exit non-zero", failingJUnit + "exit 1", []Case{
			{Suite: "smoke", Name: "boot", Status: Passed},
			{Suite: "smoke", Name: "mount", Status: Failed, Message: "/home not mounted"},
		}, 1},
		{"test failures exit zero", failingJUnit, []Case{
			{Suite: "smoke", Name: "boot", Status: Passed},
			{Suite: "smoke", Name: "mount", Status: Failed, Message: "/home not mounted"},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := shell(tt.script).Run(t.Context(), testTarget)
			require.NoError(t, err)
			require.Equal(t, "smoke", r.Suite)
			require.Equal(t, tt.wantCases, r.Cases)
			require.Len(t, r.Failed(), tt.wantFailed)
		})
	}
}

func TestCommandBroken(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string
	}{
		{"crash without JUnit", `echo "Traceback: conftest.py exploded" >&2; exit 2`,
			[]string{"wrote no JUnit report", "exit status 2", "conftest.py exploded"}},
		{"success without JUnit", `echo done`, []string{"wrote no JUnit report", "exit status 0", "done"}},
		{"invalid JUnit", `echo "<html>" > "$OSFLOW_JUNIT"; echo oops >&2; exit 1`, []string{"junit: ", "oops"}},
		{"failure no case explains", passingJUnit + "echo teardown failed >&2; exit 3",
			[]string{"no failed case", "exit status 3", "teardown failed"}},
		{"killed by a signal", `kill -SEGV $$`, []string{"wrote no JUnit report", "segmentation fault"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shell(tt.script).Run(t.Context(), testTarget)
			require.ErrorIs(t, err, ErrBroken)
			require.NotErrorIs(t, err, ErrConfig)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestCommandKeepsTailOfStderr(t *testing.T) {
	_, err := shell(`head -c 100000 /dev/zero | tr '\0' x >&2; echo; echo THE-END >&2; exit 1`).Run(t.Context(), testTarget)
	require.ErrorIs(t, err, ErrBroken)
	require.ErrorContains(t, err, "THE-END")
	require.Less(t, len(err.Error()), tailSize+512)
}

func TestCommandEnvironment(t *testing.T) {
	t.Setenv("OSFLOW_TEST_SECRET", "hunter2") // in the worker's env, like a tracker token
	dir := t.TempDir()
	c := shell(`cat > "$OSFLOW_JUNIT" <<X
<testsuite><testcase name="env" classname="$OSFLOW_CHANNEL|$OSFLOW_RELEASE|$OSFLOW_CHANNEL_URL|$OSFLOW_REPOS|$EXTRA|${OSFLOW_TEST_SECRET:-unset}|$(pwd)|$(dirname "$OSFLOW_JUNIT" | xargs ls -A | wc -l)"/></testsuite>
X
`)
	c.Dir = dir
	c.Env = []string{"EXTRA=yes", "OSFLOW_CHANNEL=production"} // cannot redirect the suite
	r, err := c.Run(t.Context(), testTarget)
	require.NoError(t, err)
	require.Equal(t, "testing|r-20260101|http://repo.example/testing/|baseos,overlay|yes|unset|"+dir+"|1.env", r.Cases[0].Name)
}

func TestCommandConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Command
		want string
	}{
		{"no name", Command{Argv: []string{"true"}}, "without a name"},
		{"empty argv", Command{SuiteName: "s"}, "empty argv"},
		{"unknown program", Command{SuiteName: "s", Argv: []string{"osflow-no-such-program"}}, "executable file not found"},
		{"missing dir", Command{SuiteName: "s", Argv: []string{"true"}, Dir: "/nonexistent/osflow"}, "/nonexistent/osflow"},
		{"bad env", Command{SuiteName: "s", Argv: []string{"true"}, Env: []string{"NOEQUALS"}}, "not KEY=VALUE"},
		{"bad target", Command{SuiteName: "s", Argv: []string{"true"}}, "no repos"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testTarget
			if tt.name == "bad target" {
				target.Repos = nil
			}
			_, err := tt.c.Run(t.Context(), target)
			require.ErrorIs(t, err, ErrConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestCommandTimeoutKillsProcessGroup: a suite that hangs is a broken run,
// and what it started in the background dies with it.
func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := shell(`sleep 300 & echo $! > "$1"; echo waiting for the daemon >&2; wait`, pidFile)
	c.Timeout = time.Second
	start := time.Now()
	_, err := c.Run(t.Context(), testTarget)
	require.ErrorIs(t, err, ErrBroken)
	require.ErrorContains(t, err, "timed out after 1s")
	require.ErrorContains(t, err, "waiting for the daemon")
	require.Less(t, time.Since(start), waitDelay, "Run waited for the orphan's pipes")
	pid, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	requireGone(t, string(pid))
}

// TestCommandCancelled: the caller's cancellation is not a broken run.
func TestCommandCancelled(t *testing.T) {
	// The script reports its child's pid through a FIFO, which also tells
	// us, without polling, that it is running.
	fifo := filepath.Join(t.TempDir(), "pid")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	ctx, cancel := context.WithCancel(t.Context())
	pid := make(chan string, 1)
	go func() {
		defer cancel()
		data, _ := os.ReadFile(fifo)
		pid <- string(data)
	}()
	_, err := shell(`sleep 300 & echo $! > "$1"; wait`, fifo).Run(ctx, testTarget)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrBroken)
	requireGone(t, <-pid)
}

// requireGone checks that the process with pid pidText has ended
// (a zombie waiting for init to reap it counts as ended).
func requireGone(t *testing.T, pidText string) {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(pidText))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return true
		}
		// "pid (comm) S ...": the state follows the last ')'.
		s := string(stat)
		return err == nil && strings.HasPrefix(strings.TrimSpace(s[strings.LastIndex(s, ")")+1:]), "Z")
	}, 5*time.Second, 10*time.Millisecond)
}

func TestTail(t *testing.T) {
	tl := &tail{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnopqrstuvwxyz", "0", "12"} {
		_, err := tl.Write([]byte(s))
		require.NoError(t, err)
	}
	require.Equal(t, "[…] vwxyz012", tl.String())
	require.LessOrEqual(t, len(tl.b), 2*tl.max)

	short := &tail{max: 8}
	short.Write([]byte("  ok \n"))
	require.Equal(t, "ok", short.String())
}
