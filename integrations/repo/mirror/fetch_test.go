package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
			f, err := newFetcher(m.Client, srv.URL)
			require.NoError(t, err)
			prog := newReporter("r", nil, time.Now)
			n, err := m.fetchToPool(t.Context(), f, Item{Path: "a.xml", Checksum: good, Size: tt.size}, prog)
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

func TestFetchStalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("<repomd>"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	f, err := newFetcher(newClient(1), srv.URL)
	require.NoError(t, err)
	f.stall = 50 * time.Millisecond
	_, err = fetchSmall(t.Context(), f, repomdPath, 1<<20)
	require.ErrorIs(t, err, errStalled)
	require.ErrorContains(t, err, srv.URL+"/"+repomdPath)
	require.True(t, IsRetryable(err))
}

func TestFileFetcherStaysInRepo(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "repo", "Packages"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("s"), 0o644))
	require.NoError(t, os.Symlink("../../secret", filepath.Join(dir, "repo", "Packages", "evil.rpm")))
	f, err := newFetcher(nil, "file://"+filepath.Join(dir, "repo"))
	require.NoError(t, err)
	defer f.Close()
	_, err = fetchSmall(t.Context(), f, "Packages/evil.rpm", 100)
	require.Error(t, err)
	_, err = fetchSmall(t.Context(), f, "Packages/none.rpm", 100)
	require.True(t, isNotFound(err))
	require.True(t, IsRetryable(err))
}
