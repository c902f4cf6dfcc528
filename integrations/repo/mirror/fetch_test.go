package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo"
)

func TestFetcherURL(t *testing.T) {
	tests := []struct{ base, href, want string }{
		{"http://m.example/el9/BaseOS/x86_64/os/", "Packages/a.rpm", "http://m.example/el9/BaseOS/x86_64/os/Packages/a.rpm"},
		{"http://m.example/el9/os", "repodata/repomd.xml", "http://m.example/el9/os/repodata/repomd.xml"},
		{"https://m.example/", "Packages/libstdc++-11.rpm", "https://m.example/Packages/libstdc++-11.rpm"},
		{"https://m.example/r/", "Packages/a b#1%.rpm", "https://m.example/r/Packages/a%20b%231%25.rpm"},
		{"https://m.example/r/?token=t", "Packages/a.rpm", "https://m.example/r/Packages/a.rpm?token=t"},
	}
	for _, tt := range tests {
		f, err := newFetcher(&http.Client{}, tt.base)
		require.NoError(t, err)
		require.Equal(t, tt.want, f.url(tt.href))
	}
}

func TestNewFetcherRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://m.example/r/", "http:///r/", "file://host/r", "m.example/r", "::"} {
		_, err := newFetcher(&http.Client{}, u)
		require.ErrorIs(t, err, repo.ErrInvalid, u)
		require.False(t, IsRetryable(err))
	}
}

// testRun is a sync of url in its first state, for tests of its stages.
func testRun(t *testing.T, m *Mirror, url string) *syncRun {
	f, err := newFetcher(m.Client, url)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	f.speed = m.minSpeed()
	r := &syncRun{m: m, src: Source{Repo: testRepo, URL: url}, f: f, lim: m.limits(), log: m.logger(),
		prog: newReporter(testRepo, nil, time.Now), retry: m.Retry.withDefaults()}
	r.budget = newBudget(r.retry.Budget, 0)
	return r
}

// TestFetchToPoolStreams covers bodies without Content-Length, where only
// the streamed count can tell a short or long file.
func TestFetchToPoolStreams(t *testing.T) {
	content := []byte("0123456789abcdef")
	sum := sha256.Sum256(content)
	good := repo.Checksum{Algo: "sha256", Hex: hex.EncodeToString(sum[:])}
	tests := []struct {
		name    string
		body    []byte
		size    int64
		wantErr string
	}{
		{name: "exact", body: content, size: 16},
		{name: "truncated", body: content[:10], size: 16, wantErr: "truncated: 10 of 16 bytes"},
		{name: "longer", body: append(content, 'x'), size: 16, wantErr: "more than the 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.(http.Flusher).Flush() // chunked: no Content-Length
				w.Write(tt.body)
			}))
			defer srv.Close()
			m, st := newTestMirror(t)
			n, err := testRun(t, m, srv.URL).fetchToPool(t.Context(), Item{Path: "a.xml", Checksum: good, Size: tt.size})
			if tt.wantErr != "" {
				require.ErrorIs(t, err, repo.ErrBadContent)
				require.ErrorContains(t, err, tt.wantErr)
				require.ErrorContains(t, err, srv.URL+"/a.xml")
				require.False(t, st.PoolHas(good, -1))
				return
			}
			require.NoError(t, err)
			require.Equal(t, int64(16), n)
			require.True(t, st.PoolHas(good, 16))
			left, err := os.ReadDir(st.TempDir())
			require.NoError(t, err)
			require.Empty(t, left)
		})
	}
}

// trickle answers with a body of size bytes that it sends one byte every
// interval, until the client gives up.
func trickle(size int, every time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		tick := time.NewTicker(every)
		defer tick.Stop()
		for range size {
			w.Write([]byte{'<'})
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}
}

// TestFetchBelowMinimumSpeed covers a server that keeps a transfer alive
// with a byte now and then: below the minimum speed it is cut off, however
// often bytes come.
func TestFetchBelowMinimumSpeed(t *testing.T) {
	srv := httptest.NewServer(trickle(1000, 5*time.Millisecond))
	defer srv.Close()
	f, err := newFetcher(newClient(1), srv.URL)
	require.NoError(t, err)
	f.speed = MinSpeed{BytesPerSecond: 1 << 10, Window: 100 * time.Millisecond}
	_, err = fetchSmall(t.Context(), f, repomdPath, 1<<20)
	require.ErrorIs(t, err, errTooSlow)
	require.ErrorContains(t, err, srv.URL+"/"+repomdPath)
	require.ErrorContains(t, err, "1KiB/s over 100ms")
	require.True(t, IsRetryable(err))
}

func TestMinSpeedDeadline(t *testing.T) {
	s := MinSpeed{BytesPerSecond: 10 << 10, Window: time.Minute}
	require.Equal(t, 2*time.Minute, s.deadline(0))
	require.Equal(t, 2*time.Minute+100*time.Second, s.deadline(1000<<10))
	require.Zero(t, MinSpeed{Window: time.Minute}.deadline(1<<30), "a rate of 0 has no deadline")
	require.Equal(t, int64(1), MinSpeed{Window: time.Minute}.perWindow(), "a rate of 0 still wants a byte a window")
}

func TestFileFetcherStaysInRepo(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "repo", "Packages"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("s"), 0o644))
	require.NoError(t, os.Symlink("../../secret", filepath.Join(dir, "repo", "Packages", "evil.rpm")))
	require.NoError(t, os.Symlink("loop.rpm", filepath.Join(dir, "repo", "Packages", "loop.rpm")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "repo", "Packages", "file.rpm"), []byte("f"), 0o644))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "repo", "Packages", "fifo.rpm"), 0o644))
	ln, err := net.Listen("unix", filepath.Join(dir, "repo", "Packages", "socket.rpm"))
	require.NoError(t, err)
	defer ln.Close()
	f, err := newFetcher(nil, "file://"+filepath.Join(dir, "repo"))
	require.NoError(t, err)
	defer f.Close()
	for _, tt := range []struct{ href, mentions string }{
		{"Packages/evil.rpm", "leaves the repo directory"},
		{"Packages/loop.rpm", "symlink loop"},
		{"Packages/fifo.rpm", "not a regular file but a FIFO"},
		{"Packages/socket.rpm", "socket"},
		{"Packages/file.rpm/x.rpm", "is a file, not a directory"},
		{"Packages", "not a regular file but a directory"},
	} {
		t.Run(tt.href, func(t *testing.T) {
			_, err := fetchSmall(t.Context(), f, tt.href, 100)
			require.ErrorIs(t, err, repo.ErrBadContent)
			require.ErrorContains(t, err, tt.href)
			require.ErrorContains(t, err, tt.mentions)
			require.False(t, IsRetryable(err))
		})
	}
	_, err = fetchSmall(t.Context(), f, "Packages/none.rpm", 100)
	require.True(t, isNotFound(err))
	require.True(t, IsRetryable(err))
}
