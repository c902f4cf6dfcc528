package scm

import (
	"context"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/osflow/osflow/integrations/scm/scmtest"

	"github.com/osflow/osflow/internal/flock"
)

func TestLog(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())

	commits, err := r.Log(t.Context(), "production", "test")
	require.NoError(t, err)
	require.Len(t, commits, 2)
	require.Equal(t, []string{"release 2", "add node2"}, []string{commits[0].Subject, commits[1].Subject})
	require.Equal(t, remote.Tip("test"), commits[0].Hash)
	require.Equal(t, "Tester <tester@example.org>", commits[0].Author)
	require.False(t, commits[0].Time.IsZero())

	commits, err = r.Log(t.Context(), "test", "production")
	require.NoError(t, err)
	require.Empty(t, commits)
}

func TestDiff(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	// A hotfix on production only: a three-dot diff must not show it.
	remote.Commit("production", "hotfix", map[string]string{"hotfix.txt": "fixed\n"})
	r := newRepo(t, remote.URL())

	stat, patch, truncated, err := r.Diff(t.Context(), "production", "test", 0)
	require.NoError(t, err)
	require.False(t, truncated)
	require.Contains(t, stat, "conf.yaml")
	require.Contains(t, stat, "2 files changed")
	require.NotContains(t, stat, "hotfix.txt")
	require.Contains(t, patch, "--- a/conf.yaml\n+++ b/conf.yaml\n") // prefixes despite diff.noprefix
	require.Contains(t, patch, "\n+release: 2\n")
	require.NotContains(t, patch, "\x1b[") // no colour despite color.ui=always

	_, short, truncated, err := r.Diff(t.Context(), "production", "test", 100)
	require.NoError(t, err)
	require.True(t, truncated)
	require.LessOrEqual(t, len(short), 100)
	require.True(t, strings.HasSuffix(short, "\n"))
	require.True(t, strings.HasPrefix(patch, short))
}

func TestLimitWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		max       int
		writes    []string
		want      string
		truncated bool
	}{
		{"no limit", 0, []string{"a\n", "b\n"}, "a\nb\n", false},
		{"fits exactly", 4, []string{"a\n", "b\n"}, "a\nb\n", false},
		{"cut at line end", 5, []string{"a\n", "b\n", "c\n"}, "a\nb\n", true},
		{"cut inside first line", 3, []string{"abcdef\n"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &limitWriter{max: tt.max}
			for _, s := range tt.writes {
				n, err := w.Write([]byte(s))
				require.NoError(t, err)
				require.Equal(t, len(s), n)
			}
			require.Equal(t, tt.want, w.String())
			require.Equal(t, tt.truncated, w.truncated)
		})
	}
}

func TestFetchPrunesAndFollowsURL(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	r := newRepo(t, remote.URL())
	require.NoError(t, r.Fetch(t.Context()))
	require.FileExists(t, filepath.Join(r.CacheDir, "lock"))

	scmtest.Git(t, remote.Bare, "branch", "-D", "test")
	require.NoError(t, r.Fetch(t.Context()))
	_, err := r.Log(t.Context(), "production", "test")
	require.ErrorIs(t, err, ErrNotFound)

	// A changed URL (the config was edited) is followed by the same cache.
	other := seed(t)
	r.URL = other.URL()
	commits, err := r.Log(t.Context(), "production", "test")
	require.NoError(t, err)
	require.Len(t, commits, 2)
	require.Equal(t, other.Tip("test"), commits[0].Hash)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		url  string
		op   func(ctx context.Context, r *Repo) error
		ctx  context.Context
		want error
	}{
		{"log: unknown head", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, err := r.Log(ctx, "production", "nope")
			return err
		}, nil, ErrNotFound},
		{"diff: unknown base", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, _, _, err := r.Diff(ctx, "nope", "test", 0)
			return err
		}, nil, ErrNotFound},
		{"merge: unknown from", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, err := r.Merge(ctx, "nope", "production", "", "")
			return err
		}, nil, ErrNotFound},
		{"revert: unknown commit", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, err := r.Revert(ctx, "production", "0123456789abcdef0123456789abcdef01234567", "")
			return err
		}, nil, ErrNotFound},
		{"revert: commit not on branch", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, err := r.Revert(ctx, "production", remote.Tip("test"), "")
			return err
		}, nil, ErrNotFound},
		{"fetch: no repository at path", "file://" + filepath.Join(t.TempDir(), "missing.git"), func(ctx context.Context, r *Repo) error {
			return r.Fetch(ctx)
		}, nil, ErrNotFound},
		{"bad branch name", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, err := r.Log(ctx, "production", "--upload-pack=touch /tmp/x")
			return err
		}, nil, ErrInvalid},
		{"bad file path", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, _, err := r.Commit(ctx, "production", map[string][]byte{"../escape": nil}, "x")
			return err
		}, nil, ErrInvalid},
		{"file in .git", remote.URL(), func(ctx context.Context, r *Repo) error {
			_, _, err := r.Commit(ctx, "production", map[string][]byte{"a/.git/config": nil}, "x")
			return err
		}, nil, ErrInvalid},
		{"bad author", remote.URL(), func(ctx context.Context, r *Repo) error {
			r.Author = "no email"
			return r.Fetch(ctx)
		}, nil, ErrInvalid},
		{"cancelled", remote.URL(), func(ctx context.Context, r *Repo) error {
			return r.Fetch(ctx)
		}, cancelled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			err := tt.op(ctx, newRepo(t, tt.url))
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestLockWaitHonoursContext(t *testing.T) {
	t.Parallel()
	r := newRepo(t, seed(t).URL())
	require.NoError(t, r.Fetch(t.Context()))
	unlock, err := flock.Lock(t.Context(), filepath.Join(r.CacheDir, "lock"))
	require.NoError(t, err)
	defer unlock()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Fetch(ctx) }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// TestCancelKillsRemoteHelper cancels a fetch while its ssh (a fake that
// never answers) runs: the call returns, and the ssh is dead too, not left
// holding a connection.
func TestCancelKillsRemoteHelper(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "started")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	r := newRepo(t, "ssh://git@example.org/org/config.git")
	r.Env = append(r.Env, "GIT_SSH_VARIANT=ssh",
		"GIT_SSH_COMMAND=sh -c 'echo $$ > "+fifo+"; exec sleep 600'")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Fetch(ctx) }()
	started, err := os.ReadFile(fifo) // returns once the fake ssh has written its pid
	require.NoError(t, err)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// Fetch returned when the ssh's end of git's stderr closed, that is when
	// it exited (WaitDelay, 5s, would have left it running): gone or a zombie.
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(started)) + "/stat")
	if err == nil {
		require.Contains(t, string(stat), ") Z ")
	}
}

func TestUnreachableURLHidesCredentials(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "https://user:secret@127.0.0.1:1/x.git")
	err := r.Fetch(t.Context())
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
	require.Contains(t, err.Error(), "127.0.0.1")
	require.False(t, errors.Is(err, ErrAuth) || errors.Is(err, ErrNotFound), "a network error is worth retrying: %v", err)
}

// TestHTTP runs a smart-HTTP remote (git http-backend behind Basic auth).
// Credentials reach git only through a credential helper configured in
// Repo.Env; without one, or with a wrong one, git must fail at once with
// ErrAuth rather than prompt.
func TestHTTP(t *testing.T) {
	t.Parallel()
	remote := seed(t)
	scmtest.Git(t, remote.Bare, "config", "http.receivepack", "true")
	backend := &cgi.Handler{
		Path: filepath.Join(scmtest.Git(t, "", "--exec-path"), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(remote.Bare), "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != "osflow" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, req)
	}))
	defer srv.Close()
	url := srv.URL + "/remote.git"
	helper := []string{
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=credential.helper",
		`GIT_CONFIG_VALUE_0=!f() { test "$1" = get && printf 'username=osflow\npassword=%s\n' "$OSFLOW_GIT_TOKEN"; }; f`,
	}

	t.Run("no credentials", func(t *testing.T) {
		err := newRepo(t, url).Fetch(t.Context())
		require.ErrorIs(t, err, ErrAuth)
	})
	t.Run("wrong password in URL", func(t *testing.T) {
		err := newRepo(t, strings.Replace(url, "://", "://osflow:wr0ngpass@", 1)).Fetch(t.Context())
		require.ErrorIs(t, err, ErrAuth)
		require.NotContains(t, err.Error(), "wr0ngpass")
	})
	t.Run("credential helper", func(t *testing.T) {
		r := newRepo(t, url)
		r.Env = append(append(r.Env, helper...), "OSFLOW_GIT_TOKEN=s3cret")
		commits, err := r.Log(t.Context(), "production", "test")
		require.NoError(t, err)
		require.Len(t, commits, 2)
		res, err := r.Merge(t.Context(), "test", "production", "", "")
		require.NoError(t, err)
		require.Equal(t, remote.Tip("production"), res.Commit)
	})
}

// TestSSHErrorsClassified runs a fake ssh (GIT_SSH_COMMAND from Repo.Env)
// that answers as real servers do.
func TestSSHErrorsClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stderr string
		want         error
	}{
		{"key refused", "git@example.org: Permission denied (publickey).", ErrAuth},
		{"unknown host key", "Host key verification failed.", ErrAuth},
		{"no such repo", "ERROR: Repository not found.", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRepo(t, "ssh://git@example.org/org/config.git")
			r.Env = append(r.Env, "GIT_SSH_COMMAND=sh -c 'echo \""+tt.stderr+"\" >&2; exit 255'")
			err := r.Fetch(t.Context())
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.stderr)
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"fatal: unable to access 'https://user:secret@host/x.git/': refused", "fatal: unable to access 'https://***@host/x.git/': refused"},
		{"https://tok@host/x and ssh://git@host/y", "https://***@host/x and ssh://***@host/y"},
		{"HTTPS://u:p@w:rd@host/x", "HTTPS://***@host/x"},
		{"git@github.com:org/x.git", "git@github.com:org/x.git"}, // scp-like: the user is no secret
		{"https://host/x.git", "https://host/x.git"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, redact(tt.in))
	}
}

func TestCheckNames(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"production", "release/2026-11", "test_1"} {
		require.NoError(t, checkBranch(b), b)
	}
	for _, b := range []string{"", "-x", "a..b", "a b", "a:b", "a/", "/a", "a.lock", "a/.b", "a@{1}", "@", "a\\b", "a~1", "a^", "x."} {
		require.ErrorIs(t, checkBranch(b), ErrInvalid, b)
	}
	for _, p := range []string{"Home.md", "docs/a.md", ".github/x"} {
		require.NoError(t, checkPath(p), p)
	}
	for _, p := range []string{"", ".", "/etc/passwd", "../x", "a/../../x", "a//b", ".git/config", "x/.GIT/y", "a\\b"} {
		require.ErrorIs(t, checkPath(p), ErrInvalid, p)
	}
}
