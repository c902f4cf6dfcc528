// Package scm drives a git remote (ssh, https or file) through the git CLI:
// the branches, diffs, merges and reverts of the config-management and
// monitoring repos, and the commits of the git-backed wiki.
//
// Every operation takes the cache lock, fetches, then works on the remote
// branches as just fetched (origin/<branch>); local branches are never used,
// so a cache cannot drift from the remote. Operations that push retry once
// when another pusher moved the branch in between. They are idempotent, as
// Temporal retries need: merging what is merged, reverting what is reverted
// or committing content already there pushes nothing.
//
// Errors wrap ErrNotFound (unknown remote, branch or commit), ErrAuth
// (credentials refused or missing), ErrConflict (a merge or revert that
// needs a human) or ErrInvalid (bad arguments); none of these is worth
// retrying. Anything else (network, a busy server) may succeed later.
package scm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/osflow/osflow/internal/flock"
)

var (
	ErrConflict = errors.New("conflict")
	ErrNotFound = errors.New("not found")
	ErrAuth     = errors.New("access refused")
	ErrInvalid  = errors.New("invalid argument")
	// errRaced is a push the remote refused because the branch moved
	// since our fetch; the operation is redone once on a new fetch.
	errRaced = errors.New("remote branch moved")
)

// DefaultAuthor is used when Repo.Author is empty.
const DefaultAuthor = "osflow <osflow@localhost>"

// Repo is one remote and the local clone kept for it.
type Repo struct {
	URL string // remote, as git takes it: ssh://, user@host:path, https://, file:// or a path
	// CacheDir holds the clone ("clone/") and its lock file ("lock"); it is
	// created on first use. Repos sharing a CacheDir take turns.
	CacheDir string
	// Env is added to git's environment, e.g. GIT_SSH_COMMAND, or
	// GIT_CONFIG_GLOBAL naming a config with a credential.helper.
	// Credentials come from there or from the helpers and ssh keys of the
	// user running the worker, never from the URL.
	Env    []string
	Author string // "Name <email>" of commits and merges; DefaultAuthor if empty

	beforePush func() // tests: runs just before each push
	// Crash is a test hook called after each durable step (AtPush); an
	// error it returns fails the operation as a failed push would.
	Crash func(point string) error
}

// AtPush is the crash point right after a push the remote took: a merge,
// a revert or a commit is then on the remote, whatever happens next.
const AtPush = "git/push"

// Commit is one commit of a log.
type Commit struct {
	Hash, Author, Subject string // Author is "Name <email>"
	Time                  time.Time
}

// Fetch clones the remote into the cache, or fetches into an existing
// clone, pruning branches the remote deleted. Every other method fetches
// first itself.
func (r *Repo) Fetch(ctx context.Context) error {
	return r.do(ctx, "fetch", func(*git) error { return nil })
}

// Log lists the commits on the remote's head branch that are not on base,
// newest first.
func (r *Repo) Log(ctx context.Context, base, head string) ([]Commit, error) {
	if err := checkBranches(base, head); err != nil {
		return nil, err
	}
	var commits []Commit
	err := r.do(ctx, "log "+base+".."+head, func(g *git) error {
		from, to, err := g.tips(ctx, base, head)
		if err == nil {
			commits, err = g.log(ctx, from, to)
		}
		return err
	})
	return commits, err
}

// log lists the commits on to that are not on from, newest first.
func (g *git) log(ctx context.Context, from, to string) ([]Commit, error) {
	// Fields end with US, commits with NUL (-z): a subject holds neither.
	out, err := g.run(ctx, "log", "-z", "--format=%H%x1f%an <%ae>%x1f%aI%x1f%s", from+".."+to)
	if err != nil || out == "" {
		return nil, err
	}
	var commits []Commit
	for rec := range strings.SplitSeq(strings.TrimSuffix(out, "\x00"), "\x00") {
		f := strings.Split(rec, "\x1f")
		if len(f) != 4 {
			return nil, fmt.Errorf("unexpected log record %q", rec)
		}
		t, err := time.Parse(time.RFC3339, f[2])
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", f[0], err)
		}
		commits = append(commits, Commit{Hash: f[0], Author: f[1], Time: t, Subject: f[3]})
	}
	return commits, nil
}

// FindCommit returns the newest commit on the remote's branch whose
// message contains text (a fixed string, such as an operation marker), or
// "" if none does: how a retried merge finds the merge its first attempt
// pushed.
func (r *Repo) FindCommit(ctx context.Context, branch, text string) (string, error) {
	if err := checkBranches(branch); err != nil {
		return "", err
	}
	if text == "" || strings.ContainsAny(text, "\x00\n") {
		return "", fmt.Errorf("%w: search text %q", ErrInvalid, text)
	}
	var hash string
	err := r.do(ctx, "find commit on "+branch, func(g *git) error {
		tip, err := g.tip(ctx, branch)
		if err != nil {
			return err
		}
		hash, err = g.run(ctx, "log", "-n", "1", "--fixed-strings", "--grep="+text, "--format=%H", tip)
		hash = strings.TrimSpace(hash)
		return err
	})
	return hash, err
}

// Diff compares the remote's head branch with its merge base with base
// (three dots: what merging head would bring). stat is the diffstat; patch
// is cut at a line end to at most maxBytes (no limit if maxBytes <= 0), and
// truncated says so. The stat is never cut: it is what a reviewer reads
// when the patch is too long.
func (r *Repo) Diff(ctx context.Context, base, head string, maxBytes int) (stat, patch string, truncated bool, err error) {
	if err := checkBranches(base, head); err != nil {
		return "", "", false, err
	}
	err = r.do(ctx, "diff "+base+"..."+head, func(g *git) error {
		from, to, err := g.tips(ctx, base, head)
		if err == nil {
			stat, patch, truncated, err = g.diff(ctx, from+"..."+to, maxBytes)
		}
		return err
	})
	return stat, patch, truncated, err
}

// diff is the diffstat and the patch (cut to maxBytes) of a range.
func (g *git) diff(ctx context.Context, rng string, maxBytes int) (stat, patch string, truncated bool, err error) {
	// No external diff or textconv driver: the remote's .gitattributes
	// must not make us run programs.
	diff := []string{"diff", "--no-ext-diff", "--no-textconv", "--no-color"}
	if stat, err = g.run(ctx, append(diff, "--stat=200", rng)...); err != nil {
		return "", "", false, err
	}
	w := &limitWriter{max: maxBytes}
	if _, err = g.exec(ctx, call{args: append(diff, "--patch", rng), stdout: w}); err != nil {
		return "", "", false, err
	}
	return stat, w.String(), w.truncated, nil
}

// limitWriter keeps the first max bytes written (all if max <= 0) and
// swallows the rest, so that git runs to completion and memory stays bounded.
type limitWriter struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.max > 0 && w.buf.Len()+len(p) > w.max {
		w.buf.Write(p[:w.max-w.buf.Len()])
		w.truncated = true
		return len(p), nil
	}
	return w.buf.Write(p)
}

// String is what was kept, ending at a line end when cut.
func (w *limitWriter) String() string {
	b := w.buf.Bytes()
	if w.truncated {
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	return string(b)
}

// do runs op on the cache, locked and freshly fetched. An op whose push
// lost a race is run once more on a new fetch: it recomputes everything
// from the remote's new state (a merge may now find itself already done).
func (r *Repo) do(ctx context.Context, what string, op func(*git) error) error {
	err := r.locked(ctx, func(g *git) error {
		err := op(g)
		if errors.Is(err, errRaced) {
			if err := r.fetch(ctx, g); err != nil {
				return err
			}
			err = op(g)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", redact(r.URL), what, err)
	}
	return nil
}

// locked takes the cache lock, makes sure the clone exists and is fetched,
// and runs fn on it.
func (r *Repo) locked(ctx context.Context, fn func(*git) error) error {
	name, email, err := r.identity()
	if err != nil {
		return err
	}
	if r.CacheDir == "" {
		return fmt.Errorf("%w: no cache directory", ErrInvalid)
	}
	if r.URL == "" || strings.HasPrefix(r.URL, "-") {
		return fmt.Errorf("%w: remote URL %q", ErrInvalid, redact(r.URL))
	}
	if err := os.MkdirAll(r.CacheDir, 0o755); err != nil {
		return err
	}
	unlock, err := flock.Lock(ctx, filepath.Join(r.CacheDir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	env := gitEnv(r.Env, name, email)
	clone := filepath.Join(r.CacheDir, "clone")
	if _, err := os.Stat(filepath.Join(clone, ".git")); errors.Is(err, fs.ErrNotExist) {
		if err := r.clone(ctx, env, clone); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	g := &git{dir: clone, env: env, beforePush: r.beforePush, crash: r.Crash}
	if err := removeStaleLocks(filepath.Join(clone, ".git")); err != nil {
		return err
	}
	// The configured URL may have changed since the clone was made.
	if _, err := g.run(ctx, "remote", "set-url", "origin", r.URL); err != nil {
		return err
	}
	if err := r.fetch(ctx, g); err != nil {
		return err
	}
	return fn(g)
}

// clone makes the cache's clone: init, add the remote and fetch in a
// scratch directory, then rename, so that a clone killed half way is never
// taken for a complete one. No checkout: operations check out what they need.
func (r *Repo) clone(ctx context.Context, env []string, clone string) error {
	tmp := clone + ".new"
	if err := os.RemoveAll(tmp); err != nil { // left by a killed clone; we hold the lock
		return err
	}
	g := &git{dir: r.CacheDir, env: env}
	// --template= copies no hooks or other files from a template directory.
	if _, err := g.run(ctx, "init", "-q", "--template=", tmp); err != nil {
		return err
	}
	g.dir = tmp
	if _, err := g.run(ctx, "remote", "add", "origin", r.URL); err != nil {
		return err
	}
	if err := r.fetch(ctx, g); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return os.Rename(tmp, clone)
}

func (r *Repo) fetch(ctx context.Context, g *git) error {
	_, err := g.run(ctx, "fetch", "--prune", "--quiet", "origin")
	return err
}

// removeStaleLocks deletes the *.lock files a git killed by a cancelled
// context leaves behind, which would fail every later command. Any lock
// present is stale: every git on this clone runs under our flock.
func removeStaleLocks(gitDir string) error {
	return filepath.WalkDir(gitDir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "objects":
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(d.Name(), ".lock"):
			return os.Remove(path)
		}
		return nil
	})
}

// identity splits Author into the name and email git records.
func (r *Repo) identity() (name, email string, err error) {
	author := r.Author
	if author == "" {
		author = DefaultAuthor
	}
	a, err := mail.ParseAddress(author)
	if err != nil || a.Name == "" {
		return "", "", fmt.Errorf("%w: author %q is not \"Name <email>\"", ErrInvalid, author)
	}
	return a.Name, a.Address, nil
}

// tip resolves a remote branch to its commit.
func (g *git) tip(ctx context.Context, branch string) (string, error) {
	if err := checkBranch(branch); err != nil {
		return "", err
	}
	rev, ok, err := g.resolve(ctx, remoteRef(branch)+"^{commit}")
	if err == nil && !ok {
		err = fmt.Errorf("branch %q: %w", branch, ErrNotFound)
	}
	return rev, err
}

// tips resolves two remote branches.
func (g *git) tips(ctx context.Context, a, b string) (string, string, error) {
	ra, err := g.tip(ctx, a)
	if err != nil {
		return "", "", err
	}
	rb, err := g.tip(ctx, b)
	return ra, rb, err
}

// resolve names the object rev points to; ok is false if there is none.
func (g *git) resolve(ctx context.Context, rev string) (hash string, ok bool, err error) {
	out, err := g.run(ctx, "rev-parse", "--verify", "--quiet", rev)
	if exitCode(err) == 1 {
		return "", false, nil
	}
	return out, err == nil, err
}

func remoteRef(branch string) string { return "refs/remotes/origin/" + branch }

// checkBranch applies git's ref-name rules (git-check-ref-format) to a
// branch name, so that a bad name is refused as such rather than reported
// as a missing branch, and can never be read as an option.
func checkBranch(b string) error {
	bad := b == "" || b == "@" || b[0] == '-' || b[0] == '/' ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") ||
		strings.ContainsFunc(b, func(c rune) bool { return c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) })
	for part := range strings.SplitSeq(b, "/") {
		bad = bad || strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock")
	}
	if bad {
		return fmt.Errorf("%w: branch name %q", ErrInvalid, b)
	}
	return nil
}
