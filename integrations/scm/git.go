package scm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// configArgs neutralise the user's global config (which we keep reading, so
// that the service account's credential.helper and url.*.insteadOf still
// apply) wherever a setting would change what our commands do, sign, run or
// print. Command-line -c beats every config file.
var configArgs = []string{
	"-c", "core.hooksPath=/dev/null", // no hook, ours or the user's, ever runs
	"-c", "core.autocrlf=false", // commits hold the bytes we were given
	"-c", "core.safecrlf=false",
	"-c", "core.fsmonitor=false",
	"-c", "commit.gpgSign=false", // signing needs a key and may prompt
	"-c", "push.gpgSign=false",
	"-c", "push.followTags=false", // push exactly the one ref we name
	"-c", "push.recurseSubmodules=no",
	"-c", "submodule.recurse=false",
	"-c", "fetch.recurseSubmodules=false",
	"-c", "merge.verifySignatures=false",
	"-c", "merge.log=false", // the merge message is the caller's
	"-c", "rerere.enabled=false", // never replay a recorded conflict resolution
	"-c", "revert.reference=false",
	"-c", "log.showSignature=false",
	"-c", "diff.noprefix=false", // patches keep their a/ b/ prefixes
	"-c", "diff.mnemonicPrefix=false",
	"-c", "diff.relative=false",
	"-c", "color.ui=false",
	"-c", "gc.autoDetach=false", // auto-gc finishes while we hold the cache lock
	"-c", "init.defaultBranch=main",
	"-c", "advice.detachedHead=false",
}

// strippedEnv are inherited variables that would point git at another
// repository or index than the one we name with -C.
var strippedEnv = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true,
	"GIT_COMMON_DIR": true, "GIT_OBJECT_DIRECTORY": true,
	"GIT_ALTERNATE_OBJECT_DIRECTORIES": true, "GIT_NAMESPACE": true,
	"GIT_CONFIG_PARAMETERS": true, "GIT_PREFIX": true,
}

// gitEnv is the environment of every git we run: the process environment
// (HOME included, so ssh keys and credential helpers work) minus the
// repository-locating variables, then Repo.Env, then what must hold whatever
// the caller set: no system config, no prompt, messages we can parse, and
// the identity of Author.
func gitEnv(extra []string, name, email string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strippedEnv[k] {
			env = append(env, kv)
		}
	}
	env = append(env, extra...)
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_EDITOR=true", // an editor that accepts the prepared message
		"GIT_MERGE_AUTOEDIT=no",
		"LC_ALL=C", "LANGUAGE=C", // classify() matches English messages
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email,
		"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email,
	)
}

// git runs commands in one working clone.
type git struct {
	dir        string // -C
	env        []string
	beforePush func()                   // Repo.beforePush
	crash      func(point string) error // Repo.Crash
}

// call is one git command line and where its streams go.
type call struct {
	args   []string
	stdin  []byte
	stdout io.Writer // nil: collected and returned
	env    []string  // added to git.env for this command only
}

// maxStderr bounds the stderr kept in an error: the end, where git puts
// the fatal line, is what matters.
const maxStderr = 4 << 10

func (g *git) exec(ctx context.Context, c call) (string, error) {
	argv := append(append([]string{}, configArgs...), "-C", g.dir)
	cmd := exec.CommandContext(ctx, "git", append(argv, c.args...)...)
	cmd.Env = slices.Concat(g.env, c.env)
	if c.stdin != nil {
		cmd.Stdin = bytes.NewReader(c.stdin) // else /dev/null: nothing to read a password from
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.stdout != nil {
		cmd.Stdout = c.stdout
	}
	// A new session has no controlling terminal, so neither git nor ssh can
	// open /dev/tty to ask for a password or a host key: a prompt fails at
	// once instead of hanging. Cancelling kills the whole process group,
	// ssh and remote helpers included.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return strings.TrimSpace(stdout.String()), nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("git %s: %w", showArgs(c.args), ctx.Err())
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > maxStderr {
		msg = "..." + msg[len(msg)-maxStderr:]
	}
	msg = redact(msg)
	return "", &gitError{args: showArgs(c.args), stderr: msg, kind: classify(c.args[0], msg), err: err}
}

// run runs a command that reads nothing and returns its trimmed stdout.
func (g *git) run(ctx context.Context, args ...string) (string, error) {
	return g.exec(ctx, call{args: args})
}

// check runs a query command that answers with exit status 0 (true) or 1
// (false); anything else is an error.
func (g *git) check(ctx context.Context, args ...string) (bool, error) {
	_, err := g.run(ctx, args...)
	if exitCode(err) == 1 {
		return false, nil
	}
	return err == nil, err
}

// gitError is a git command that failed. kind, when set, is ErrAuth,
// ErrNotFound or errRaced, for errors.Is.
type gitError struct {
	args   string
	stderr string
	kind   error
	err    error
}

func (e *gitError) Error() string {
	msg := "git " + e.args + ": "
	if e.kind != nil {
		msg += e.kind.Error() + ": "
	}
	msg += e.err.Error()
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *gitError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// exitCode is the exit status of a failed git command, -1 for any other
// error or none.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Patterns in git's (LC_ALL=C) stderr, first match wins. Auth comes before
// not-found because some hosts answer "not found" to hide private repos
// only after the credentials were refused.
var kinds = []struct {
	kind     error
	patterns []string
}{
	{errRaced, []string{
		"(stale info)", "(fetch first)", "(non-fast-forward)",
		"failed to update ref", "cannot lock ref", "incorrect old value provided",
	}},
	{ErrAuth, []string{
		"Authentication failed", "could not read Username", "could not read Password",
		"terminal prompts disabled", "Permission denied (", "Permission denied, please try again",
		"Host key verification failed", "HTTP Basic: Access denied", "Invalid username or password",
		"The requested URL returned error: 401", "The requested URL returned error: 403",
	}},
	{ErrNotFound, []string{
		"does not appear to be a git repository", "Repository not found",
		"The requested URL returned error: 404", "couldn't find remote ref",
		"' not found", // "repository 'https://…/x.git/' not found"
	}},
}

func classify(command, stderr string) error {
	for _, k := range kinds {
		if k.kind == errRaced && command != "push" {
			continue // a stale local ref lock is not a race with another pusher
		}
		for _, p := range k.patterns {
			if strings.Contains(stderr, p) {
				return k.kind
			}
		}
	}
	return nil
}

// userinfo matches the user[:password]@ of any URL in a message. Git hides
// the password in some messages but not in all, and a URL may name a user
// we should not print either.
var userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@`)

func redact(s string) string {
	return userinfo.ReplaceAllString(s, "${1}***@")
}

// showArgs renders a command line for an error: URLs redacted and messages
// elided, since they only make the line long.
func showArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if i > 0 && args[i-1] == "-m" {
			a = "<message>"
		}
		out[i] = redact(a)
	}
	return strings.Join(out, " ")
}
