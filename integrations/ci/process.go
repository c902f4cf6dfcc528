package ci

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	// tailSize is how much of a process's output is kept: enough for the
	// end of a traceback or dnf's problem report, small enough to go into a
	// ticket and a Temporal payload.
	tailSize = 4 << 10
	// waitDelay bounds how long we wait for output pipes after the process
	// exited or was killed: a daemon that a test started may hold them open.
	waitDelay = 5 * time.Second
)

// process is one program to run, without a shell.
type process struct {
	argv []string
	dir  string
	env  []string
	// stdoutMax is how much of stdout to keep, from the end; zero means
	// tailSize. A caller that parses stdout raises it.
	stdoutMax int
}

// exited is how a process ended, with the tails of its output.
type exited struct {
	code   int    // -1 when killed by a signal
	state  string // "exit status 1", "signal: segmentation fault"
	stdout string
	stderr string
	// stdoutCut is set when stdout was longer than process.stdoutMax.
	stdoutCut bool
}

// output returns the tail of stderr, or of stdout when stderr is empty:
// what to show a human about why the process failed.
func (e exited) output() string {
	if e.stderr != "" {
		return e.stderr
	}
	return e.stdout
}

// errTimedOut is the cause of a suite's own timeout, telling it apart from
// the caller's cancellation or deadline.
var errTimedOut = errors.New("timed out")

// withTimeout bounds ctx by a suite's timeout; zero means no bound beyond ctx.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("%w after %s", errTimedOut, d))
}

// ctxError explains why ctx ended while doing what. The suite's own timeout
// is a broken run (partial output is no result); the caller's cancellation
// or deadline is returned as is, since the caller asked to stop.
func ctxError(ctx context.Context, what string) error {
	if cause := context.Cause(ctx); errors.Is(cause, errTimedOut) {
		return fmt.Errorf("%w: %s: %w", ErrBroken, what, cause)
	}
	return fmt.Errorf("%s: %w", what, ctx.Err())
}

// execute runs p in its own process group and waits for it. A non-zero exit
// is not an error here: what it means depends on the program. The error is
// for a process that could not start, and for ctx ending (see ctxError),
// in which case the whole group is killed: test commands start helpers,
// and dnf runs rpm, which must not outlive the run.
func execute(ctx context.Context, p process) (exited, error) {
	what := strings.Join(p.argv, " ")
	if len(p.argv) == 0 || p.argv[0] == "" {
		return exited{}, fmt.Errorf("%w: empty argv", ErrConfig)
	}
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.Dir, cmd.Env = p.dir, p.env
	stdout, stderr := &tail{max: cmp.Or(p.stdoutMax, tailSize)}, &tail{max: tailSize}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay

	if err := cmd.Start(); err != nil {
		if p.dir != "" {
			// A missing Dir reads as a missing program otherwise.
			what += " in " + p.dir
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return exited{}, fmt.Errorf("%w: run %s: %w", ErrConfig, what, err)
		}
		return exited{}, fmt.Errorf("run %s: %w", what, err)
	}
	err := cmd.Wait()
	// Whatever the leader left running in its group goes with it. Linux
	// does not reuse a pid while it names a live group, so this reaches
	// no other process group unless the pids wrapped around meanwhile.
	_ = killGroup(cmd.Process.Pid)
	res := exited{stdout: stdout.String(), stderr: stderr.String(), stdoutCut: stdout.truncated}
	if ctx.Err() != nil {
		return res, ctxError(ctx, what)
	}
	res.code, res.state = cmd.ProcessState.ExitCode(), cmd.ProcessState.String()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		// Copying output failed, or a child held the pipes past waitDelay.
		return res, fmt.Errorf("%w: run %s: %w", ErrBroken, what, err)
	}
	return res, nil
}

// killGroup kills the process group led by pid. A group that is already
// gone is not an error.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// childEnv returns the environment of a process that a suite starts: a few
// variables inherited from the worker, then extra ("KEY=VALUE", later
// entries win). The worker's environment also holds API tokens (trackers,
// Jenkins) that a test process has no business reading, so only what
// programs need in order to run and reach the network is inherited.
func childEnv(extra ...string) []string {
	var env []string
	for _, k := range []string{
		"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
		"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
	} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// tail keeps the last max bytes written to it.
type tail struct {
	max       int
	b         []byte
	truncated bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.truncated = true
		// Compact only once the buffer is twice the limit, so a stream of
		// small writes does not copy max bytes each time.
		if len(t.b) > 2*t.max {
			t.b = t.b[:copy(t.b, t.b[len(t.b)-t.max:])]
		}
	}
	return len(p), nil
}

// String returns the kept bytes as valid UTF-8, marked when earlier output
// was dropped.
func (t *tail) String() string {
	b := t.b
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), ""))
	if t.truncated && s != "" {
		s = "[…] " + s
	}
	return s
}
