// Package scmtest builds git remotes for tests with the real git CLI: a bare
// repository, changed through a working clone of its own the way another
// user or a hotfix would change it.
package scmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Git runs git in dir, isolated from every user and system config, and
// returns its trimmed stdout; a failure fails the test.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := Run(dir, nil, args...)
	require.NoError(t, err)
	return out
}

// Run is Git returning the error, with stdin if not nil.
func Run(dir string, stdin []byte, args ...string) (string, error) {
	out, err := raw(dir, stdin, args...)
	return strings.TrimSpace(string(out)), err
}

// raw runs git and returns its stdout as is.
func raw(dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Tester", "-c", "user.email=tester@example.org"}, args...)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") { // nothing may point us at another repo or config
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &runError{args: args, stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.Bytes(), nil
}

type runError struct {
	args   []string
	stderr string
	err    error
}

func (e *runError) Error() string {
	return "git " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (e *runError) Unwrap() error { return e.err }

// Remote is a bare repository and a private working clone of it.
type Remote struct {
	t    testing.TB
	Bare string // the bare repository's path
	work string
}

// NewRemote makes an empty bare repository under t.TempDir().
func NewRemote(t testing.TB) *Remote {
	t.Helper()
	dir := t.TempDir()
	r := &Remote{t: t, Bare: filepath.Join(dir, "remote.git"), work: filepath.Join(dir, "work")}
	Git(t, dir, "init", "-q", "--bare", "--initial-branch=main", r.Bare)
	Git(t, dir, "init", "-q", "--initial-branch=main", r.work)
	Git(t, r.work, "remote", "add", "origin", r.Bare)
	return r
}

// URL is the remote's file:// URL.
func (r *Remote) URL() string { return "file://" + r.Bare }

// Commit writes files (path → content) on branch, commits and pushes them.
// A branch the remote lacks starts as a root commit. It returns the commit.
func (r *Remote) Commit(branch, message string, files map[string]string) string {
	r.t.Helper()
	Git(r.t, r.work, "fetch", "-q", "--prune", "origin")
	if _, err := Run(r.work, nil, "rev-parse", "--verify", "--quiet", "origin/"+branch); err == nil {
		Git(r.t, r.work, "checkout", "-q", "--force", "-B", branch, "origin/"+branch)
	} else {
		Git(r.t, r.work, "checkout", "-q", "--force", "--orphan", branch)
		Git(r.t, r.work, "rm", "-rfq", "--ignore-unmatch", ".")
	}
	for name, content := range files {
		p := filepath.Join(r.work, filepath.FromSlash(name))
		require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(r.t, os.WriteFile(p, []byte(content), 0o644))
		Git(r.t, r.work, "add", name)
	}
	Git(r.t, r.work, "commit", "-q", "-m", message)
	Git(r.t, r.work, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return Git(r.t, r.work, "rev-parse", "HEAD")
}

// Branch creates branch at from's tip on the remote.
func (r *Remote) Branch(branch, from string) {
	r.t.Helper()
	Git(r.t, r.Bare, "branch", branch, from)
}

// Tip is the commit the remote's branch points to, "" if there is none.
func (r *Remote) Tip(branch string) string {
	r.t.Helper()
	out, err := Run(r.Bare, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return out
}

// Show is the content of path on the remote's branch.
func (r *Remote) Show(branch, path string) string {
	r.t.Helper()
	out, err := raw(r.Bare, nil, "cat-file", "blob", "refs/heads/"+branch+":"+path)
	require.NoError(r.t, err)
	return string(out) // untrimmed: tests compare exact bytes
}

// Files lists the paths on the remote's branch.
func (r *Remote) Files(branch string) []string {
	r.t.Helper()
	return strings.Fields(Git(r.t, r.Bare, "ls-tree", "-r", "--name-only", "refs/heads/"+branch))
}
