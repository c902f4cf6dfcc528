package mirror

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
			name:   "decompression bomb",
			limits: func(l *rpmmd.Limits) { l.OpenBytes = 1 << 20 },
			spoil: func(u *upstream) {
				// repomd.xml keeps declaring primary's small original open size.
				d := u.data("primary")
				open := gunzip(t, u.read(d.Href))
				u.editPrimary(bomb)
				u.fixRepomd("primary", u.read(d.Href), open)
			},
			malformed: true,
			mentions:  []string{"primary.xml.gz"},
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
			// The signature, when upstream has one, is kept next to repomd.xml.
			require.Equal(t, treeOf(t, u.Dir), treeOf(t, snapshotDir(st, res.Snapshot)))
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
