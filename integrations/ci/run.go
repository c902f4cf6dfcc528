package ci

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A run directory holds one detached run of a command:
//
//	lock    flock(2) held by the wrapper shell, and so by nothing once it exited
//	pid     the wrapper's pid, written by the wrapper before the command; its
//	        mtime is the run's start, and its presence means the command began
//	proc    "pid starttime" from /proc/<pid>/stat, so that a kill never
//	        reaches a process that reused the pid
//	log     stdout and stderr
//	status  the exit code, renamed into place when the command exited
//	killed  why osflow killed the run, written before the kill
//
// The lock tells a live run from an ended one without trusting a pid: the
// wrapper inherits the locked file from the process that started it, and
// the lock lasts until the wrapper's last descriptor closes, at its exit.
// The command itself does not inherit it, so a daemon it leaves behind
// does not keep the run "alive".
type run struct{ dir string }

// wrapper runs the command ("$@") in its run directory ($1) and records
// its pid and exit status atomically; then it kills what the command left
// in its process group, as the synchronous runner does.
const wrapper = `d=$1; shift
echo $$ >"$d/pid.tmp" && mv -f "$d/pid.tmp" "$d/pid" || exit 125
"$@" 3>&-
echo $? >"$d/status.tmp" && mv -f "$d/status.tmp" "$d/status"
kill -s KILL 0`

// RunDir returns the run directory of the operation key under root: the
// key made safe for a file name, with a hash so that two keys never share
// a directory.
func RunDir(root, key string) string {
	sum := sha256.Sum256([]byte(key))
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, key)
	if len(safe) > 100 {
		safe = safe[:100]
	}
	return filepath.Join(root, safe+"-"+hex.EncodeToString(sum[:6]))
}

func openRun(dir string) (run, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return run{}, fmt.Errorf("run directory: %w", err)
	}
	return run{dir: dir}, nil
}

func (r run) path(name string) string { return filepath.Join(r.dir, name) }

// tryLock takes the run's lock if no process holds it. free is false
// while the wrapper lives. The caller closes lock to release it.
func (r run) tryLock() (lock *os.File, free bool, err error) {
	f, err := os.OpenFile(r.path("lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("run lock: %w", err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return f, true, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		f.Close()
		if _, err := os.Stat(r.path("proc")); errors.Is(err, fs.ErrNotExist) {
			// The process that started it died before recording it.
			r.recordProc()
		}
		return nil, false, nil
	default:
		f.Close()
		return nil, false, fmt.Errorf("run lock: %w", err)
	}
}

// start starts the wrapper in its own session, so that neither a signal
// to the worker's process group nor the worker's exit reaches it, handing
// it lock, which the caller holds.
func (r run) start(lock *os.File, argv []string, dir string, env []string) error {
	prog := argv[0]
	if dir != "" && strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		prog = filepath.Join(dir, prog)
	}
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%w: run %s: %w", ErrConfig, strings.Join(argv, " "), err)
	}
	log, err := os.OpenFile(r.path("log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("run log: %w", err)
	}
	defer log.Close()
	cmd := exec.Command("/bin/sh", append([]string{"-c", wrapper, "osflow-task", r.dir}, argv...)...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{lock} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", strings.Join(argv, " "), err)
	}
	// Not reaped yet, so /proc still shows this process even if it exited.
	if start, err := procStart(cmd.Process.Pid); err == nil {
		_ = writeAtomic(r.path("proc"), fmt.Sprintf("%d %d\n", cmd.Process.Pid, start))
	}
	go func() { _ = cmd.Wait() }() // reap; a later attach reads the outcome from the directory
	return nil
}

// recordProc records the live wrapper's pid and start time, for a run
// whose starter died before it could.
func (r run) recordProc() {
	pid, err := readInt(r.path("pid"))
	if err != nil {
		return
	}
	if start, err := procStart(pid); err == nil {
		_ = writeAtomic(r.path("proc"), fmt.Sprintf("%d %d\n", pid, start))
	}
}

// kill kills the run's process group, saying why first, unless the
// recorded process is gone: its pid may name another process by now.
func (r run) kill(reason string) error {
	if err := writeAtomic(r.path("killed"), reason+"\n"); err != nil {
		return fmt.Errorf("record kill: %w", err)
	}
	b, err := os.ReadFile(r.path("proc"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // never began
		}
		return err
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil || pid <= 1 {
		return fmt.Errorf("run record %s: %q", r.path("proc"), b)
	}
	if now, err := procStart(pid); err != nil || now != start {
		return nil // gone, or reused
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// began returns when the command began, if it did.
func (r run) began() (time.Time, bool) {
	fi, err := os.Stat(r.path("pid"))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// outcome is how an ended run ended.
type outcome struct {
	Code     int
	Killed   bool
	State    string
	Duration time.Duration
	Output   string
}

// outcome reads the outcome of a run whose wrapper is gone (the caller
// holds the lock); ok is false when the command never began.
func (r run) outcome() (o outcome, ok bool, err error) {
	began, ok := r.began()
	if !ok {
		return outcome{}, false, nil
	}
	o.Output = tailOf(r.path("log"), tailSize)
	if fi, err := os.Stat(r.path("status")); err == nil {
		code, err := readInt(r.path("status"))
		if err != nil {
			return o, true, fmt.Errorf("run status: %w", err)
		}
		o.Code, o.State, o.Duration = code, fmt.Sprintf("exit status %d", code), fi.ModTime().Sub(began)
		return o, true, nil
	}
	o.Killed, o.State = true, "ended without an exit status (killed, or the host restarted)"
	end := time.Now()
	if fi, err := os.Stat(r.path("killed")); err == nil {
		reason, _ := os.ReadFile(r.path("killed"))
		o.State, end = "killed: "+strings.TrimSpace(string(reason)), fi.ModTime()
	} else if fi, err := os.Stat(r.path("log")); err == nil {
		end = fi.ModTime()
	}
	o.Duration = end.Sub(began)
	return o, true, nil
}

// procStart is the start time of pid in clock ticks since boot, field 22
// of /proc/<pid>/stat; the command name before it may hold spaces and
// parentheses, so fields are counted from the last ')'.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func writeAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tailOf reads the last max bytes of a file, as tail.String shows them.
func tailOf(path string, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	t := &tail{max: max}
	if fi, err := f.Stat(); err == nil && fi.Size() > int64(max) {
		t.truncated = true
		if _, err := f.Seek(fi.Size()-int64(max), io.SeekStart); err != nil {
			return ""
		}
	}
	_, _ = io.Copy(t, f)
	return t.String()
}
