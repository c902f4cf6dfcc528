package mirror

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
)

const alphaRPM = "Packages/alpha-1.0-1.noarch.rpm"

func TestSyncRefusesBadContent(t *testing.T) {
	tests := []struct {
		name      string
		publish   []string // createrepo_c options
		limits    func(*rpmmd.Limits)
		spoil     func(u *upstream)
		malformed bool     // also rpmmd.ErrMalformed
		mentions  []string // besides the repo name
	}{
		{
			name: "package checksum mismatch",
			spoil: func(u *upstream) {
				data := u.read(alphaRPM)
				data[len(data)/2] ^= 0xff
				u.write(alphaRPM, data)
			},
			mentions: []string{alphaRPM, "checksum mismatch"},
		},
		{
			name: "truncated package",
			spoil: func(u *upstream) {
				data := u.read(alphaRPM)
				u.write(alphaRPM, data[:len(data)/2])
			},
			mentions: []string{alphaRPM, "metadata says"},
		},
		{
			name: "package longer than declared",
			spoil: func(u *upstream) {
				u.write(alphaRPM, append(u.read(alphaRPM), "trailing"...))
			},
			mentions: []string{alphaRPM, "metadata says"},
		},
		{
			name: "truncated metadata file",
			spoil: func(u *upstream) {
				href := u.data("filelists").Href
				data := u.read(href)
				u.write(href, data[:len(data)-10])
			},
			mentions: []string{"filelists.xml.gz", "metadata says"},
		},
		{
			name: "metadata checksum mismatch",
			spoil: func(u *upstream) {
				href := u.data("other").Href
				data := u.read(href)
				data[len(data)-1] ^= 0xff
				u.write(href, data)
			},
			mentions: []string{"other.xml.gz", "checksum mismatch"},
		},
		{
			name: "href leaving the repo",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string { return strings.Replace(x, `href="`+alphaRPM, `href="../../etc/passwd`, 1) })
			},
			malformed: true,
			mentions:  []string{"etc/passwd", "primary.xml.gz"},
		},
		{
			name: "absolute href",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string { return strings.Replace(x, `href="`+alphaRPM, `href="/etc/passwd`, 1) })
			},
			malformed: true,
			mentions:  []string{"/etc/passwd"},
		},
		{
			name: "xml:base to another host",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					return strings.Replace(x, `<location href=`, `<location xml:base="http://evil.example.com/" href=`, 1)
				})
			},
			malformed: true,
			mentions:  []string{"evil.example.com"},
		},
		{
			name: "metadata href leaving the repo",
			spoil: func(u *upstream) {
				md := string(u.read(repomdPath))
				u.write(repomdPath, []byte(strings.Replace(md, `<location href="repodata/`, `<location href="../`, 1)))
			},
			malformed: true,
			mentions:  []string{"repomd.xml"},
		},
		{
			name:      "md5 checksums only",
			publish:   []string{"--checksum", "md5", "--repomd-checksum", "md5"},
			malformed: true,
			mentions:  []string{"md5"},
		},
		{
			name:      "declared open size over the limit",
			limits:    func(l *rpmmd.Limits) { l.OpenBytes = 1 << 20 },
			spoil:     func(u *upstream) { u.editPrimary(bomb) },
			malformed: true,
			mentions:  []string{"repomd.xml", "open-size"},
		},
		{
			// Without a declared open-size, the configured limit stops it.
			name:   "decompression bomb without an open-size",
			limits: func(l *rpmmd.Limits) { l.OpenBytes = 1 << 20 },
			spoil: func(u *upstream) {
				u.editPrimary(bomb)
				u.write(repomdPath, regexp.MustCompile(`\s*<open-size>\d+</open-size>`).ReplaceAll(u.read(repomdPath), nil))
			},
			malformed: true,
			mentions:  []string{"primary.xml.gz is larger than the limit of 1048576 bytes"},
		},
		{
			name: "malformed primary XML",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string { return strings.Replace(x, "</name>", "</nam>", 1) })
			},
			malformed: true,
			mentions:  []string{"primary.xml.gz"},
		},
		{
			name: "primary that is not gzip",
			spoil: func(u *upstream) {
				href := u.data("primary").Href
				junk := bytes.Repeat([]byte("not gzip "), 100)
				u.write(href, junk)
				u.fixRepomd("primary", junk, junk)
			},
			mentions: []string{"primary.xml.gz"},
		},
		{
			name: "open checksum mismatch",
			spoil: func(u *upstream) {
				d := u.data("primary")
				open := gunzip(t, u.read(d.Href))
				u.fixRepomd("primary", u.read(d.Href), append(open, ' '))
			},
			mentions: []string{"primary.xml.gz", "open sha256"},
		},
		{
			name: "malformed repomd.xml",
			spoil: func(u *upstream) {
				u.write(repomdPath, []byte("<repomd><data type=\"primary\">"))
			},
			malformed: true,
			mentions:  []string{"repomd.xml"},
		},
		{
			// Older repomd.xml files omit <size>; without it a file has no bound.
			name: "repomd.xml without sizes",
			spoil: func(u *upstream) {
				u.write(repomdPath, regexp.MustCompile(`\s*<size>\d+</size>`).ReplaceAll(u.read(repomdPath), nil))
			},
			malformed: true,
			mentions:  []string{"repomd.xml", "size"},
		},
		{
			name:      "oversized repomd.xml",
			limits:    func(l *rpmmd.Limits) { l.RepomdBytes = 100 },
			malformed: true,
			mentions:  []string{"repomd.xml"},
		},
		{
			name:      "oversized package",
			limits:    func(l *rpmmd.Limits) { l.PackageBytes = 1000 },
			malformed: true,
			mentions:  []string{alphaRPM},
		},
		{
			// No limit is set: repomd.xml's own open-size, verified by the
			// checksum chain, caps the decompression. It keeps declaring
			// primary's small original open size.
			name: "decompression bomb past the declared open-size",
			spoil: func(u *upstream) {
				d := u.data("primary")
				open := gunzip(t, u.read(d.Href))
				u.editPrimary(bomb)
				u.fixRepomd("primary", u.read(d.Href), open)
			},
			malformed: true,
			mentions:  []string{"primary.xml.gz", "declared open-size", "larger than the limit of"},
		},
		{
			name: "href with a bidi override",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					return strings.Replace(x, `href="`+alphaRPM, `href="Packages/alpha`+"\u202e"+`mp r.rpm`, 1)
				})
			},
			malformed: true,
			mentions:  []string{"U+202E"},
		},
		{
			name: "href with a C1 control character",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					return strings.Replace(x, `href="`+alphaRPM, `href="Packages/alpha`+"\u0085"+`.rpm`, 1)
				})
			},
			malformed: true,
			mentions:  []string{"U+0085"},
		},
		{
			name: "href with a percent escape",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					return strings.Replace(x, `href="`+alphaRPM, `href="Packages/%2e%2e/%2e%2e/osflow-pwned.rpm`, 1)
				})
			},
			malformed: true,
			mentions:  []string{`"%"`},
		},
		{
			name: "href with a zero-width space",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					return strings.Replace(x, `href="`+alphaRPM, `href="Packages/al`+"\u200b"+`pha.rpm`, 1)
				})
			},
			malformed: true,
			mentions:  []string{"U+200B"},
		},
		{
			// The server serves it; the store's file system could not.
			name: "file name too long",
			spoil: func(u *upstream) {
				long := "Packages/" + strings.Repeat("a", 300) + ".rpm"
				u.editPrimary(func(x string) string { return strings.Replace(x, `href="`+alphaRPM, `href="`+long, 1) })
				data := u.read(alphaRPM)
				u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path != "/"+long {
						return false
					}
					w.Write(data)
					return true
				})
			},
			malformed: true,
			mentions:  []string{"name of 304 bytes"},
		},
		{
			name: "path that is a file and a directory",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					return strings.Replace(x, `href="Packages/beta-2.1-1.noarch.rpm`, `href="`+alphaRPM+`/beta.rpm`, 1)
				})
			},
			malformed: true,
			mentions:  []string{alphaRPM + "/beta.rpm", "is a file"},
		},
		{
			// One file cannot be two packages: the twin lies about what
			// dnf installs from it.
			name: "same href and checksum under two NEVRAs",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					pkg := regexp.MustCompile(`(?s)<package type="rpm">.*?</package>\n`).FindString(x)
					twin := regexp.MustCompile(`ver="[^"]*"`).ReplaceAllString(pkg, `ver="9.9"`)
					return strings.Replace(x, pkg, pkg+twin, 1)
				})
			},
			malformed: true,
			mentions:  []string{alphaRPM, "listed twice, as alpha-1.0-1.noarch and as alpha-9.9-1.noarch"},
		},
		{
			// repomd.xml declares 1024 bytes and a bogus open checksum; the
			// file inflates to 8 MiB and is stopped at byte 1025.
			name: "updateinfo bomb past its declared open-size",
			spoil: func(u *upstream) {
				u.addMetadata("updateinfo", "updateinfo.xml", []byte(updateinfoXML))
				d := u.data("updateinfo")
				gz := gzipped(t, []byte(bomb("<updates><package "+updateinfoXML)))
				u.write(d.Href, gz)
				u.fixRepomd("updateinfo", gz, bytes.Repeat([]byte("x"), 1024))
			},
			malformed: true,
			mentions:  []string{"updateinfo metadata", "updateinfo.xml.gz (its declared open-size) is larger than the limit of 1024 bytes", "/repodata/"},
		},
		{
			name: "updateinfo open checksum mismatch",
			spoil: func(u *upstream) {
				u.addMetadata("updateinfo", "updateinfo.xml", []byte(updateinfoXML))
				d := u.data("updateinfo")
				open := gunzip(t, u.read(d.Href))
				u.fixRepomd("updateinfo", u.read(d.Href), bytes.ToUpper(open))
			},
			mentions: []string{"updateinfo.xml.gz: updateinfo metadata: open sha256 checksum mismatch"},
		},
		{
			name: "comps smaller than its declared open-size",
			spoil: func(u *upstream) {
				u.addMetadata("group", "comps.xml", []byte(compsXML))
				d := u.data("group")
				md := string(u.read(repomdPath))
				u.write(repomdPath, []byte(strings.Replace(md, fmt.Sprintf("<open-size>%d</open-size>", d.OpenSize),
					fmt.Sprintf("<open-size>%d</open-size>", d.OpenSize+1), 1)))
			},
			mentions: []string{"comps.xml", "open size is"},
		},
		{
			// Without an open-size, the configured limit stops it.
			name:   "filelists bomb without an open-size",
			limits: func(l *rpmmd.Limits) { l.OpenBytes = 1 << 20 },
			spoil: func(u *upstream) {
				d := u.data("filelists")
				gz := gzipped(t, []byte(bomb("<filelists><package "+"/>")))
				u.write(d.Href, gz)
				u.fixRepomd("filelists", gz, nil)
				block := regexp.MustCompile(`(?s)<data type="filelists">.*?</data>`)
				md := u.read(repomdPath)
				u.write(repomdPath, block.ReplaceAllFunc(md, func(b []byte) []byte {
					return regexp.MustCompile(`\s*<open-(size|checksum)[^<]*</open-(size|checksum)>`).ReplaceAll(b, nil)
				}))
			},
			malformed: true,
			mentions:  []string{"filelists metadata", "filelists.xml.gz is larger than the limit of 1048576 bytes"},
		},
		{
			name: "same href twice with different checksums",
			spoil: func(u *upstream) {
				u.editPrimary(func(x string) string {
					pkg := regexp.MustCompile(`(?s)<package type="rpm">.*?</package>\n`).FindString(x)
					twin := regexp.MustCompile(`pkgid="YES">[0-9a-f]+`).ReplaceAllString(pkg, `pkgid="YES">`+strings.Repeat("ab", 32))
					return strings.Replace(x, pkg, pkg+twin, 1)
				})
			},
			malformed: true,
			mentions:  []string{alphaRPM, "twice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0", "beta-2.1")
			if tt.publish != nil {
				u.publish(tt.publish...)
			}
			if tt.spoil != nil {
				tt.spoil(u)
			}
			m, st := newTestMirror(t)
			if tt.limits != nil {
				tt.limits(&m.Limits)
			}
			_, err := m.Sync(t.Context(), source(u), nil)
			t.Log(err)
			require.ErrorIs(t, err, repo.ErrBadContent)
			if tt.malformed {
				require.ErrorIs(t, err, rpmmd.ErrMalformed)
			}
			require.False(t, IsRetryable(err))
			for _, s := range append(tt.mentions, "mirror "+testRepo) {
				require.Contains(t, err.Error(), s)
			}
			requireNoSnapshot(t, st)
		})
	}
}

// bomb pads primary.xml with 8 MiB of blanks, which gzip shrinks to a few KiB.
func bomb(xml string) string {
	return strings.Replace(xml, "<package ", "<!--"+strings.Repeat(" ", 8<<20)+"-->\n<package ", 1)
}

const updateinfoXML = `<?xml version="1.0" encoding="UTF-8"?>
<updates><update from="test" status="final" type="security" version="1"><id>TEST-2026:1</id><title>alpha fix</title></update></updates>
`

const compsXML = `<?xml version="1.0" encoding="UTF-8"?>
<comps><group><id>hpc</id><name>HPC</name><packagelist><packagereq>alpha</packagereq></packagelist></group></comps>
`

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return gz.Bytes()
}

func gunzip(t *testing.T, data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = out.ReadFrom(zr)
	require.NoError(t, err)
	return out.Bytes()
}

func TestSyncSignature(t *testing.T) {
	key := newSigner(t)
	tests := []struct {
		name    string
		prepare func(u *upstream)
		require bool
		wantErr bool
	}{
		{name: "signed", prepare: key.sign, require: true},
		{
			name: "tampered repomd.xml",
			prepare: func(u *upstream) {
				key.sign(u)
				u.write(repomdPath, append(u.read(repomdPath), '\n'))
			},
			wantErr: true,
		},
		{name: "unsigned, signature required", prepare: func(*upstream) {}, require: true, wantErr: true},
		{name: "unsigned, signature optional", prepare: func(*upstream) {}},
		{
			name: "signed by another key",
			prepare: func(u *upstream) {
				newSigner(t).sign(u)
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0")
			tt.prepare(u)
			m, st := newTestMirror(t)
			src := source(u)
			src.Keyring, src.RequireSignature = key.Keyring, tt.require
			res, err := m.Sync(t.Context(), src, nil)
			if tt.wantErr {
				require.ErrorIs(t, err, repo.ErrBadContent)
				require.ErrorIs(t, err, rpmmd.ErrSignature)
				require.Contains(t, err.Error(), repomdPath)
				require.False(t, IsRetryable(err))
				requireNoSnapshot(t, st)
				return
			}
			require.NoError(t, err)
			// The signature, when upstream has one, is kept next to
			// repomd.xml, and so is the configured key.
			want := treeOf(t, u.Dir)
			key, err := armoredKeyring(key.Keyring)
			require.NoError(t, err)
			want[keyPath] = string(key)
			require.Equal(t, want, treeOf(t, snapshotDir(st, res.Snapshot)))
		})
	}
}

// TestSyncRefusesHostileHrefLateInPrimary covers a bad entry that arrives
// while the packages listed before it are already downloading: the sync
// must fail as bad content, stop those downloads and commit nothing.
func TestSyncRefusesHostileHrefLateInPrimary(t *testing.T) {
	u := newUpstream(t, "alpha-1.0", "beta-2.1", "gamma-0.3", "delta-4.0", "epsilon-5.0")
	u.editPrimary(func(x string) string {
		i := strings.LastIndex(x, `<location href="`)
		return x[:i] + strings.Replace(x[i:], `href="`, `href="../../etc/passwd#`, 1)
	})
	// Package downloads hang until the sync gives up on them.
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/Packages/") {
			return false
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
			t.Errorf("download of %s was not cancelled", r.URL.Path)
		}
		return true
	})
	m, st := newTestMirror(t)
	_, err := m.Sync(t.Context(), source(u), nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.ErrorIs(t, err, rpmmd.ErrMalformed)
	require.ErrorContains(t, err, "etc/passwd")
	requireNoSnapshot(t, st)
}

// flapping makes u answer 503 to failRate of requests and cut the
// connection mid-body of resetRate more, drawing from a seeded source so
// that a run is repeatable. It counts the failures it caused, and the
// complete 200 answers per path.
type flapping struct {
	mu       sync.Mutex
	rnd      *rand.Rand
	failures int
	complete map[string]int
}

func flap(t *testing.T, u *upstream, failRate, resetRate float64) *flapping {
	fl := &flapping{rnd: rand.New(rand.NewPCG(9, 0)), complete: map[string]int{}}
	files := http.FileServer(http.Dir(u.Dir))
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		fl.mu.Lock()
		p := fl.rnd.Float64()
		fail := p < failRate+resetRate
		if fail {
			fl.failures++
		}
		fl.mu.Unlock()
		switch {
		case p < failRate:
			http.Error(w, "try again", http.StatusServiceUnavailable)
		case p < failRate+resetRate:
			data, err := os.ReadFile(u.path(strings.TrimPrefix(r.URL.Path, "/")))
			require.NoError(t, err)
			resetMidBody(t, w, data)
		default:
			cw := &countingWriter{ResponseWriter: w}
			files.ServeHTTP(cw, r)
			if info, err := os.Stat(u.path(strings.TrimPrefix(r.URL.Path, "/"))); err == nil && cw.n == info.Size() {
				fl.mu.Lock()
				fl.complete[r.URL.Path]++
				fl.mu.Unlock()
			}
		}
		return true
	})
	return fl
}

// resetMidBody announces data whole, sends half of it and resets the
// connection.
func resetMidBody(t *testing.T, w http.ResponseWriter, data []byte) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	require.NoError(t, err)
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(data))
	buf.Write(data[:len(data)/2])
	buf.Flush()
	conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
	conn.Close()
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

var flappingPackages = []string{"alpha-1.0", "beta-2.1", "gamma-0.3", "delta-4.0", "epsilon-5.0", "zeta-1.0", "eta-1.0", "theta-1.0"}

// TestSyncThroughFlappingUpstream covers a mirror that answers 503 to 30 %
// of requests and resets 5 % of connections mid-body: each file is
// retried on its own, the sync completes, no stored file is downloaded
// twice, and the result counts every retry and every file.
func TestSyncThroughFlappingUpstream(t *testing.T) {
	u := newUpstream(t, flappingPackages...)
	fl := flap(t, u, 0.30, 0.05)
	m, st := newTestMirror(t)
	res, err := m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)

	tree := treeOf(t, snapshotDir(st, res.Snapshot))
	require.Equal(t, treeOf(t, u.Dir), tree)
	fl.mu.Lock()
	for p := range tree {
		require.Equal(t, 1, fl.complete["/"+p], "complete downloads of %s", p)
	}
	require.Positive(t, fl.failures)
	require.Equal(t, fl.failures, res.Retries, "every failure cost one retry")
	fl.mu.Unlock()
	require.Equal(t, len(tree)-1, res.Downloaded, "every file but repomd.xml counted")
	require.Equal(t, len(flappingPackages), res.Snapshot.Packages)

	// Unchanged: repomd.xml, as often as the flapping takes, and nothing else.
	again, err := m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)
	require.Equal(t, res.Snapshot.ID, again.Snapshot.ID)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for p, n := range fl.complete {
		want := 1
		if p == "/"+repomdPath {
			want = 2
		}
		require.Equal(t, want, n, "complete downloads of %s", p)
	}
}

// TestSyncResumedCountsEveryAttempt covers a sync whose first attempt
// died part way: the second resumes from the pool, and its counts start
// from what the first reported.
func TestSyncResumedCountsEveryAttempt(t *testing.T) {
	u := newUpstream(t, flappingPackages...)
	m, st := newTestMirror(t)
	m.Concurrency = 1
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var last Progress
	_, err := m.Sync(ctx, source(u), func(p Progress) {
		last = p
		if p.Downloaded >= 3 {
			cancel() // the worker dies
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	require.GreaterOrEqual(t, last.Downloaded, 3)
	var missing []string
	for _, p := range flappingPackages {
		name := p + "-1.noarch.rpm"
		if !st.PoolHas(repo.Checksum{Algo: "sha256", Hex: sha256Hex(u.read("Packages/" + name))}, -1) {
			missing = append(missing, name)
		}
	}
	u.restart()

	src := source(u)
	src.Prior = last.Counts
	res, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	tree := treeOf(t, snapshotDir(st, res.Snapshot))
	require.Equal(t, len(tree)-1, res.Downloaded, "files fetched by both attempts")
	var stored int64
	for p, data := range tree {
		if p != repomdPath {
			stored += int64(len(data))
		}
	}
	require.Equal(t, stored, res.DownloadedBytes)
	slices.Sort(missing)
	require.Equal(t, missing, packageRequests(u.requests()), "the second attempt fetched only what the first had not")
}

func TestSyncErrorBudget(t *testing.T) {
	u := newUpstream(t, "alpha-1.0", "beta-2.1", "gamma-0.3")
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/Packages/") {
			return false
		}
		http.Error(w, "down", http.StatusBadGateway)
		return true
	})
	m, st := newTestMirror(t)
	m.Retry.Budget = 5
	_, err := m.Sync(t.Context(), source(u), nil)
	require.ErrorIs(t, err, ErrUpstreamFailing)
	require.False(t, IsRetryable(err))
	require.ErrorContains(t, err, "more than the 14 allowed for 9 files") // 5 + 6 metadata files + 3 packages
	require.ErrorContains(t, err, "HTTP 502")
	require.ErrorContains(t, err, "Packages/")
	requireNoSnapshot(t, st)

	// Retries spent by earlier attempts of the sync count too.
	u.setIntercept(nil)
	src := source(u)
	src.Prior.Retries = 1000
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/"+alphaRPM {
			return false
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	_, err = m.Sync(t.Context(), src, nil)
	require.ErrorIs(t, err, ErrUpstreamFailing)
}

// TestSyncHonoursRetryAfter covers a 429 that says when to come back.
func TestSyncHonoursRetryAfter(t *testing.T) {
	u := newUpstream(t, "alpha-1.0")
	var mu sync.Mutex
	var asked []time.Time
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/"+alphaRPM {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, time.Now())
		if len(asked) > 1 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return true
	})
	m, _ := newTestMirror(t)
	res, err := m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Retries)
	require.Len(t, asked, 2)
	require.GreaterOrEqual(t, asked[1].Sub(asked[0]), time.Second)

	// A server that asks for more than MaxRetryAfter gives the file up for
	// this attempt of the sync; the next one retries it.
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/"+alphaRPM {
			return false
		}
		w.Header().Set("Retry-After", "3600")
		http.Error(w, "come back tomorrow", http.StatusServiceUnavailable)
		return true
	})
	m, _ = newTestMirror(t)
	_, err = m.Sync(t.Context(), source(u), nil)
	require.ErrorContains(t, err, "asks to retry after 1h0m0s")
	require.True(t, IsRetryable(err))
}

// TestSyncFetchesTheRestPastAMissingFile covers a mirror caught mid-update:
// a 404 fails the sync (to be retried), but only after every other file
// reached the pool, and the error names the missing one.
func TestSyncFetchesTheRestPastAMissingFile(t *testing.T) {
	u := newUpstream(t, "alpha-1.0", "beta-2.1", "gamma-0.3", "delta-4.0")
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/"+alphaRPM {
			return false
		}
		http.NotFound(w, r)
		return true
	})
	m, st := newTestMirror(t)
	m.Concurrency = 1
	_, err := m.Sync(t.Context(), source(u), nil)
	var fe *FilesError
	require.ErrorAs(t, err, &fe)
	require.True(t, IsRetryable(err))
	require.ErrorContains(t, err, "could not fetch 1 file: GET "+u.URL()+alphaRPM+": HTTP 404")
	for _, p := range []string{"beta-2.1", "gamma-0.3", "delta-4.0"} {
		c := repo.Checksum{Algo: "sha256", Hex: sha256Hex(u.read("Packages/" + p + "-1.noarch.rpm"))}
		require.True(t, st.PoolHas(c, -1), "%s was not fetched past the missing file", p)
	}
	requireNoSnapshot(t, st)
}

// otherHost serves a copy of u's tree on 127.0.0.2: another host of the
// loopback network, as a compromised upstream's redirect would name.
func otherHost(t *testing.T, u *upstream) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.FileServer(http.Dir(u.Dir)).ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestSyncRedirects(t *testing.T) {
	tests := []struct {
		name string
		// to is where a package request is redirected, given the upstream
		// and the other host.
		to          func(u *upstream, other string, path string) string
		allow       func(other *url.URL) []string
		refused     string // "" if followed
		otherServes bool
	}{
		{name: "same host", to: func(u *upstream, _, p string) string { return "/mirror" + p }},
		{name: "another host", to: func(_ *upstream, other, p string) string { return other + p },
			refused: "add 127.0.0.2 to the repo's allowRedirectHosts"},
		{name: "another host the site trusts", to: func(_ *upstream, other, p string) string { return other + p },
			allow: func(o *url.URL) []string { return []string{"mirror.example", o.Hostname()} }, otherServes: true},
		{name: "another port of the host the site trusts by host:port", to: func(_ *upstream, other, p string) string { return other + p },
			allow: func(o *url.URL) []string { return []string{o.Host} }, otherServes: true},
		{name: "another port than the trusted one", to: func(_ *upstream, other, p string) string { return other + p },
			allow: func(o *url.URL) []string { return []string{o.Hostname() + ":1"} }, refused: "allowRedirectHosts"},
		{name: "file URL", to: func(u *upstream, _, p string) string { return "file://" + u.Dir + p },
			allow: func(o *url.URL) []string { return []string{"localhost", ""} }, refused: `scheme "file"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0")
			other, hits := otherHost(t, u)
			var redirected atomic.Int32
			u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				if p, ok := strings.CutPrefix(r.URL.Path, "/mirror"); ok {
					r.URL.Path = p
					return false
				}
				if !strings.HasPrefix(r.URL.Path, "/Packages/") {
					return false
				}
				redirected.Add(1)
				http.Redirect(w, r, tt.to(u, other.URL, r.URL.Path), http.StatusFound)
				return true
			})
			m, st := newTestMirror(t)
			core, logs := observer.New(zap.InfoLevel)
			m.Logger = zap.New(core)
			src := source(u)
			if tt.allow != nil {
				ou, err := url.Parse(other.URL)
				require.NoError(t, err)
				src.AllowRedirectHosts = tt.allow(ou)
			}
			_, err := m.Sync(t.Context(), src, nil)
			if tt.refused != "" {
				require.ErrorIs(t, err, repo.ErrBadContent)
				require.False(t, IsRetryable(err))
				require.ErrorContains(t, err, "redirect refused: from "+u.URL()+alphaRPM+" to ")
				require.ErrorContains(t, err, tt.refused)
				require.Zero(t, hits.Load(), "the other host was asked")
				require.Equal(t, int32(1), redirected.Load(), "a refused redirect was retried")
				requireNoSnapshot(t, st)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.otherServes, hits.Load() > 0)
			followed := logs.FilterMessage("following redirect").All()
			require.Len(t, followed, 1)
			require.Equal(t, u.URL()+alphaRPM, followed[0].ContextMap()["from"])
			require.Equal(t, tt.to(u, other.URL, "/"+alphaRPM), strings.TrimPrefix(followed[0].ContextMap()["to"].(string), strings.TrimSuffix(u.URL(), "/")))
		})
	}
}

// TestSyncRefusesOlderUpstream covers a mirror that replays an older,
// validly signed repomd.xml (a rollback or freeze attack): refused with
// both revisions named, unless the operator allows it, which is recorded.
func TestSyncRefusesOlderUpstream(t *testing.T) {
	key := newSigner(t)
	u := newUpstream(t, "alpha-1.0")
	u.publish("--revision", "1700000000", "--set-timestamp-to-revision")
	key.sign(u)
	old := t.TempDir()
	runCmd(t, "", "cp", "-a", u.path("repodata"), old)

	m, st := newTestMirror(t)
	src := source(u)
	src.Keyring, src.RequireSignature = key.Keyring, true
	first, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)

	u.add("beta-2.1")
	u.publish("--revision", "1700086400", "--set-timestamp-to-revision")
	key.sign(u)
	second, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	require.NotEqual(t, first.Snapshot.ID, second.Snapshot.ID)

	// The mirror serves the first index again, signature and all.
	require.NoError(t, os.RemoveAll(u.path("repodata")))
	runCmd(t, "", "cp", "-a", filepath.Join(old, "repodata"), u.Dir)
	_, err = m.Sync(t.Context(), src, nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.False(t, IsRetryable(err))
	require.ErrorContains(t, err, "revision 1700000000 is older than revision 1700086400")
	require.ErrorContains(t, err, "snapshot "+second.Snapshot.ID)
	require.ErrorContains(t, err, "osflow sync --allow-older "+testRepo)
	last, err := st.LastAccepted(testRepo)
	require.NoError(t, err)
	require.Equal(t, repo.Accepted{Time: last.Time, Snapshot: second.Snapshot.ID, Revision: "1700086400", Timestamp: 1700086400}, last)

	// The operator accepts it once; it is recorded, and stands after.
	allow := src
	allow.AllowOlder = true
	back, err := m.Sync(t.Context(), allow, nil)
	require.NoError(t, err)
	require.Equal(t, first.Snapshot.ID, back.Snapshot.ID)
	last, err = st.LastAccepted(testRepo)
	require.NoError(t, err)
	require.Equal(t, first.Snapshot.ID, last.Snapshot)
	require.True(t, last.AllowedOlder)
	require.Contains(t, last.Note, "revision 1700000000 is older than revision 1700086400")
	_, err = m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
}

// TestGeneratedMetadataHasNoFreshness: an overlay's revision is a hash of
// its content, so a grown overlay may carry a lower one; osflow made that
// metadata itself, so it is accepted, and not as an operator's exception.
func TestGeneratedMetadataHasNoFreshness(t *testing.T) {
	u := newUpstream(t, "alpha-1.0")
	u.publish("--revision", "1700086400", "--set-timestamp-to-revision")
	m, st := newTestMirror(t)
	src := source(u)
	src.Generated = true
	_, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	u.add("beta-2.1")
	u.publish("--revision", "1700000000", "--set-timestamp-to-revision")
	grown, err := m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
	last, err := st.LastAccepted(testRepo)
	require.NoError(t, err)
	require.Equal(t, grown.Snapshot.ID, last.Snapshot)
	require.False(t, last.AllowedOlder)

	src.Generated = false
	u.add("gamma-1.0")
	u.publish("--revision", "1690000000", "--set-timestamp-to-revision")
	_, err = m.Sync(t.Context(), src, nil)
	require.ErrorContains(t, err, "is older than revision 1700000000", "an upstream's metadata is still checked")
}

func TestSyncRefusesFrozenUpstream(t *testing.T) {
	const rev = 1700000000
	u := newUpstream(t, "alpha-1.0")
	u.publish("--revision", strconv.Itoa(rev), "--set-timestamp-to-revision")
	m, st := newTestMirror(t)
	src := source(u)
	src.MaxAge = 24 * time.Hour
	m.now = func() time.Time { return time.Unix(rev, 0).Add(49 * time.Hour) }
	_, err := m.Sync(t.Context(), src, nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.False(t, IsRetryable(err))
	require.ErrorContains(t, err, "49h0m0s old, older than the repo's maxAge of 24h0m0s")
	requireNoSnapshot(t, st)

	m.now = func() time.Time { return time.Unix(rev, 0).Add(23 * time.Hour) }
	_, err = m.Sync(t.Context(), src, nil)
	require.NoError(t, err)
}

func TestOlder(t *testing.T) {
	last := repo.Accepted{Revision: "1700000100", Timestamp: 1700000100}
	tests := []struct {
		rev  string
		ts   int64
		want string // "" if not older
	}{
		{"1700000100", 1700000100, ""},
		{"1700000200", 1700000200, ""},
		{"1700000099", 1700000100, "revision 1700000099 is older than revision 1700000100"},
		{"999", 1700000200, "revision 999 is older"},
		{"01700000100", 1700000100, ""},
		{"1700000100", 1700000000, "its newest data is from 2023-11-14T22:13:20Z, the accepted one's from 2023-11-14T22:15:00Z"},
		{"8.6", 1700000000, "its newest data is from"},
		{"8.6", 1700000200, ""}, // not a number, newer data
		{"", 0, ""},             // nothing to compare
	}
	for _, tt := range tests {
		t.Run(tt.rev, func(t *testing.T) {
			got := older(tt.rev, tt.ts, last)
			if tt.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tt.want)
		})
	}
}

// syncWithin runs a sync that must end by itself, however the upstream
// holds it, and returns its error.
func syncWithin(t *testing.T, m *Mirror, src Source) error {
	done := make(chan error, 1)
	go func() {
		_, err := m.Sync(t.Context(), src, nil)
		done <- err
	}()
	var err error
	require.Eventually(t, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	}, 60*time.Second, 10*time.Millisecond, "the sync is held by the upstream")
	return err
}

// TestSyncCutsOffTrickle covers a server that sends a byte now and then
// to hold a sync for ever: below the minimum speed it is cut off, retried,
// and the sync fails naming the file.
func TestSyncCutsOffTrickle(t *testing.T) {
	u := newUpstream(t, "alpha-1.0", "beta-2.1")
	size := len(u.read(alphaRPM))
	u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/"+alphaRPM {
			return false
		}
		trickle(size, 20*time.Millisecond)(w, r)
		return true
	})
	m, st := newTestMirror(t)
	m.MinSpeed = MinSpeed{BytesPerSecond: 1 << 10, Window: 200 * time.Millisecond}
	m.Retry.Attempts = 2
	err := syncWithin(t, m, source(u))
	var fe *FilesError
	require.ErrorAs(t, err, &fe)
	require.ErrorIs(t, err, errTooSlow)
	require.True(t, IsRetryable(err))
	require.ErrorContains(t, err, alphaRPM+": slower than the minimum speed of 1KiB/s over 200ms")
	requireNoSnapshot(t, st)
}

// TestSyncRefusesSpecialFiles covers a file:// upstream holding what is
// not a regular file inside the repo: each is bad content, at once.
func TestSyncRefusesSpecialFiles(t *testing.T) {
	tests := []struct {
		name     string
		plant    func(t *testing.T, target string)
		mentions string
	}{
		{"FIFO", func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o644)) }, "not a regular file but a FIFO"},
		{"symlink out of the repo", func(t *testing.T, p string) {
			secret := filepath.Join(t.TempDir(), "secret")
			require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))
			require.NoError(t, os.Symlink(secret, p))
		}, "leaves the repo directory"},
		{"socket", func(t *testing.T, p string) {
			ln, err := net.Listen("unix", p)
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
		}, "socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0", "beta-2.1")
			target := u.path(alphaRPM)
			require.NoError(t, os.Remove(target))
			tt.plant(t, target)
			m, st := newTestMirror(t)
			src := source(u)
			src.URL = "file://" + u.Dir
			err := syncWithin(t, m, src)
			require.ErrorIs(t, err, repo.ErrBadContent)
			require.False(t, IsRetryable(err))
			require.ErrorContains(t, err, alphaRPM)
			require.ErrorContains(t, err, tt.mentions)
			requireNoSnapshot(t, st)
		})
	}
}

// TestDownloadLimitSpansRepos covers many repos syncing at once through
// one worker: together they never run more downloads than its limit, each
// repo's own concurrency notwithstanding.
func TestDownloadLimitSpansRepos(t *testing.T) {
	var active, most atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/Packages/") {
			return false
		}
		n := active.Add(1)
		defer active.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond) // a slow server, so that downloads overlap
		return false
	}
	var ups []*upstream
	for range 3 {
		u := newUpstream(t, "alpha-1.0", "beta-2.1", "gamma-0.3", "delta-4.0")
		u.setIntercept(slow)
		ups = append(ups, u)
	}
	m, st := newTestMirror(t)
	m.Concurrency = 4
	m.Downloads = NewLimit(2)
	var g sync.WaitGroup
	errs := make([]error, len(ups))
	for i, u := range ups {
		g.Go(func() {
			src := source(u)
			src.Repo = fmt.Sprintf("repo%d", i)
			_, errs[i] = m.Sync(t.Context(), src, nil)
		})
	}
	g.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, int32(2), most.Load())
	for i := range ups {
		snaps, err := st.Snapshots(fmt.Sprintf("repo%d", i))
		require.NoError(t, err)
		require.Len(t, snaps, 1)
	}
}

// TestSyncRefusesOlderUpstreamAfterUpgrade covers a store whose snapshots
// predate the log of accepted indexes: the newest snapshot stands in.
func TestSyncRefusesOlderUpstreamAfterUpgrade(t *testing.T) {
	u := newUpstream(t, "alpha-1.0")
	u.publish("--revision", "1700000000", "--set-timestamp-to-revision")
	old := t.TempDir()
	runCmd(t, "", "cp", "-a", u.path("repodata"), old)
	m, st := newTestMirror(t)
	_, err := m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)
	u.add("beta-2.1")
	u.publish("--revision", "1700086400", "--set-timestamp-to-revision")
	_, err = m.Sync(t.Context(), source(u), nil)
	require.NoError(t, err)
	require.NoError(t, os.Remove(filepath.Join(st.Root(), "snapshots", testRepo+".accepted.log")))

	require.NoError(t, os.RemoveAll(u.path("repodata")))
	runCmd(t, "", "cp", "-a", filepath.Join(old, "repodata"), u.Dir)
	_, err = m.Sync(t.Context(), source(u), nil)
	require.ErrorIs(t, err, repo.ErrBadContent)
	require.ErrorContains(t, err, "revision 1700000000 is older than revision 1700086400")
}

// TestSyncPermanentFailuresAreNotRetried: a redirect loop on the repo's
// own host and an oversized response header are the upstream's content:
// one chain of requests, no retry, the URL named.
func TestSyncPermanentFailuresAreNotRetried(t *testing.T) {
	tests := []struct {
		name     string
		serve    func(w http.ResponseWriter, r *http.Request)
		requests int32
		mentions string
	}{
		{name: "redirect loop", requests: maxRedirects, mentions: "stopped after 10 redirects",
			serve: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path, http.StatusFound) }},
		{name: "oversized response header", requests: 1, mentions: "server response headers exceeded",
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Padding", strings.Repeat("a", maxResponseHeader))
				w.WriteHeader(http.StatusOK)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, "alpha-1.0")
			var hits atomic.Int32
			u.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/"+alphaRPM {
					return false
				}
				hits.Add(1)
				tt.serve(w, r)
				return true
			})
			m, st := newTestMirror(t)
			_, err := m.Sync(t.Context(), source(u), nil)
			require.ErrorIs(t, err, repo.ErrBadContent)
			require.False(t, IsRetryable(err))
			require.ErrorContains(t, err, "mirror "+testRepo+": bad repository content: "+u.URL()+alphaRPM)
			require.ErrorContains(t, err, tt.mentions)
			require.Equal(t, tt.requests, hits.Load(), "retried")
			requireNoSnapshot(t, st)
		})
	}
}

// TestSyncNamesTheURLNoOneAnswers: a server that accepts connections and
// never answers fails the sync before its caller's deadline, naming the
// URL it waited for, instead of being cut off by the deadline unnamed.
func TestSyncNamesTheURLNoOneAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	m, st := newTestMirror(t)
	url := "http://" + ln.Addr().String() + "/el9/"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = m.Sync(ctx, Source{Repo: testRepo, URL: url}, nil)
	require.NoError(t, ctx.Err(), "the sync ran to its caller's deadline")
	require.ErrorIs(t, err, ErrSyncTimeout)
	require.False(t, IsRetryable(err))
	require.ErrorContains(t, err, "mirror "+testRepo+": "+url+"repodata/repomd.xml: the sync's time (sync.timeout) ran out")
	requireNoSnapshot(t, st)
}
