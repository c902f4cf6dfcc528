package repo

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// handlerFixture has two releases of repo "base" whose metadata files
// have different names, as with createrepo_c --unique-md-filenames.
func handlerFixture(t *testing.T) (*Store, []string) {
	t.Helper()
	s := newStore(t)
	var rels []string
	for i, tag := range []string{"one", "two"} {
		snap := commit(t, s, "base", t0.Add(time.Duration(i)*time.Hour), map[string]string{
			"repodata/repomd.xml":                 "repomd " + tag,
			"repodata/" + tag + "-primary.xml.gz": "primary " + tag,
		})
		rels = append(rels, release(t, s, snap.CreatedAt, map[string]string{"base": snap.ID}).ID)
	}
	return s, rels
}

func get(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestHandlerServesChannels(t *testing.T) {
	ctx := context.Background()
	s, rels := handlerFixture(t)
	h := Handler(s)
	require.Equal(t, http.StatusNotFound, get(t, h, "GET", "/testing/base/repodata/repomd.xml").Code, "no channel yet")

	_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[0], Actor: "ci", Reason: "first"})
	require.NoError(t, err)
	rec := get(t, h, "GET", "/testing/base/repodata/repomd.xml")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "repomd one", rec.Body.String())
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))
	rec = get(t, h, "HEAD", "/testing/base/repodata/one-primary.xml.gz")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Header().Get("Cache-Control"))

	_, err = s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[1], Actor: "ci", Reason: "second"})
	require.NoError(t, err)
	require.Equal(t, "repomd two", get(t, h, "GET", "/testing/base/repodata/repomd.xml").Body.String())
	// A client (or proxy) revalidating by date after a rollback to an
	// older release must still get the current repomd.xml.
	req := httptest.NewRequest("GET", "/testing/base/repodata/repomd.xml", nil)
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "repomd two", rec.Body.String())
	// A client that read repomd.xml just before the switch asks for the
	// old primary: it is served from testing.prev.
	rec = get(t, h, "GET", "/testing/base/repodata/one-primary.xml.gz")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "primary one", rec.Body.String())

	rec = get(t, h, "GET", "/testing/base/repodata/")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "two-primary.xml.gz")

	for _, tc := range []struct {
		target string
		code   int
	}{
		{"/testing/base/repodata/missing.xml", http.StatusNotFound},
		{"/testing/base/../../releases/" + rels[0] + "/base/repodata/repomd.xml", http.StatusNotFound},
		{"/testing/base/%2e%2e/%2e%2e/%2e%2e/lock", http.StatusNotFound},
		{"/testing/../testing/base/repodata/repomd.xml", http.StatusNotFound},
		{"/testing/base/./repodata/repomd.xml", http.StatusNotFound},
		{"/testing/base//repodata/repomd.xml", http.StatusNotFound},
		{"/testing.log", http.StatusNotFound},
		{"/testing.prev/base/repodata/repomd.xml", http.StatusNotFound},
		{"/", http.StatusNotFound},
		{"/Testing/base/repodata/repomd.xml", http.StatusNotFound},
	} {
		require.Equal(t, tc.code, get(t, h, "GET", tc.target).Code, tc.target)
	}
	require.Equal(t, http.StatusMethodNotAllowed, get(t, h, "POST", "/testing/base/repodata/repomd.xml").Code)
}

// TestHandlerDuringSwitches reads repomd.xml through a real HTTP server
// while another goroutine flips the channel: rename(2) must never leave a
// moment where the channel does not resolve.
func TestHandlerDuringSwitches(t *testing.T) {
	ctx := context.Background()
	s, rels := handlerFixture(t)
	_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[0], Actor: "ci", Reason: "start"})
	require.NoError(t, err)
	srv := httptest.NewServer(Handler(s))
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}

	switched := make(chan error, 1)
	go func() {
		for i := range 200 {
			if _, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: rels[(i+1)%2], Actor: "ci", Reason: "flip"}); err != nil {
				switched <- err
				return
			}
		}
		switched <- nil
	}()
	reads := 0
	for done := false; !done; {
		select {
		case err := <-switched:
			require.NoError(t, err)
			done = true
		default:
		}
		resp, err := client.Get(srv.URL + "/testing/base/repodata/repomd.xml")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "read %d: %s", reads, body)
		require.Contains(t, []string{"repomd one", "repomd two"}, string(body))
		reads++
	}
	t.Logf("%d reads during 200 switches", reads)
	log, err := s.History("testing")
	require.NoError(t, err)
	require.Len(t, log, 201)
}

// A client holding release two's repomd.xml while the channel goes
// two -> three -> one (.prev is now three) must still get two's files.
func TestHandlerFallsBackThroughRecentReleases(t *testing.T) {
	ctx := context.Background()
	s, rels := handlerFixture(t)
	snap := commit(t, s, "base", t0.Add(3*time.Hour), map[string]string{
		"repodata/repomd.xml":           "repomd three",
		"repodata/three-primary.xml.gz": "primary three",
	})
	three := release(t, s, snap.CreatedAt, map[string]string{"base": snap.ID}).ID
	h := Handler(s)
	for _, to := range []string{rels[1], three, rels[0]} {
		_, err := s.Switch(ctx, SwitchRequest{Channel: "testing", Release: to, Actor: "ci", Reason: "churn"})
		require.NoError(t, err)
	}
	rec := get(t, h, "GET", "/testing/base/repodata/two-primary.xml.gz")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "primary two", rec.Body.String())
	require.Equal(t, http.StatusNotFound, get(t, h, "GET", "/testing/base/repodata/four-primary.xml.gz").Code)
}

// TestHandlerServesNothingABrowserRuns covers upstream files that a
// browser would run as a page: each is served with a type from the rpm-md
// set or as octet-stream, never sniffed.
func TestHandlerServesNothingABrowserRuns(t *testing.T) {
	s := newStore(t)
	files := map[string]string{
		"repodata/repomd.xml":       `<repomd xmlns="http://linux.duke.edu/metadata/repo"/>`,
		"repodata/a-primary.xml":    `<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`,
		"repodata/b-primary.zst":    "zstd",
		"index.html":                "<script>alert(document.cookie)</script>",
		"Packages/evil.svg":         `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`,
		"Packages/a-1-1.x86_64.rpm": "rpm",
	}
	h := serveOne(t, s, "testing", "base", files)
	for p, want := range map[string]string{
		"repodata/repomd.xml":       "text/plain; charset=utf-8",
		"repodata/a-primary.xml":    "text/plain; charset=utf-8",
		"repodata/b-primary.zst":    "application/zstd",
		"index.html":                "application/octet-stream",
		"Packages/evil.svg":         "application/octet-stream",
		"Packages/a-1-1.x86_64.rpm": "application/x-rpm",
	} {
		rec := get(t, h, "GET", "/testing/base/"+p)
		require.Equal(t, http.StatusOK, rec.Code, p)
		require.Equal(t, files[p], rec.Body.String(), p)
		require.Equal(t, want, rec.Header().Get("Content-Type"), p)
		require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), p)
		require.Contains(t, rec.Header().Get("Content-Security-Policy"), "sandbox", p)
	}
	// A directory listing is a page of ours, with nothing to run, never
	// upstream's index.html in its place.
	for _, dir := range []string{"/testing/base/", "/testing/base/Packages/"} {
		rec := get(t, h, "GET", dir)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Header().Get("Content-Type"), "text/html")
		require.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'")
		require.NotContains(t, rec.Body.String(), "<script>")
	}
	require.Contains(t, get(t, h, "GET", "/testing/base/").Body.String(), `<a href="index.html">index.html</a>`)
}

// A tree's .treeinfo is its index and its images keep their names from
// release to release: neither is cached, so that a switch moves installers
// to the new tree at once. Files named by their content may be cached.
func TestHandlerServesTreeUncachedIndex(t *testing.T) {
	s := newStore(t)
	h := serveOne(t, s, "production", "dist", map[string]string{
		".treeinfo":                        "[header]\nversion = 1.2\n",
		"images/pxeboot/vmlinuz":           "kernel",
		"BaseOS/repodata/repomd.xml":       "repomd",
		"repodata/repomd.xml":              "root variant repomd",
		"BaseOS/repodata/x-primary.xml.gz": "primary",
		"BaseOS/Packages/a-1-1.noarch.rpm": "rpm",
	})
	for target, cache := range map[string]string{
		"/production/dist/.treeinfo":                        "no-cache",
		"/production/dist/BaseOS/repodata/repomd.xml":       "no-cache",
		"/production/dist/images/pxeboot/vmlinuz":           "no-cache",
		"/production/dist/BaseOS/repodata/x-primary.xml.gz": "",
		"/production/dist/BaseOS/Packages/a-1-1.noarch.rpm": "",
	} {
		rec := get(t, h, "GET", target)
		require.Equal(t, http.StatusOK, rec.Code, target)
		require.Equal(t, cache, rec.Header().Get("Cache-Control"), target)
	}
}

// serveOne commits files as a snapshot of repo, points channel at a
// release of it, and returns the handler serving the store.
func serveOne(t *testing.T, s *Store, channel, repo string, files map[string]string) http.Handler {
	t.Helper()
	snap := commit(t, s, repo, t0, files)
	rel := release(t, s, t0, map[string]string{repo: snap.ID})
	_, err := s.Switch(context.Background(), SwitchRequest{Channel: channel, Release: rel.ID, Actor: "ci", Reason: "first"})
	require.NoError(t, err)
	return Handler(s)
}
