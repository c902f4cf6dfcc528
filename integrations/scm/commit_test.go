package scm

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/scm/scmtest"
)

func TestCommit(t *testing.T) {
	t.Parallel()
	remote := scmtest.NewRemote(t) // empty: no branch at all
	r := newRepo(t, remote.URL())
	files := map[string][]byte{
		"Home.md":          []byte("# Home\r\n"), // CRLF kept despite core.autocrlf
		"pages/Release.md": []byte("notes\n"),
	}

	first, changed, err := r.Commit(t.Context(), "master", files, "first")
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, remote.Tip("master"), first)
	require.Equal(t, []string{"Home.md", "pages/Release.md"}, remote.Files("master"))
	require.Equal(t, "# Home\r\n", remote.Show("master", "Home.md"))
	require.Equal(t, DefaultAuthor+"\nfirst", scmtest.Git(t, remote.Bare, "log", "-1", "--format=%an <%ae>%n%B", first))
	require.Empty(t, scmtest.Git(t, remote.Bare, "rev-list", "--parents", "-n", "1", first)[len(first):], "a root commit")

	again, changed, err := r.Commit(t.Context(), "master", files, "again")
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, first, again)
	require.Equal(t, first, remote.Tip("master"))

	// A change to one file keeps the others.
	next, changed, err := r.Commit(t.Context(), "master", map[string][]byte{"Home.md": []byte("# Home\n")}, "next")
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, first, scmtest.Git(t, remote.Bare, "rev-parse", next+"^"))
	require.Equal(t, "notes\n", remote.Show("master", "pages/Release.md"))
}

func TestEditReads(t *testing.T) {
	t.Parallel()
	remote := scmtest.NewRemote(t)
	r := newRepo(t, remote.URL())
	appendLine := func(read ReadFunc) (map[string][]byte, error) {
		old, err := read("log.txt")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return map[string][]byte{"log.txt": append(old, "line\n"...)}, nil
	}
	for range 2 {
		_, changed, err := r.Edit(t.Context(), "master", "append", appendLine)
		require.NoError(t, err)
		require.True(t, changed)
	}
	require.Equal(t, "line\nline\n", remote.Show("master", "log.txt"))

	_, _, err := r.Edit(t.Context(), "master", "x", func(read ReadFunc) (map[string][]byte, error) {
		_, err := read("missing.txt")
		return nil, err
	})
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestEditRace has another clone push to the branch between our fetch and
// our push: the edit runs again on the new tip and keeps both changes.
func TestEditRace(t *testing.T) {
	t.Parallel()
	remote := scmtest.NewRemote(t)
	remote.Commit("master", "start", map[string]string{"list.txt": "a\n"})
	r := newRepo(t, remote.URL())
	pushed := false
	r.beforePush = func() {
		if !pushed {
			pushed = true
			remote.Commit("master", "concurrent", map[string]string{"list.txt": "a\nb\n"})
		}
	}
	calls := 0
	_, changed, err := r.Edit(t.Context(), "master", "add c", func(read ReadFunc) (map[string][]byte, error) {
		calls++
		old, err := read("list.txt")
		return map[string][]byte{"list.txt": append(old, "c\n"...)}, err
	})
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, 2, calls)
	require.Equal(t, "a\nb\nc\n", remote.Show("master", "list.txt"))
}

// TestRaceLostTwice: the retry happens once; a second race is returned.
func TestRaceLostTwice(t *testing.T) {
	t.Parallel()
	remote := scmtest.NewRemote(t)
	remote.Commit("master", "start", map[string]string{"n.txt": "0\n"})
	r := newRepo(t, remote.URL())
	n := 0
	r.beforePush = func() {
		n++
		remote.Commit("master", "concurrent", map[string]string{"n.txt": fmt.Sprintln(n)})
	}
	_, _, err := r.Commit(t.Context(), "master", map[string][]byte{"x.txt": []byte("x\n")}, "x")
	require.ErrorIs(t, err, errRaced)
	require.Equal(t, 2, n)
	require.NotContains(t, remote.Files("master"), "x.txt")
}

// TestSharedCache: callers sharing a cache take turns on its lock, so none
// of them sees another's checkout or loses a push race.
func TestSharedCache(t *testing.T) {
	t.Parallel()
	remote := scmtest.NewRemote(t)
	remote.Commit("master", "start", map[string]string{"README": "x\n"})
	cache := newRepo(t, remote.URL())
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		r := &Repo{URL: cache.URL, CacheDir: cache.CacheDir, Env: cache.Env}
		wg.Go(func() {
			_, _, errs[i] = r.Commit(t.Context(), "master", map[string][]byte{fmt.Sprintf("f%d.txt", i): []byte("x\n")}, "add")
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, remote.Files("master"), n+1)
}
