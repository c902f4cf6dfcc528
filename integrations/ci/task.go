package ci

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Task is one command of an outage plan, run on this host with the same
// runner as a command suite: no shell, its own process group killed with
// it, a bounded wait for its output pipes, and only the whitelisted part
// of the worker's environment (see childEnv) plus Env.
type Task struct {
	Name    string
	Argv    []string
	Dir     string
	Timeout time.Duration // zero: no limit beyond ctx
	Env     []string      // extra "KEY=VALUE" entries
}

// TaskRun is a task's measured run and the tail of its output.
type TaskRun struct {
	Duration time.Duration
	Output   string
	State    string // "exit status 0", "signal: killed"
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
