package ci

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedTask appends a line to side when it begins, then waits for gate to
// exist and exits with code: a task whose side effect shows whether it ran
// twice, and whose end the test decides.
func gatedTask(t *testing.T, code int) (task detachedTask, side, gate string) {
	dir := t.TempDir()
	side, gate = filepath.Join(dir, "side"), filepath.Join(dir, "gate")
	script := `echo began >>"$1"; while [ ! -e "$2" ]; do sleep 0.05; done; echo "the end"; exit ` + strconv.Itoa(code)
	return detachedTask{Task{Name: "drain", Argv: []string{"sh", "-c", script, "sh", side, gate}}, Detach{
		RunDir: filepath.Join(dir, "run"), Poll: 20 * time.Millisecond,
		Kill: func(error) bool { return false }, // a worker stopping, not a cancellation
	}}, side, gate
}

// detachedTask is a task with its run directory, as an activity has it.
type detachedTask struct {
	Task
	Detach
}

func (d detachedTask) Run(ctx context.Context) (TaskRun, error) {
	return d.Task.RunDetached(ctx, d.Detach)
}

func lines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}

// runAsync runs task.Run in a goroutine, as an activity attempt would.
func runAsync(ctx context.Context, task detachedTask) <-chan TaskRun {
	done := make(chan TaskRun, 1)
	go func() {
		run, _ := task.Run(ctx)
		done <- run
	}()
	return done
}

// A worker that stops mid-task leaves the run going; the next attempts
// attach to it, and the last one gets its real exit status and duration.
// The command ran once.
func TestTaskOutlivesWorkerRestarts(t *testing.T) {
	for _, code := range []int{0, 3} {
		t.Run("exit "+strconv.Itoa(code), func(t *testing.T) {
			task, side, gate := gatedTask(t, code)
			begin := time.Now()

			// First worker: starts the run, then stops.
			ctx, stop := context.WithCancel(t.Context())
			first := runAsync(ctx, task)
			require.Eventually(t, func() bool { return lines(t, side) == 1 }, 10*time.Second, 10*time.Millisecond)
			stop()
			require.True(t, (<-first).Started)

			// Second worker: attaches, then stops too.
			ctx, stop = context.WithCancel(t.Context())
			stop()
			run, err := task.Run(ctx)
			require.ErrorIs(t, err, context.Canceled)
			require.False(t, run.Started)

			// Third worker: attaches and sees the end.
			third := make(chan error, 1)
			var got TaskRun
			go func() {
				var err error
				got, err = task.Run(t.Context())
				third <- err
			}()
			require.NoError(t, os.WriteFile(gate, nil, 0o644))
			err = <-third
			elapsed := time.Since(begin)

			require.False(t, got.Started)
			require.Equal(t, 1, lines(t, side), "the command ran once")
			require.Equal(t, "exit status "+strconv.Itoa(code), got.State)
			require.Equal(t, "the end", got.Output)
			require.Positive(t, got.Duration)
			require.LessOrEqual(t, got.Duration, elapsed)
			if code == 0 {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrBroken)
				require.ErrorContains(t, err, "exit status 3")
			}

			// A run that ended is only read again.
			again, err2 := task.Run(t.Context())
			require.Equal(t, err == nil, err2 == nil)
			require.Equal(t, got.Duration, again.Duration)
			require.Equal(t, 1, lines(t, side))
		})
	}
}

// A cancelled task is killed with its process group, and stays killed.
func TestTaskCancelKillsGroup(t *testing.T) {
	task, side, _ := gatedTask(t, 0)
	helper := filepath.Join(t.TempDir(), "helper.pid")
	task.Argv = []string{"sh", "-c", `sleep 300 & echo $! >"$3"; echo began >>"$1"; while [ ! -e "$2" ]; do sleep 0.05; done`,
		"sh", task.Argv[4], task.Argv[5], helper}
	task.Detach.Kill = nil

	ctx, cancel := context.WithCancel(t.Context())
	done := runAsync(ctx, task)
	require.Eventually(t, func() bool { return lines(t, side) == 1 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.Equal(t, "killed: cancelled", (<-done).State)

	pid, err := readInt(helper)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond, "the task's helper outlived it")

	run, err := task.Run(t.Context())
	require.ErrorIs(t, err, ErrBroken)
	require.Contains(t, run.State, "killed: cancelled")
	require.Equal(t, 1, lines(t, side), "a killed run is not started again")
}

func TestTaskTimeout(t *testing.T) {
	task, side, _ := gatedTask(t, 0)
	task.Timeout = 300 * time.Millisecond
	run, err := task.Run(t.Context())
	require.ErrorIs(t, err, ErrBroken)
	require.Equal(t, "killed: timed out after 300ms", run.State)
	// The duration is read from the run files' mtimes: from when the
	// wrapper wrote its pid, a moment after the timeout's clock began, to
	// the kill, each stamped at the kernel's tick. So it may fall a few
	// milliseconds short of the timeout (296 ms seen under load).
	require.GreaterOrEqual(t, run.Duration, task.Timeout-50*time.Millisecond)
	require.Less(t, run.Duration, 10*time.Second)
	require.Equal(t, 1, lines(t, side))
}

func TestTaskBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, task := range []detachedTask{
		{Task{Name: "x", Argv: []string{"/no/such/program"}}, Detach{RunDir: dir}},
		{Task{Name: "x", Argv: nil}, Detach{RunDir: dir}},
		{Task{Name: "x", Argv: []string{"true"}}, Detach{}},
		{Task{Name: "x", Argv: []string{"true"}, Env: []string{"NOEQUALS"}}, Detach{RunDir: dir}},
		{Task{Name: "x", Argv: []string{"true"}, Dir: filepath.Join(dir, "missing")}, Detach{RunDir: dir}},
	} {
		_, err := task.Run(t.Context())
		require.ErrorIs(t, err, ErrConfig, "%+v", task)
	}
	_, err := os.Stat(filepath.Join(dir, "pid"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing began")
}

// A wrapper that cannot record its start fails the run; the command did
// not run.
func TestTaskWrapperFails(t *testing.T) {
	task, side, _ := gatedTask(t, 0)
	require.NoError(t, os.MkdirAll(filepath.Join(task.RunDir, "pid.tmp"), 0o755))
	run, err := task.Run(t.Context())
	require.ErrorIs(t, err, ErrBroken)
	require.Equal(t, "ended before it began", run.State)
	require.Contains(t, run.Output, "pid.tmp")
	require.Zero(t, lines(t, side))
}

// A recorded pid that now names another process (its start time differs)
// is not killed.
func TestTaskKillChecksStartTime(t *testing.T) {
	other := exec.Command("sleep", "300")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, other.Start())
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	start, err := procStart(other.Process.Pid)
	require.NoError(t, err)

	r, err := openRun(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, writeAtomic(r.path("proc"), strconv.Itoa(other.Process.Pid)+" "+strconv.FormatUint(start+1, 10)))
	require.NoError(t, r.kill("cancelled"))
	require.True(t, alive(other.Process.Pid), "a reused pid was killed")

	require.NoError(t, writeAtomic(r.path("proc"), strconv.Itoa(other.Process.Pid)+" "+strconv.FormatUint(start, 10)))
	require.NoError(t, r.kill("cancelled"))
	require.Error(t, other.Wait())
}

func TestRunDir(t *testing.T) {
	a := RunDir("/s", "promotion-r1/9f3c/12")
	require.Equal(t, "/s", filepath.Dir(a))
	require.True(t, strings.HasPrefix(filepath.Base(a), "promotion-r1_9f3c_12-"))
	require.NotEqual(t, a, RunDir("/s", "promotion-r1_9f3c_12"), "keys that sanitize alike get their own directories")
}

// alive says whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}
