package ci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Task is one command of an outage plan or an inventory fact, run on
// this host: no shell of its own, only the whitelisted part of the
// worker's environment (see childEnv) plus Env, and its process group
// killed when it ends, times out or is cancelled.
type Task struct {
	Name    string
	Argv    []string
	Dir     string
	Timeout time.Duration // zero: no limit beyond ctx
	Env     []string      // extra "KEY=VALUE" entries
}

// Detach makes Task.RunDetached run the command as a process that
// outlives the caller: an outage task runs for hours, longer than a
// worker's stop timeout, and a worker deployed mid-outage must not kill
// it. RunDir holds the run (see run.go): a second RunDetached with the
// same RunDir, from a retried activity or a restarted worker, attaches to
// the first run and waits for it, or returns its recorded exit status; it
// never starts the command twice. The task's Timeout counts from the
// run's start, over every attach.
type Detach struct {
	// RunDir is the run's state directory, one per operation key.
	RunDir string
	// Kill says whether ctx ending with cause stops the run. When it says
	// no (a worker stopping), RunDetached returns and the run goes on for
	// a later call to attach to. Nil kills on every cause.
	Kill func(cause error) bool
	// Poll is how often a waiting call looks at the run; zero: 500ms.
	Poll time.Duration
}

// TaskRun is a task's measured run and the tail of its output.
type TaskRun struct {
	Duration time.Duration
	Output   string
	State    string // "exit status 0", "killed: timed out after 1h0m0s"
	// Started is set when this Run started the process, clear when it
	// attached to a run an earlier Run started.
	Started bool
}

// Run runs the task and measures it. A non-zero exit is an error wrapping
// ErrBroken, with the output's tail; the run's figures are returned too.
func (t Task) Run(ctx context.Context) (TaskRun, error) {
	ctx, cancel := withTimeout(ctx, t.Timeout)
	defer cancel()
	start := time.Now()
	res, err := execute(ctx, process{argv: t.Argv, dir: t.Dir, env: childEnv(t.Env...)})
	run := TaskRun{Duration: time.Since(start), Output: combined(res), State: res.state}
	if err != nil {
		return run, fmt.Errorf("outage task %s: %w%s", t.Name, err, stderrNote(res))
	}
	if res.code != 0 {
		return run, fmt.Errorf("%w: outage task %s (%s) failed after %s: %s\n%s", ErrBroken, t.Name,
			strings.Join(t.Argv, " "), run.Duration.Round(time.Millisecond), res.state, run.Output)
	}
	return run, nil
}

// combined is what a task printed, stdout then stderr, each a tail.
func combined(e exited) string {
	switch {
	case e.stdout == "":
		return e.stderr
	case e.stderr == "":
		return e.stdout
	}
	return e.stdout + "\n" + e.stderr
}

// RunDetached runs the task detached (see Detach), or attaches to its
// run, and waits for it. A non-zero exit is an error wrapping ErrBroken,
// with the output's tail (stdout and stderr as written); so is a run that
// was killed or ended without an exit status. The run's figures are
// returned with the error.
func (t Task) RunDetached(ctx context.Context, d Detach) (TaskRun, error) {
	if err := t.check(d); err != nil {
		return TaskRun{}, err
	}
	r, err := openRun(d.RunDir)
	if err != nil {
		return TaskRun{}, fmt.Errorf("outage task %s: %w", t.Name, err)
	}
	poll := d.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	started := false
	for {
		done, err := t.step(r, &started)
		if err != nil {
			return TaskRun{Started: started}, fmt.Errorf("outage task %s: %w", t.Name, err)
		}
		if done != nil {
			return t.result(*done, started)
		}
		if t.Timeout > 0 {
			if began, ok := r.began(); ok && time.Since(began) > t.Timeout {
				if err := r.kill(fmt.Sprintf("timed out after %s", t.Timeout)); err != nil {
					return TaskRun{Started: started}, fmt.Errorf("outage task %s: %w", t.Name, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return t.stop(ctx, d, r, started)
		case <-time.After(poll):
		}
	}
}

// step looks at the run once: it starts the command when nothing ever
// ran it, and returns the outcome once the run ended, or nil while it runs.
func (t Task) step(r run, started *bool) (*outcome, error) {
	lock, free, err := r.tryLock()
	if err != nil || !free {
		return nil, err // running
	}
	defer lock.Close()
	if o, ok, err := r.outcome(); err != nil || ok {
		return &o, err
	}
	if *started {
		// Ours ended before its wrapper wrote its pid: the command did not
		// run, but the run directory cannot record it.
		return &outcome{Killed: true, State: "ended before it began", Output: tailOf(r.path("log"), tailSize)}, nil
	}
	if err := r.start(lock, t.Argv, t.Dir, childEnv(t.Env...)); err != nil {
		return nil, err
	}
	*started = true
	return nil, nil
}

// stop handles ctx ending while the run goes on: killed when Kill says so,
// else left running for a later Run to attach to.
func (t Task) stop(ctx context.Context, d Detach, r run, started bool) (TaskRun, error) {
	cause := context.Cause(ctx)
	if d.Kill != nil && !d.Kill(cause) {
		return TaskRun{Started: started}, fmt.Errorf("outage task %s: left running in %s for the next attempt: %w", t.Name, r.dir, ctx.Err())
	}
	if err := r.kill(fmt.Sprintf("cancelled: %v", cause)); err != nil {
		return TaskRun{Started: started}, fmt.Errorf("outage task %s: %w", t.Name, err)
	}
	// The group dies at once; wait briefly so the state says so.
	deadline := time.Now().Add(waitDelay)
	for time.Now().Before(deadline) {
		if lock, free, err := r.tryLock(); err == nil && free {
			lock.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return TaskRun{Started: started, State: "killed: cancelled"}, fmt.Errorf("outage task %s: %w", t.Name, ctx.Err())
}

func (t Task) result(o outcome, started bool) (TaskRun, error) {
	run := TaskRun{Duration: o.Duration, Output: o.Output, State: o.State, Started: started}
	if o.Code != 0 || o.Killed {
		return run, fmt.Errorf("%w: outage task %s (%s) failed after %s: %s\n%s", ErrBroken, t.Name,
			strings.Join(t.Argv, " "), run.Duration.Round(time.Millisecond), run.State, run.Output)
	}
	return run, nil
}

func (t Task) check(d Detach) error {
	switch {
	case len(t.Argv) == 0 || t.Argv[0] == "":
		return fmt.Errorf("%w: outage task %s: empty argv", ErrConfig, t.Name)
	case d.RunDir == "":
		return fmt.Errorf("%w: outage task %s: no run directory", ErrConfig, t.Name)
	}
	for _, kv := range t.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("%w: outage task %s: env entry %q is not KEY=VALUE", ErrConfig, t.Name, kv)
		}
	}
	if t.Dir != "" {
		if fi, err := os.Stat(t.Dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("%w: outage task %s: working directory %s: %w", ErrConfig, t.Name, t.Dir, errors.Join(err, errNotDir(fi)))
		}
	}
	return nil
}

func errNotDir(fi os.FileInfo) error {
	if fi != nil && !fi.IsDir() {
		return errors.New("not a directory")
	}
	return nil
}
