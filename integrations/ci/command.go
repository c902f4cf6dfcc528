package ci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Command is a suite run by a local program that writes a JUnit XML report.
//
// The program (argv, no shell) learns what to test from its environment:
// OSFLOW_CHANNEL, OSFLOW_RELEASE, OSFLOW_CHANNEL_URL, OSFLOW_REPOS (comma
// list) and OSFLOW_JUNIT, the path where it must write its report, in a
// fresh directory. Besides Env it inherits only PATH, HOME, locale, TMPDIR
// and proxy variables from the worker (see childEnv).
//
// The report decides: a non-zero exit with a valid report is test failures.
// No report, an invalid one, or a non-zero exit whose report has no failed
// case is a broken run (ErrBroken), with the tail of stderr in the error.
type Command struct {
	SuiteName string
	Argv      []string
	Dir       string        // working directory; empty: the worker's
	Timeout   time.Duration // zero: no limit beyond ctx
	Env       []string      // extra "KEY=VALUE" entries
}

func (c Command) Name() string { return c.SuiteName }

// Run runs the program against t and reads its report.
func (c Command) Run(ctx context.Context, t Target) (Result, error) {
	if err := c.check(t); err != nil {
		return Result{}, err
	}
	dir, err := os.MkdirTemp("", "osflow-ci-")
	if err != nil {
		return Result{}, fmt.Errorf("suite %s: %w", c.SuiteName, err)
	}
	defer os.RemoveAll(dir)
	junit := filepath.Join(dir, "junit.xml")

	// OSFLOW_* come last so that Env cannot point the suite elsewhere.
	env := childEnv(c.Env...)
	for k, v := range t.env() {
		env = append(env, k+"="+v)
	}
	env = append(env, "OSFLOW_JUNIT="+junit)

	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	res, err := execute(ctx, process{argv: c.Argv, dir: c.Dir, env: env})
	if err != nil {
		return Result{}, fmt.Errorf("suite %s: %w%s", c.SuiteName, err, stderrNote(res))
	}

	broken := func(format string, args ...any) error {
		return fmt.Errorf("%w: suite %s: %s (%s)%s", ErrBroken, c.SuiteName, fmt.Sprintf(format, args...), res.state, stderrNote(res))
	}
	f, err := os.Open(junit)
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, broken("%s wrote no JUnit report", c.Argv[0])
	} else if err != nil {
		return Result{}, broken("%v", err)
	}
	defer f.Close()
	cases, err := ParseJUnit(f, c.SuiteName)
	if err != nil {
		return Result{}, broken("%v", err)
	}
	r := Result{Suite: c.SuiteName, Cases: cases}
	if res.code != 0 && len(r.Failed()) == 0 {
		// The program says something failed and no case says what: a
		// ticket could not name it, so this run tells nothing.
		return Result{}, broken("%s failed but its JUnit report has no failed case", c.Argv[0])
	}
	return r, nil
}

func (c Command) check(t Target) error {
	switch {
	case c.SuiteName == "":
		return fmt.Errorf("%w: command suite without a name", ErrConfig)
	case len(c.Argv) == 0 || c.Argv[0] == "":
		return fmt.Errorf("%w: suite %s: empty argv", ErrConfig, c.SuiteName)
	}
	for _, kv := range c.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("%w: suite %s: env entry %q is not KEY=VALUE", ErrConfig, c.SuiteName, kv)
		}
	}
	return t.validate()
}

// stderrNote formats the tail of a process's output for an error message.
func stderrNote(e exited) string {
	if out := e.output(); out != "" {
		return "; output:\n" + out
	}
	return ""
}
