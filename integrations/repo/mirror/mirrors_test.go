package mirror

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

// metalinkXML is a MirrorManager metalink for current's repomd.xml, with
// older as an alternate (nil: none), listing the mirrors with falling
// preference.
func metalinkXML(current, older []byte, timestamp int64, mirrors ...string) string {
	version := func(raw []byte, ts int64) string {
		sum := sha512.Sum512(raw)
		return fmt.Sprintf(`<mm0:timestamp>%d</mm0:timestamp><size>%d</size><verification>
      <hash type="md5">d41d8cd98f00b204e9800998ecf8427e</hash>
      <hash type="sha256">%s</hash><hash type="sha512">%s</hash></verification>`, ts, len(raw), sha256Hex(raw), hex.EncodeToString(sum[:]))
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   ` + version(current, timestamp))
	if older != nil {
		b.WriteString("\n   <mm0:alternates><mm0:alternate>" + version(older, timestamp-86400) + "</mm0:alternate></mm0:alternates>")
	}
	b.WriteString("\n   <resources maxconnections=\"1\">\n")
	for i, m := range mirrors {
		proto := strings.SplitN(m, ":", 2)[0]
		fmt.Fprintf(&b, "    <url protocol=%q type=%q location=\"US\" preference=\"%d\">%srepodata/repomd.xml</url>\n", proto, proto, 100-i, m)
	}
	b.WriteString("   </resources>\n  </file>\n </files>\n</metalink>\n")
	return b.String()
}

// serveText serves body at /list?repo=epel-9 on a server of its own and
// counts the requests; it returns the list's URL.
func serveText(t *testing.T, body *atomic.Value) (string, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/list" || r.URL.Query().Get("repo") != "epel-9" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body.Load().(string)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/list?repo=epel-9&arch=x86_64", &hits
}

// downURL is an http URL on which nothing listens.
func downURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/down/"
}

// mirrorSet is three mirrors of one repo: one down, one stale (an older
// repomd.xml), one current.
type mirrorSet struct {
	down                 string
	stale, good          *upstream
	ts                   int64 // the current repomd.xml's timestamp
	staleRepomd, current []byte
}

func newMirrorSet(t *testing.T) mirrorSet {
	stale := newUpstream(t, "alpha-1.0")
	stale.publish("--revision", "1700000000", "--set-timestamp-to-revision")
	good := newUpstream(t, "alpha-1.0", "beta-2.1")
	good.publish("--revision", "1700086400", "--set-timestamp-to-revision")
	return mirrorSet{down: downURL(t), stale: stale, good: good, ts: 1700086400,
		staleRepomd: stale.read(repomdPath), current: good.read(repomdPath)}
}

// TestSyncMetalink: of a metalink's three mirrors, the most preferred is
// down and the next stale; the sync reads the current one and names both
// refusals, in the result and the log. With no current mirror at all it
// fails, naming each.
func TestSyncMetalink(t *testing.T) {
	ms := newMirrorSet(t)
	var body atomic.Value
	list, _ := serveText(t, &body)

	tests := []struct {
		name    string
		xml     string
		refused []string // mentions, one per refused mirror, in order
		fails   string   // "" when the sync succeeds
		retry   bool
	}{
		{
			name:    "down, stale, current",
			xml:     metalinkXML(ms.current, nil, ms.ts, ms.down, ms.stale.URL(), ms.good.URL()),
			refused: []string{"connect: connection refused", "stale mirror: its repomd.xml's newest data is from 2023-11-14T22:13:20Z, older than the metalink"},
		},
		{
			name:    "stale as the metalink's alternate",
			xml:     metalinkXML(ms.current, ms.staleRepomd, ms.ts, ms.stale.URL(), ms.good.URL()),
			refused: []string{"stale mirror: it serves the older repomd.xml of 2023-11-14T22:13:20Z"},
		},
		{
			name:  "no current mirror",
			xml:   metalinkXML(ms.current, nil, ms.ts, ms.stale.URL(), ms.down),
			fails: "no usable mirror among the 2 tried from " + list, retry: true,
			refused: []string{"stale mirror", "connection refused"},
		},
		{
			name:    "every mirror stale",
			xml:     metalinkXML(ms.current, ms.staleRepomd, ms.ts, ms.stale.URL()),
			fails:   "stale mirror: it serves the older repomd.xml",
			refused: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body.Store(tt.xml)
			m, st := newTestMirror(t)
			logs := observed(m)
			res, err := m.Sync(t.Context(), Source{Repo: testRepo, Metalink: list}, nil)
			if tt.fails != "" {
				require.ErrorContains(t, err, tt.fails)
				require.Equal(t, tt.retry, IsRetryable(err))
				for _, mention := range tt.refused {
					require.ErrorContains(t, err, mention)
				}
				requireNoSnapshot(t, st)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 2, res.Snapshot.Packages)
			require.Equal(t, ms.good.URL(), res.Mirror)
			require.Equal(t, ms.good.URL(), res.Snapshot.Source)
			require.Len(t, res.Refused, len(tt.refused))
			warned := logs.FilterMessage("mirror refused").All()
			require.Len(t, warned, len(tt.refused))
			for i, mention := range tt.refused {
				require.ErrorContains(t, res.Refused[i].Err, mention)
				require.Equal(t, res.Refused[i].Mirror, warned[i].ContextMap()["mirror"])
			}
			require.Len(t, logs.FilterMessage("mirror chosen").FilterField(zap.String("mirror", ms.good.URL())).All(), 1)
		})
	}
}

// TestSyncMetalinkBesideURL: a url beside a metalink is tried first, and
// checked against the metalink like any mirror.
func TestSyncMetalinkBesideURL(t *testing.T) {
	ms := newMirrorSet(t)
	var body atomic.Value
	body.Store(metalinkXML(ms.current, nil, ms.ts, ms.good.URL()))
	list, _ := serveText(t, &body)
	m, _ := newTestMirror(t)
	res, err := m.Sync(t.Context(), Source{Repo: testRepo, URL: ms.stale.URL(), Metalink: list}, nil)
	require.NoError(t, err)
	require.Equal(t, ms.good.URL(), res.Mirror)
	require.Len(t, res.Refused, 1)
	require.Equal(t, ms.stale.URL(), res.Refused[0].Mirror)
	require.ErrorIs(t, res.Refused[0].Err, repo.ErrBadContent)
}

// TestSyncMirrorlist: a mirrorlist's mirrors are tried in order; one that
// lists a file or a mirror with user info is refused before any is read.
func TestSyncMirrorlist(t *testing.T) {
	good := newUpstream(t, "alpha-1.0")
	down := downURL(t)
	var body atomic.Value
	list, hits := serveText(t, &body)

	body.Store("# Rocky Linux mirrors\n\n" + down + "\n" + good.URL() + "\n")
	m, _ := newTestMirror(t)
	res, err := m.Sync(t.Context(), Source{Repo: testRepo, Mirrorlist: list}, nil)
	require.NoError(t, err)
	require.Equal(t, good.URL(), res.Mirror)
	require.Len(t, res.Refused, 1)
	require.Equal(t, down, res.Refused[0].Mirror)

	for _, hostile := range []string{"file:///etc/", "http://me:s3cret@m.example/"} {
		body.Store(good.URL() + "\n" + hostile + "\n")
		good.requests()
		m, st := newTestMirror(t)
		_, err := m.Sync(t.Context(), Source{Repo: testRepo, Mirrorlist: list}, nil)
		require.ErrorIs(t, err, repo.ErrBadContent)
		require.ErrorContains(t, err, "mirrorlist")
		require.NotContains(t, err.Error(), "s3cret")
		require.Empty(t, good.requests())
		requireNoSnapshot(t, st)
	}

	// A mirrorlist that is down leaves the repo's url.
	before := hits.Load()
	body.Store("")
	m, _ = newTestMirror(t)
	res, err = m.Sync(t.Context(), Source{Repo: testRepo, URL: good.URL(), Mirrorlist: list}, nil)
	require.NoError(t, err)
	require.Equal(t, good.URL(), res.Mirror)
	require.Greater(t, hits.Load(), before)
}

// TestMirrorsKeepTheHostsPolicy: a metalink's mirrors may redirect to one
// another, as they are this repo's mirrors, but not to any other host; and
// another repo gains nothing from them.
func TestMirrorsKeepTheHostsPolicy(t *testing.T) {
	ms := newMirrorSet(t)
	other, otherHits := otherHost(t, ms.good) // 127.0.0.2, serves the current tree
	otherURL := other.URL + "/"
	var body atomic.Value
	list, _ := serveText(t, &body)
	redirectTo := func(u *upstream, to *string) {
		u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasPrefix(r.URL.Path, "/Packages/") {
				return false
			}
			http.Redirect(w, r, strings.TrimSuffix(*to, "/")+r.URL.Path, http.StatusFound)
			return true
		})
	}
	var target string
	redirectTo(ms.good, &target)

	// to a mirror of the metalink: followed
	body.Store(metalinkXML(ms.current, nil, ms.ts, ms.good.URL(), otherURL))
	target = otherURL
	m, _ := newTestMirror(t)
	_, err := m.Sync(t.Context(), Source{Repo: testRepo, Metalink: list}, nil)
	require.NoError(t, err)
	require.Positive(t, otherHits.Load())

	// to a host the metalink does not list: refused
	otherHits.Store(0)
	body.Store(metalinkXML(ms.current, nil, ms.ts, ms.good.URL()))
	m, st := newTestMirror(t)
	_, err = m.Sync(t.Context(), Source{Repo: testRepo, Metalink: list}, nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.ErrorContains(t, err, "redirect refused")
	require.Zero(t, otherHits.Load())
	requireNoSnapshot(t, st)

	// another repo, read from its url, redirected to that metalink's
	// mirror: refused, while the metalink repo syncs alongside.
	plain := newUpstream(t, "gamma-0.3")
	target = otherURL
	redirectTo(plain, &target)
	body.Store(metalinkXML(ms.current, nil, ms.ts, ms.good.URL(), otherURL))
	m, _ = newTestMirror(t)
	_, err = m.Sync(t.Context(), Source{Repo: testRepo, Metalink: list}, nil)
	require.NoError(t, err)
	otherHits.Store(0)
	_, err = m.Sync(t.Context(), Source{Repo: "other", URL: plain.URL()}, nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.ErrorContains(t, err, "add 127.0.0.2 to the repo's allowRedirectHosts")
	require.Zero(t, otherHits.Load())
}

func TestParseMetalink(t *testing.T) {
	raw := []byte("<repomd/>")
	good := metalinkXML(raw, nil, 1700000000, "https://b.example/epel/", "http://a.example/epel/")
	tests := []struct {
		name, xml string
		mirrors   []string
		skipped   int
		err       string
	}{
		{name: "by preference", xml: good, mirrors: []string{"https://b.example/epel/", "http://a.example/epel/"}},
		{name: "rsync, file and user info skipped",
			xml:     metalinkXML(raw, nil, 1, "rsync://r.example/epel/", "file:///etc/", "https://u:p@c.example/x/", "https://d.example/x/"),
			mirrors: []string{"https://d.example/x/"}, skipped: 3},
		{name: "only rsync", xml: metalinkXML(raw, nil, 1, "rsync://r.example/epel/"), err: "lists no http or https mirror"},
		{name: "not XML", xml: "http://a.example/\n", err: "not a metalink"},
		{name: "no repomd.xml", xml: strings.Replace(good, `name="repomd.xml"`, `name="other"`, 1), err: "describes no repomd.xml"},
		{name: "weak hashes only", xml: regexpReplace(good, `<hash type="sha(256|512)">[0-9a-f]+</hash>`, ""), err: "no sha256 or sha512"},
		{name: "short hash", xml: regexpReplace(good, `(<hash type="sha256">)[0-9a-f]+`, "${1}abcd"), err: `sha256 "abcd" is not a sha256 hash`},
		{name: "bad size", xml: strings.Replace(good, "<size>9</size>", "<size>-9</size>", 1), err: `size "-9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ml, err := parseMetalink("https://mm.example/metalink", []byte(tt.xml))
			if tt.err != "" {
				require.ErrorIs(t, err, rpmmd.ErrMalformed)
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.mirrors, ml.Mirrors)
			require.Len(t, ml.Skipped, tt.skipped)
			require.True(t, ml.Current.matches(raw))
			require.False(t, ml.Current.matches([]byte("<repomd />")))
		})
	}
}

func TestBadMirrorURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://m.example/epel/": "",
		"ftp://m.example/epel/":   `scheme "ftp"`,
		"/epel/":                  `scheme ""`,
		"https://u:p@m.example/":  "user info",
		"https://m.example/?a=b":  "no query",
	} {
		got := badMirrorURL(raw)
		if want == "" {
			require.Empty(t, got, raw)
		} else {
			require.Contains(t, got, want, raw)
		}
	}
}

func regexpReplace(s, re, repl string) string {
	return regexp.MustCompile(re).ReplaceAllString(s, repl)
}

// TestSyncMirrorlistSkipsAnOlderMirror: without a metalink, a mirror whose
// repomd.xml is older than the one last accepted is refused as such, and
// the next mirror read.
func TestSyncMirrorlistSkipsAnOlderMirror(t *testing.T) {
	ms := newMirrorSet(t)
	var body atomic.Value
	list, _ := serveText(t, &body)
	body.Store(ms.good.URL() + "\n")
	m, _ := newTestMirror(t)
	src := Source{Repo: testRepo, Mirrorlist: list}
	first, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)

	body.Store(ms.stale.URL() + "\n" + ms.good.URL() + "\n")
	again, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.Equal(t, first.Snapshot.ID, again.Snapshot.ID)
	require.Equal(t, ms.good.URL(), again.Mirror)
	require.Len(t, again.Refused, 1)
	require.Equal(t, ms.stale.URL(), again.Refused[0].Mirror)
	require.ErrorContains(t, again.Refused[0].Err, "revision 1700000000 is older than revision 1700086400")

	// Only the older mirror left: refused, not retried, nothing moves back.
	body.Store(ms.stale.URL() + "\n")
	_, err = m.Sync(t.Context(), src, nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.False(t, IsRetryable(err))
	last, err := m.Store.LastAccepted(testRepo)
	require.NoError(t, err)
	require.Equal(t, first.Snapshot.ID, last.Snapshot)
}

// TestSyncFallsBackOnFailedFiles: the mirror chosen serves the current
// repomd.xml but not its packages; the sync goes on from the next mirror
// that serves the very same repomd.xml, passing over one that serves
// another, and names both.
func TestSyncFallsBackOnFailedFiles(t *testing.T) {
	ms := newMirrorSet(t)
	ms.good.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/Packages/beta") {
			http.NotFound(w, r)
			return true
		}
		return false
	})
	second := httptest.NewServer(http.FileServer(http.Dir(ms.good.Dir)))
	t.Cleanup(second.Close)
	var body atomic.Value
	list, _ := serveText(t, &body)
	body.Store(ms.good.URL() + "\n" + ms.stale.URL() + "\n" + second.URL + "/\n")

	m, _ := newTestMirror(t)
	logs := observed(m)
	res, err := m.Sync(t.Context(), Source{Repo: testRepo, Mirrorlist: list}, nil)
	require.NoError(t, err)
	require.Equal(t, 2, res.Snapshot.Packages)
	require.Equal(t, second.URL+"/", res.Mirror)
	require.Len(t, res.Refused, 2)
	require.Equal(t, ms.good.URL(), res.Refused[0].Mirror)
	require.ErrorContains(t, res.Refused[0].Err, "could not fetch 1 file: GET "+ms.good.URL()+"Packages/beta-2.1-1.noarch.rpm: HTTP 404")
	require.Equal(t, ms.stale.URL(), res.Refused[1].Mirror)
	require.ErrorContains(t, res.Refused[1].Err, "serves another repomd.xml")
	require.Len(t, logs.FilterMessage("mirror failed; falling back to the next").All(), 1)

	// With no mirror left to fall back to, the file's failure is the sync's.
	body.Store(ms.good.URL() + "\n")
	m, st := newTestMirror(t)
	_, err = m.Sync(t.Context(), Source{Repo: testRepo, Mirrorlist: list}, nil)
	var fe *FilesError
	require.ErrorAs(t, err, &fe)
	require.True(t, IsRetryable(err))
	requireNoSnapshot(t, st)
}
